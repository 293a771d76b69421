"""CCA (closed form and scikit-learn) against independent checks of what CCA is."""

from __future__ import annotations

import numpy as np
import pytest

from xmr.methods import get
from xmr.methods.cca import CCA


def correlated(n=400, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    x = np.c_[z[:, 0] + 0.1 * rng.normal(size=n), z[:, 1] + 1.0 * rng.normal(size=n), rng.normal(size=(n, 3))]
    y = np.c_[2 * z[:, 0] + 0.1 * rng.normal(size=n), -z[:, 1] + 1.0 * rng.normal(size=n), rng.normal(size=n)]
    return x @ rng.normal(size=(5, 5)), y @ rng.normal(size=(3, 3))  # mix the coordinates


def test_registered_with_10_components():
    spec = get("cca")
    assert spec.kind == "closed_form" and spec.defaults["n_components"] == 10


def test_exact_linear_relation_gives_correlation_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = x @ rng.normal(size=(3, 3))
    m = CCA(n_components=3, reg=0.0).fit(x, y)
    assert np.allclose(m.correlations_, 1.0, atol=1e-6)
    zx, zy = m.transform(x, y)
    assert np.allclose(zx, zy, atol=1e-4)


def test_projections_are_canonical():
    x, y = correlated()
    m = CCA(n_components=3, reg=0.0).fit(x, y)
    zx, zy = m.transform(x, y)
    # within a view: uncorrelated unit-variance components; across views: diagonal = canonical correlations
    assert np.allclose(np.cov(zx.T), np.eye(3), atol=1e-8)
    assert np.allclose(np.cov(zy.T), np.eye(3), atol=1e-8)
    cross = (zx - zx.mean(0)).T @ (zy - zy.mean(0)) / (len(x) - 1)
    assert np.allclose(cross, np.diag(m.correlations_), atol=1e-8)
    # independent reference: largest canonical correlation = max singular value of Cxx^-1/2 Cxy Cyy^-1/2 via scipy
    from scipy.linalg import sqrtm

    xc, yc = x - x.mean(0), y - y.mean(0)
    cxx, cyy, cxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    s = np.linalg.svd(np.linalg.inv(sqrtm(cxx)).real @ cxy @ np.linalg.inv(sqrtm(cyy)).real, compute_uv=False)
    assert np.allclose(m.correlations_, s[:3], atol=1e-8)
    assert m.correlations_[0] > 0.99 and m.correlations_[1] > 0.3 and m.correlations_[2] < 0.2


def test_sklearn_solver_agrees_on_the_leading_component():
    x, y = correlated()
    zx, zy = CCA(n_components=1, solver="sklearn").fit(x, y).transform(x, y)
    wx, wy = CCA(n_components=1, reg=0.0).fit(x, y).transform(x, y)
    assert abs(np.corrcoef(zx[:, 0], wx[:, 0])[0, 1]) > 0.999
    assert abs(np.corrcoef(zy[:, 0], wy[:, 0])[0, 1]) > 0.999


def test_components_capped_and_bad_options_rejected():
    x, y = correlated()
    assert CCA(n_components=10).fit(x, y).transform(x, y)[1].shape[1] == 3
    with pytest.raises(ValueError, match="solver"):
        CCA(solver="nipals").fit(x, y)  # hyperparameters are checked in fit (scikit-learn convention)
    with pytest.raises(ValueError, match="paired row by row"):
        CCA().fit(x, y[:-1])
    with pytest.raises(ValueError, match="features"):
        CCA().fit(x, y).transform(x[:, :-1], y)
