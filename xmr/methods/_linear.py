"""Shared pieces of the closed-form / iterative linear baselines (GMA, LCFS, JFSSL).

* :class:`LinearCrossModal` -- the scikit-learn estimator shell every one of them uses
  (a :class:`sklearn.base.BaseEstimator`): the hyperparameters are the ``__init__``
  arguments, stored under their own names and nothing else (so ``get_params``,
  ``set_params`` and :func:`sklearn.base.clone` work, and the registry reads a method's
  defaults from the signature); they are validated in ``fit`` (``_check_params``);
  learned state ends in ``_``. ``fit`` does the input checks and optional centring,
  ``transform`` is ``(image - mean) @ W_image``, ``(text - mean) @ W_text`` and raises
  :class:`sklearn.exceptions.NotFittedError` before ``fit``.
* :func:`check_views` -- the input checks (2-D, finite, same rows, integer 0-based labels).
* :func:`check_side` / :func:`check_fitted` -- the checks of ``transform``.
* :func:`one_hot` -- the 0/1 label matrix ``Y`` (n x c) the regression methods target.
* :func:`l21_weights` / :func:`smoothed_l21` -- the half-quadratic (iteratively
  reweighted) form of the l2,1 norm used by LCFS and JFSSL.

The module name starts with ``_`` so the registry's discovery does not import it
as a method.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "LinearCrossModal", "check_views", "check_side", "check_fitted", "check_positive_int",
    "check_number", "one_hot", "l21_weights", "smoothed_l21",
]


def check_views(image: Any, text: Any, labels: Any | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate paired views (and labels); return float64 copies and int64 labels.

    Raises ``ValueError`` / ``TypeError`` naming what is wrong and how to fix it.
    """
    out = []
    for name, arr in (("image", image), ("text", text)):
        a = np.asarray(arr)
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (items x features), got shape {a.shape}")
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {a.shape})")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).any(axis=1).sum())
            raise ValueError(f"{name} has NaN or infinite values in {bad} rows; impute or drop those rows first")
        out.append(a)
    x_img, x_txt = out
    if x_img.shape[0] != x_txt.shape[0]:
        raise ValueError(
            f"image and text must be paired row by row, got {x_img.shape[0]} image rows and {x_txt.shape[0]} text rows"
        )
    if labels is None:
        return x_img, x_txt, None
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class index per pair), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(
            f"labels must be integer class indices 0..C-1, got dtype {y.dtype}; convert with labels.astype(np.int64)"
        )
    if len(y) != x_img.shape[0]:
        raise ValueError(f"labels has {len(y)} entries but there are {x_img.shape[0]} pairs")
    if y.min() < 0:
        raise ValueError(f"labels must be 0-based class indices, got a negative label {int(y.min())}")
    if len(np.unique(y)) < 2:
        raise ValueError("labels must contain at least two classes to learn a supervised subspace")
    return x_img, x_txt, y.astype(np.int64)


def one_hot(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """0/1 label matrix ``Y`` (n x c), ``Y[i, labels[i]] = 1``."""
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    y = np.zeros((len(labels), c))
    y[np.arange(len(labels)), labels] = 1.0
    return y


def l21_weights(w: np.ndarray, eps: float) -> np.ndarray:
    """Half-quadratic weights ``1 / (2 sqrt(||w_i||^2 + eps))`` of the rows of ``w``.

    With them ``sum_i sqrt(||u_i||^2 + eps) <= sum_i r_i ||u_i||^2 + const`` with
    equality at ``u = w`` (the square root is concave in ``||u_i||^2``), so a
    minimisation step on the weighted quadratic never increases the smoothed
    l2,1 objective (Nie et al., NIPS 2010; the reweighting used by LCFS and JFSSL).
    """
    return 1.0 / (2.0 * np.sqrt((w * w).sum(axis=1) + eps))


def smoothed_l21(w: np.ndarray, eps: float = 0.0) -> float:
    """``sum_i sqrt(||w_i||^2 + eps)``; the l2,1 norm when ``eps == 0``."""
    return float(np.sqrt((w * w).sum(axis=1) + eps).sum())


def check_side(x: Any, name: str, w: np.ndarray) -> np.ndarray:
    """One view given to ``transform``: 2-D, finite, with as many features as ``w`` has rows."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"{name} must be 2-D with {w.shape[0]} features (as in fit), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return a


def check_fitted(est: BaseEstimator, attribute: str) -> None:
    """Raise :class:`sklearn.exceptions.NotFittedError` unless ``est`` has the learned ``attribute``."""
    check_is_fitted(est, attribute, msg=(
        "This %(name)s instance is not fitted yet: call fit(image, text, labels) before transform"))


def check_positive_int(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    """``value`` is a (non-negative with ``allow_zero``) integer, or ``None`` with ``allow_none``.

    Integral floats (``10.0``) are accepted, as the methods take ``int(value)``; booleans are not.
    """
    if value is None and allow_none:
        return
    lowest = 0 if allow_zero else 1
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not np.isfinite(value) or int(value) != value or value < lowest:
        kind = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"{name} must be {kind}{' or None' if allow_none else ''}, got {value!r}")


def check_number(name: str, value: Any, *, positive: bool = False, allow_none: bool = False) -> None:
    """``value`` is a real number ``>= 0`` (``> 0`` with ``positive``), or ``None`` with ``allow_none``."""
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not (value > 0 if positive else value >= 0) or not np.isfinite(value):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}{' or None' if allow_none else ''}, got {value!r}")


class LinearCrossModal(BaseEstimator):
    """Base of the linear baselines: ``fit`` learns ``W_image_``, ``W_text_``, ``mean_image_``, ``mean_text_``.

    Subclasses declare their hyperparameters as keyword arguments of ``__init__`` (which
    only stores them), check them in :meth:`_check_params`, and solve in :meth:`_fit`.
    """

    #: the retrieval distance of the common space (read by the engine)
    metric: ClassVar[str] = "cosine"

    def _check_params(self) -> None:  # subclasses check ranges; called first thing in fit
        pass

    def _centers(self) -> bool:
        """Whether ``fit`` centres both views on their training means (the ``center`` hyperparameter)."""
        if not isinstance(self.center, (bool, np.bool_)):
            raise ValueError(f"center must be True or False, got {self.center!r}")
        return bool(self.center)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray) -> "LinearCrossModal":
        self._check_params()
        x_img, x_txt, y = check_views(image, text, labels)
        if self._centers():
            self.mean_image_, self.mean_text_ = x_img.mean(0), x_txt.mean(0)
        else:
            self.mean_image_, self.mean_text_ = np.zeros(x_img.shape[1]), np.zeros(x_txt.shape[1])
        self.num_classes_ = int(y.max()) + 1
        self.W_image_, self.W_text_ = self._fit(x_img - self.mean_image_, x_txt - self.mean_text_, y)
        return self

    def _fit(self, x_img: np.ndarray, x_txt: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def transform(self, image: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project both views into the common space (rows stay paired only if the inputs were)."""
        check_fitted(self, "W_image_")
        x_img, x_txt = check_side(image, "image", self.W_image_), check_side(text, "text", self.W_text_)
        return (x_img - self.mean_image_) @ self.W_image_, (x_txt - self.mean_text_) @ self.W_text_

    def fit_transform(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``fit(image, text, labels).transform(image, text)``."""
        return self.fit(image, text, labels).transform(image, text)
