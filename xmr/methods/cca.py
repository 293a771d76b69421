"""CCA: canonical correlation analysis (Hotelling 1936; Rasiwasia et al. 2010 on Wikipedia).

The unsupervised closed-form reference point of every chapter (DACSL Tables 1-2
list it). Labels are ignored. Fitted on train + val (no model selection).

``solver="closed_form"`` (default)
    Regularised CCA in closed form: centre both views, whiten each with
    (C_xx + r I)^(-1/2), where r = ``reg`` times the mean eigenvalue of C_xx, and
    take the top singular vectors of the whitened cross-covariance. Chosen as the
    default because it is exact and deterministic, and because Wikipedia's text
    features are LDA posteriors that sum to 1 -- their covariance is singular, which
    the ridge ``reg`` handles and iterative solvers handle poorly.
``solver="sklearn"``
    scikit-learn's iterative ``CCA`` (NIPALS, features standardised first), for
    comparison with other reproductions that used it.

``n_components`` (default 10, as the issue and the conventional Wikipedia
baselines use; capped at the smaller view's dimension). The projections are
compared with cosine similarity, like every other method.

``solver``, ``reg`` and ``n_components`` are declared in ``CCA.readings`` (the
table on the fidelity page); none is chosen on data.

:class:`CCA` is a scikit-learn estimator (:class:`sklearn.base.BaseEstimator`): the
hyperparameters are its ``__init__`` arguments (the registry's defaults come from that
signature), checked in ``fit``; learned state ends in ``_`` (``W_image_``, ``W_text_``,
``mean_image_``, ``mean_text_``, ``correlations_``; ``sk_cca_`` with ``solver="sklearn"``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from ._linear import check_fitted, check_number, check_positive_int, check_side, check_views
from .readings import Reading
from .registry import register

__all__ = ["CCA"]


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


@register("cca", kind="closed_form")
class CCA(BaseEstimator):
    """CCA (Hotelling): the unsupervised linear subspace of maximal image-text correlation."""

    #: the retrieval distance of the common space (read by the engine)
    metric = "cosine"
    readings = (
        Reading("solver", "CCA: the top singular vectors of the whitened cross-covariance; how to solve it is free",
                "closed_form", ("sklearn",), "a priori",
                "Exact and deterministic; Wikipedia's LDA text features sum to 1, a singular covariance that the "
                "ridge handles and iterative solvers handle poorly.", literal="closed_form"),
        Reading("reg", "plain CCA: no regulariser", 1e-3, (0.0, 1e-2), "a priori",
                "A small ridge relative to the mean eigenvalue makes the singular covariance of sum-to-one LDA "
                "features invertible.", literal=0.0),
        Reading("n_components", "the common space's dimension; not fixed by CCA", 10, (5, 20), "a priori",
                "The conventional Wikipedia baselines' 10; the 10-d LDA text view allows no more.", literal=None),
    )

    def __init__(self, n_components: int = 10, reg: float = 1e-3, solver: str = "closed_form") -> None:
        self.n_components = n_components
        self.reg = reg
        self.solver = solver

    def _check_params(self) -> None:
        if self.solver not in ("closed_form", "sklearn"):
            raise ValueError(f"CCA solver must be 'closed_form' or 'sklearn', got {self.solver!r}")
        check_positive_int("n_components", self.n_components)
        check_number("reg", self.reg)

    def fit(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray | None = None) -> "CCA":
        """Fit on paired rows of ``image`` and ``text``; ``labels`` are ignored (CCA is unsupervised)."""
        self._check_params()
        x, y, _ = check_views(image, text)
        k = min(int(self.n_components), x.shape[1], y.shape[1])
        for stale in ("sk_cca_", "mean_image_", "mean_text_", "W_image_", "W_text_", "correlations_"):
            vars(self).pop(stale, None)  # a refit with the other solver leaves nothing behind
        if self.solver == "sklearn":
            from sklearn.cross_decomposition import CCA as SkCCA

            self.sk_cca_ = SkCCA(n_components=k, max_iter=1000).fit(x, y)
            return self
        self.mean_image_, self.mean_text_ = x.mean(0), y.mean(0)
        xc, yc = x - self.mean_image_, y - self.mean_text_
        n = len(x) - 1
        cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
        reg = float(self.reg)
        rx = reg * np.trace(cxx) / len(cxx)
        ry = reg * np.trace(cyy) / len(cyy)
        wx, wy = _inv_sqrt(cxx + rx * np.eye(len(cxx))), _inv_sqrt(cyy + ry * np.eye(len(cyy)))
        u, s, vt = np.linalg.svd(wx @ cxy @ wy)
        self.W_image_, self.W_text_ = wx @ u[:, :k], wy @ vt[:k].T
        self.correlations_ = s[:k]
        return self

    def transform(self, image: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project both views into the canonical space (rows stay paired only if the inputs were)."""
        if getattr(self, "sk_cca_", None) is not None:  # fitted with solver="sklearn"
            x, y = np.asarray(image, np.float64), np.asarray(text, np.float64)
            return self.sk_cca_.transform(x, y)
        check_fitted(self, "W_image_")
        x, y = check_side(image, "image", self.W_image_), check_side(text, "text", self.W_text_)
        return (x - self.mean_image_) @ self.W_image_, (y - self.mean_text_) @ self.W_text_

    def fit_transform(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``fit(image, text).transform(image, text)``."""
        return self.fit(image, text, labels).transform(image, text)
