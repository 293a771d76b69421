"""Sparse input rows: the first layer computes on the nonzeros only, the normalisation folded into it.

The news set's 6500-d bag of words is about 99 % zeros, yet a dense first layer multiplies
every zero: one DSCMR run on it was the book's single largest item. :class:`SparseRows`
stands in for a split's normalised input tensor. ``F.linear`` (every ``nn.Linear``) on it
multiplies the sparse rows (CSR) by the weights, with the normalisation folded into them,
so the input never becomes dense:

* ``standardize``: x' = (x − μ) / σ, so W x' + b = (W / σ) x + (b − (W / σ) μ);
* ``l2``: x' = x / ‖x‖, so W x' + b = (W x) / ‖x‖ + b;
* ``none``: W x + b.

Any other torch function (a reconstruction loss, a concatenation ...) sees the dense
normalised rows, so every method runs unchanged. The products are summed in another order
than the dense path's, so results equal it within float tolerance, not bit for bit
(``tests/test_sparse.py``), as with another thread count; the choice is therefore not part
of a run's cache key.

Off by default, measured (``benchmarks/bench_sparse.py``, news BoW, 1 % nonzero, 1 thread):
DSCMR 0.7x and CMDN 0.9x the dense speed. The zeros' products are not what a step costs:
a batch of 100 news texts touches about 60 % of the 6500 vocabulary columns, so the first
layer's 2048 x 6500 weight gradient and its Adam update (13 M parameters, memory-bound) are
as large as on the dense path, and torch's CSR kernels on CPU are slower than the dense GEMM
they replace (which runs near the core's peak). ``sparse=True`` (``xmr.experiments.run``,
:func:`xmr.engine.train`) turns it on, e.g. for a larger vocabulary with a narrower first layer.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["SparseRows", "DENSITY_LIMIT", "density", "use_sparse"]

#: Above this fraction of nonzeros ``sparse=True`` is refused as pointless: a CSR product does
#: about 3 memory reads per nonzero against a dense GEMM's cache-blocked arithmetic.
DENSITY_LIMIT = 0.05


def density(x: np.ndarray) -> float:
    """Fraction of nonzero entries."""
    return float(np.count_nonzero(x)) / max(1, x.size)


def use_sparse(x: np.ndarray, sparse: bool | None, batched: bool) -> bool:
    """Whether training input ``x`` goes in as :class:`SparseRows`: with ``sparse=True`` where it is
    sparse enough (below :data:`DENSITY_LIMIT`) and the seeds are not batched (``vmap`` takes dense
    tensors only); ``None`` (the default) and ``False``: never (see the module docstring for why)."""
    return bool(sparse) and not batched and density(x) < DENSITY_LIMIT


class SparseRows:
    """The rows of a sparse matrix, normalised lazily (see the module docstring).

    ``raw`` is the unnormalised matrix (scipy CSR, kept on the host); ``mean`` and ``scale``
    (per column) standardise, ``row_norm`` (per row) l2-normalises; ``device`` is where the
    products happen.
    """

    def __init__(self, raw: Any, *, mean: np.ndarray | None = None, scale: np.ndarray | None = None,
                 row_norm: np.ndarray | None = None, device: torch.device | str = "cpu") -> None:
        import scipy.sparse as sp

        self.raw = sp.csr_matrix(raw, dtype=np.float32)
        self.mean, self.scale, self.row_norm = mean, scale, row_norm
        self.device = torch.device(device)
        self._dense: torch.Tensor | None = None
        self._csr: torch.Tensor | None = None

    # --- the tensor-like surface methods use
    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.raw.shape)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def __len__(self) -> int:
        return self.raw.shape[0]

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def __getitem__(self, idx: Any) -> "SparseRows":
        rows = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx
        return SparseRows(self.raw[rows], mean=self.mean, scale=self.scale,
                          row_norm=None if self.row_norm is None else self.row_norm[rows], device=self.device)

    def to(self, device: torch.device | str, *args: Any, **kwargs: Any) -> "SparseRows":
        return SparseRows(self.raw, mean=self.mean, scale=self.scale, row_norm=self.row_norm, device=device)

    def dense(self) -> torch.Tensor:
        """The normalised rows as a dense tensor (what the dense path feeds the network)."""
        if self._dense is None:
            x = self.raw.toarray().astype(np.float64)
            if self.mean is not None:
                x = (x - self.mean) / self.scale
            if self.row_norm is not None:
                x = x / self.row_norm[:, None]
            self._dense = torch.from_numpy(x.astype(np.float32)).to(self.device)
        return self._dense

    def __getattr__(self, name: str) -> Any:  # anything else: as the dense tensor would
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.dense(), name)

    # --- the first layer on the nonzeros
    def _torch_csr(self) -> torch.Tensor:
        if self._csr is None:
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are tested
                warnings.simplefilter("ignore", UserWarning)
                self._csr = torch.sparse_csr_tensor(
                    torch.from_numpy(self.raw.indptr.astype(np.int64)), torch.from_numpy(self.raw.indices.astype(np.int64)),
                    torch.from_numpy(self.raw.data), size=self.raw.shape, device=self.device)
        return self._csr

    def linear(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """``F.linear(normalised rows, weight, bias)``, computed on the nonzeros."""
        w = weight
        if self.scale is not None:
            w = w / torch.as_tensor(self.scale, dtype=w.dtype, device=w.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = torch.sparse.mm(self._torch_csr(), w.t())
        if self.mean is not None:
            out = out - w @ torch.as_tensor(self.mean, dtype=w.dtype, device=w.device)
        if self.row_norm is not None:
            out = out / torch.as_tensor(self.row_norm, dtype=out.dtype, device=out.device)[:, None]
        return out if bias is None else out + bias

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear and isinstance(args[0], SparseRows):
            return args[0].linear(*args[1:], **kwargs)

        def dense(v: Any) -> Any:
            if isinstance(v, SparseRows):
                return v.dense()
            if isinstance(v, (list, tuple)):
                return type(v)(dense(u) for u in v)
            return v

        return func(*dense(args), **{k: dense(v) for k, v in kwargs.items()})
