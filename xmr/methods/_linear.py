"""Shared pieces of the closed-form / iterative linear baselines (GMA, LCFS, JFSSL).

* :class:`LinearCrossModal` -- the scikit-learn-style shell every one of them uses:
  hyperparameter validation against ``defaults``, input checks, optional
  centring, and ``transform`` as ``(image - mean) @ W_image``, ``(text - mean) @ W_text``.
* :func:`check_views` -- the input checks (2-D, finite, same rows, integer 0-based labels).
* :func:`one_hot` -- the 0/1 label matrix ``Y`` (n x c) the regression methods target.
* :func:`l21_weights` / :func:`smoothed_l21` -- the half-quadratic (iteratively
  reweighted) form of the l2,1 norm used by LCFS and JFSSL.

The module name starts with ``_`` so the registry's discovery does not import it
as a method.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

__all__ = ["LinearCrossModal", "check_views", "one_hot", "l21_weights", "smoothed_l21"]


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


class LinearCrossModal:
    """Base of the linear baselines: ``fit`` learns ``W_image_``, ``W_text_`` (and means when centring)."""

    defaults: ClassVar[dict[str, Any]] = {}
    #: centre both views on their training means when the class has no ``center`` hyperparameter
    always_center: ClassVar[bool] = False

    def __init__(self, **hparams: Any) -> None:
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no hyperparameter(s) {unknown}; valid names: {sorted(self.defaults)}"
            )
        self.hp: dict[str, Any] = {**self.defaults, **hparams}
        self._validate_hparams()

    def _validate_hparams(self) -> None:  # subclasses check ranges
        pass

    def get_params(self) -> dict[str, Any]:
        return dict(self.hp)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.hp.items() if self.defaults.get(k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray) -> "LinearCrossModal":
        x_img, x_txt, y = check_views(image, text, labels)
        if self.hp.get("center", self.always_center):
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
        if not hasattr(self, "W_image_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(image, text, labels) first")
        x_img, x_txt = self._check_side(image, "image", self.W_image_), self._check_side(text, "text", self.W_text_)
        return (x_img - self.mean_image_) @ self.W_image_, (x_txt - self.mean_text_) @ self.W_text_

    @staticmethod
    def _check_side(x: Any, name: str, w: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != w.shape[0]:
            raise ValueError(f"{name} must be 2-D with {w.shape[0]} features (as in fit), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has NaN or infinite values")
        return a
