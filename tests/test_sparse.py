"""Sparse input rows (xmr.engine.sparse): the first layer on the nonzeros equals the dense path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import xmr.data as xdata
from xmr.engine import resolve_hparams, train_deep
from xmr.engine.setup import normalised_splits, prepare
from xmr.engine.sparse import SparseRows, density
from xmr.methods import get


def _sparse_matrix(rng, n, d, nnz_per_row=3):
    x = np.zeros((n, d), np.float32)
    for i in range(n):
        x[i, rng.choice(d, nnz_per_row, replace=False)] = rng.integers(1, 4, nnz_per_row)
    return x


def _dataset(seed=0, n=90, c=3, d_txt=120):
    """Dense image features, bag-of-words-like text (2.5 % nonzeros) that depends on the class."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(c, 6))

    def split(m):
        y = np.arange(m) % c
        txt = _sparse_matrix(rng, m, d_txt)
        txt[np.arange(m), y] += 2.0  # one class word per pair
        return mu[y] + rng.normal(scale=1.0, size=(m, 6)), txt, y

    return xdata.from_arrays("bow", split(n), split(n // 3), split(n // 3))


@pytest.mark.parametrize("kind", ["none", "standardize", "l2"])
def test_linear_on_the_nonzeros_equals_the_dense_normalised_input(kind):
    ds = _dataset()
    dense = torch.from_numpy(normalised_splits(ds, kind)["val"].text)
    from xmr.engine.setup import sparse_rows

    rows = sparse_rows(ds, "val", "text", kind, torch.device("cpu"))
    torch.testing.assert_close(rows.dense(), dense, rtol=0, atol=1e-6)
    w = torch.randn(7, dense.shape[1], dtype=torch.float32, requires_grad=True)
    b = torch.randn(7, requires_grad=True)
    got = F.linear(rows, w, b)  # dispatched to SparseRows.linear
    want = F.linear(dense, w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    g_sparse = torch.autograd.grad(got.square().sum(), (w, b))
    w2, b2 = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    g_dense = torch.autograd.grad(F.linear(dense, w2, b2).square().sum(), (w2, b2))
    for a, e in zip(g_sparse, g_dense):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)


def test_rows_index_and_other_functions_see_the_dense_rows():
    ds = _dataset()
    from xmr.engine.setup import sparse_rows

    rows = sparse_rows(ds, "train", "text", "standardize", torch.device("cpu"))
    idx = torch.tensor([5, 0, 7])
    sub = rows[idx]
    assert isinstance(sub, SparseRows) and sub.shape == (3, rows.shape[1])
    torch.testing.assert_close(sub.dense(), rows.dense()[idx])
    torch.testing.assert_close(torch.cat([sub, sub]), torch.cat([rows.dense()[idx]] * 2))  # any other function: dense
    torch.testing.assert_close(F.mse_loss(sub, torch.zeros(3, rows.shape[1])), rows.dense()[idx].square().mean())
    assert sub.sum().item() == pytest.approx(rows.dense()[idx].sum().item(), abs=1e-4)


def test_sparse_true_takes_only_the_sparse_enough_modality_and_the_default_stays_dense():
    ds = _dataset()
    assert density(ds.train.text) < 0.05 < density(ds.train.image)
    spec = get("dscmr")
    hp = resolve_hparams(spec, {"epochs": 1, "hidden": 16, "dim": 8, "batch_size": 16})
    setup = prepare(spec, ds, hp, (), "cpu", sparse=True)
    assert isinstance(setup.train.text, SparseRows) and isinstance(setup.val.text, SparseRows)
    assert isinstance(setup.train.image, torch.Tensor)
    for default in (prepare(spec, ds, hp, (), "cpu"), prepare(spec, ds, hp, (), "cpu", sparse=False)):
        assert isinstance(default.train.text, torch.Tensor)


@pytest.mark.parametrize("name, extra", [("dscmr", {"hidden": 16, "dim": 8}), ("cmdn", {}), ("dacsl", {"hidden": 16, "dim": 8})])
def test_training_on_sparse_input_matches_the_dense_run(name, extra):
    """CMDN also reconstructs its text input: that loss sees the dense rows."""
    spec = get(name)
    ds = _dataset()
    hp = resolve_hparams(spec, {"epochs": 4, "batch_size": 16, "input_norm": "standardize", **extra})
    sparse, _ = train_deep(spec, ds, hp, seed=0, sparse=True)
    dense, _ = train_deep(spec, ds, hp, seed=0, sparse=False)
    for a, b in zip(sparse["history"], dense["history"]):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-3), (k, a["epoch"])
    assert sparse["avg"] == pytest.approx(dense["avg"], abs=1e-3)
