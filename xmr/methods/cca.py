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
"""

from __future__ import annotations

import numpy as np

from .readings import Reading
from .registry import register

__all__ = ["CCA"]


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


@register("cca", kind="closed_form")
class CCA:
    """CCA (Hotelling): the unsupervised linear subspace of maximal image-text correlation."""

    defaults = {"n_components": 10, "reg": 1e-3, "solver": "closed_form"}
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
        if solver not in ("closed_form", "sklearn"):
            raise ValueError(f"CCA solver must be 'closed_form' or 'sklearn', got {solver!r}")
        if int(n_components) < 1:
            raise ValueError(f"n_components must be positive, got {n_components}")
        if reg < 0:
            raise ValueError(f"reg must be non-negative, got {reg}")
        self.n_components, self.reg, self.solver = int(n_components), float(reg), solver

    def fit(self, image: np.ndarray, text: np.ndarray, labels: np.ndarray | None = None) -> "CCA":
        x, y = np.asarray(image, np.float64), np.asarray(text, np.float64)
        if len(x) != len(y):
            raise ValueError(f"image and text must have the same number of rows, got {len(x)} and {len(y)}")
        k = min(self.n_components, x.shape[1], y.shape[1])
        if self.solver == "sklearn":
            from sklearn.cross_decomposition import CCA as SkCCA

            self._sk = SkCCA(n_components=k, max_iter=1000).fit(x, y)
            return self
        self.mean_x_, self.mean_y_ = x.mean(0), y.mean(0)
        xc, yc = x - self.mean_x_, y - self.mean_y_
        n = len(x) - 1
        cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
        rx = self.reg * np.trace(cxx) / len(cxx)
        ry = self.reg * np.trace(cyy) / len(cyy)
        wx, wy = _inv_sqrt(cxx + rx * np.eye(len(cxx))), _inv_sqrt(cyy + ry * np.eye(len(cyy)))
        u, s, vt = np.linalg.svd(wx @ cxy @ wy)
        self.wx_, self.wy_ = wx @ u[:, :k], wy @ vt[:k].T
        self.correlations_ = s[:k]
        return self

    def transform(self, image: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.asarray(image, np.float64), np.asarray(text, np.float64)
        if self.solver == "sklearn":
            return self._sk.transform(x, y)
        if not hasattr(self, "wx_"):
            raise RuntimeError("CCA.transform called before fit")
        return (x - self.mean_x_) @ self.wx_, (y - self.mean_y_) @ self.wy_
