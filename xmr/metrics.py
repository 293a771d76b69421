"""Retrieval metrics with the convention of both papers and of the reference code.

For each query the whole gallery is ranked by distance (cosine by default, or
Euclidean); ties keep gallery order (a stable sort), so results never depend on
the sorting algorithm. Scores are computed in float64 and compared at a
resolution of 2**-40 of their scale (about 1e-12, far below the precision of
float32 features), so that mathematically tied items -- duplicates, collinear
vectors -- are ordered by gallery index however the matrix product rounds, and
chunking does not change a result. Known limitation: two tied products that round
to either side of a boundary of that grid are split (about 3 in 100,000 tied pairs
of collinear vectors; it moved an AP by about 5e-9, and once made chunks of 3 rows
differ on another machine's BLAS); ``tests/test_metrics.py`` holds the failing case
for the fix. A gallery item is relevant when it has the query's label.

Average precision at ``k`` (DACSL Eq. 5, SMCR's mAP@k) is the mean of the
precision at each relevant rank within the top ``k`` -- i.e. normalised by the
number of relevant items *found* in the top ``k`` (the DSCMR / ACMR evaluation
code), and 0 when none is found. ``k=None`` ranks the whole gallery, which gives
the usual AP over all relevant items. mAP (DACSL Eq. 6) is the mean over queries.

Everything is vectorised and processed in chunks of queries, so memory stays
bounded for very large problems; inputs that are CUDA tensors are scored and ranked
on their GPU. On CPU each (key, gallery index, relevance) triple is packed into one
int64 and the packed values are sorted by numpy (a vectorised sort of plain
integers), which is several times faster than an index sort; the order is the same
by construction. The packing, sort and read-out go in cache-sized blocks of rows,
spread over torch's threads.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

__all__ = [
    "average_precision",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
]

Metric = Literal["cosine", "euclidean"]
ArrayLike = Any  # numpy array or torch tensor

# Bytes of working memory per chunk of queries (distances, ranks, relevance) at most.
_CHUNK_BYTES = 256 * 2**20
# Bytes of keys per chunk that the CPU ranking aims at: a smaller key buffer costs fewer page faults.
_CACHE_CHUNK_BYTES = 32 * 2**20
# Scores closer than 2**-40 of their scale count as tied (see module doc).
_RESOLUTION = 2.0**40
# Largest gallery for the packed-key CPU ranking (see _rank_rows).
_PACK_LIMIT = 2**20
# Bytes of int64 working memory per block of rows in the CPU ranking: fits in cache.
_BLOCK_BYTES = 2**20


def _as_tensor(x: ArrayLike, name: str, device: torch.device | None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device) if device is not None else t


def _prepare(query, gallery, query_labels, gallery_labels, metric):
    device = query.device if isinstance(query, torch.Tensor) else None
    q = _as_tensor(query, "query", device)
    g = _as_tensor(gallery, "gallery", device)
    ql = _as_tensor(query_labels, "query_labels", device)
    gl = _as_tensor(gallery_labels, "gallery_labels", device)
    if q.ndim != 2 or g.ndim != 2:
        raise ValueError(f"query and gallery must be 2-D (items x features), got shapes {tuple(q.shape)} and {tuple(g.shape)}")
    if q.shape[0] == 0 or g.shape[0] == 0:
        raise ValueError(f"empty input: {q.shape[0]} queries, {g.shape[0]} gallery items")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery features differ in dimension: {q.shape[1]} vs {g.shape[1]}")
    ql, gl = ql.reshape(-1) if ql.ndim > 1 and ql.shape[-1] == 1 else ql, gl.reshape(-1) if gl.ndim > 1 and gl.shape[-1] == 1 else gl
    if ql.ndim != 1 or ql.shape[0] != q.shape[0]:
        raise ValueError(f"query_labels must have one label per query ({q.shape[0]}), got shape {tuple(ql.shape)}")
    if gl.ndim != 1 or gl.shape[0] != g.shape[0]:
        raise ValueError(f"gallery_labels must have one label per gallery item ({g.shape[0]}), got shape {tuple(gl.shape)}")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    dtype = torch.float64
    q, g = q.to(dtype), g.to(dtype)
    for name, t in (("query", q), ("gallery", g)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} features contain NaN or infinite values")
    if metric == "cosine":
        # A zero vector has no direction: it gets similarity 0 to everything.
        q = q / q.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        g = g / g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
    return q, g, ql, gl


def _keys(q: torch.Tensor, g: torch.Tensor, metric: Metric, out: torch.Tensor | None = None) -> torch.Tensor:
    """Ranking keys (float64, chunk x gallery; smaller ranks first) at the resolution of the module doc."""
    if metric == "cosine":  # rows are unit vectors: |key| <= 2**40
        return torch.addmm(q.new_empty(()), q, g.T, beta=0, alpha=-_RESOLUTION, out=out)
    # squared Euclidean has the same order as Euclidean; key / scale <= 2
    qq, gg = (q * q).sum(1, keepdim=True), (g * g).sum(1)
    scale = (qq + gg.max()).clamp_min(1.0)
    return torch.addmm(gg, q, g.T, alpha=-2, out=out).add_(qq).mul_(_RESOLUTION / scale)


def _ranked(q: torch.Tensor, g: torch.Tensor, ql: torch.Tensor, gl: torch.Tensor, metric: Metric, k: int,
            chunk_size: int | None, *, average_precision: bool = False):
    """For each chunk of queries: the relevance (bool tensor, chunk x k) of the top-k gallery items,
    or with ``average_precision`` each query's average precision at ``k`` (float64 array)."""
    n_query, n = q.shape[0], g.shape[0]
    packs = q.device.type == "cpu" and n <= _PACK_LIMIT
    if chunk_size:
        step = chunk_size
    elif packs:  # only the float64 keys are chunk-sized; >= 512 rows keep the matrix product efficient
        step = min(_CHUNK_BYTES // (8 * n), max(512, _CACHE_CHUNK_BYTES // (8 * n)))
    else:  # keys, sort values and indices, relevance
        step = _CHUNK_BYTES // (32 * n)
    step = max(1, min(step, n_query))
    # one key buffer for every chunk: fresh pages cost a fault each (~10 % of the time at 4000²)
    buf = torch.empty(step, n, dtype=q.dtype, device=q.device)
    for start in range(0, n_query, step):
        sl = slice(start, min(start + step, n_query))
        key = _keys(q[sl], g, metric, out=buf[: sl.stop - start])
        if packs:
            ranked = _rank_rows(key.numpy(), ql[sl].numpy(), gl.numpy(), k, average_precision=average_precision)
            yield ranked if average_precision else torch.from_numpy(ranked)
            continue
        key.round_()
        order = torch.sort(key, dim=1, stable=True).indices[:, :k]
        rel = (gl[None, :] == ql[sl, None]).gather(1, order)
        # the read-out is cheap next to the ranking: one bool per item to the host, at most
        yield _bits_average_precision(rel.cpu().numpy()) if average_precision else rel


def _bits_average_precision(bits: np.ndarray) -> np.ndarray:
    """Average precision of each row of ranked relevance bits.

    Only the relevant ranks matter: the m-th relevant item at rank r adds precision m / r.
    """
    rows, cols = np.divmod(np.flatnonzero(bits), bits.shape[1])  # 2x faster than a 2-D nonzero
    found = np.bincount(rows, minlength=len(bits))
    m = np.arange(1, len(rows) + 1) - (np.cumsum(found) - found)[rows]
    return np.bincount(rows, weights=m / (cols + 1), minlength=len(bits)) / np.maximum(found, 1)


def _rank_rows(key: np.ndarray, ql: np.ndarray, gl: np.ndarray, k: int, *, average_precision: bool = False) -> np.ndarray:
    """CPU ranking: relevance (bool, rows x k) of each row's top-k items by (rounded key, gallery index).

    With ``average_precision`` it returns each row's average precision at ``k`` instead.
    ``key`` is float64 with |key| <= 2**41. Each item becomes one int64 ordered as
    (rounded key, gallery index) and carrying its relevance in the lowest bit (key * 2n fits
    for n <= 2**20); sorting these plain values (numpy's vectorised sort) is ~9x faster than
    torch's stable index sort. Rows go in blocks of about 1 MiB so that the rounding, packing,
    sort and read-out of a block stay in cache (several times faster than whole-chunk passes),
    the blocks split over torch's thread count (numpy releases the GIL).
    """
    rows, n = key.shape
    out = np.empty(rows) if average_precision else np.empty((rows, k), dtype=bool)
    index = np.arange(0, 2 * n, 2, dtype=np.int64)
    block = max(1, _BLOCK_BYTES // (8 * n))

    def work(lo: int, hi: int) -> None:
        buf = np.empty((min(block, hi - lo), n), dtype=np.int64)
        bits = np.empty((min(block, hi - lo), k), dtype=bool)
        for start in range(lo, hi, block):
            stop = min(start + block, hi)
            packed = buf[: stop - start]
            np.rint(key[start:stop], out=packed, casting="unsafe")
            packed *= 2 * n
            packed += index
            np.add(packed, gl[None, :] == ql[start:stop, None], out=packed, casting="unsafe")
            packed.sort(axis=1)
            # the lowest bit lives in the lowest byte (little-endian int64 in memory)
            dest = bits[: stop - start] if average_precision else out[start:stop]
            np.bitwise_and(packed.view(np.uint8)[:, : 8 * k : 8], 1, out=dest.view(np.uint8))
            if average_precision:
                out[start:stop] = _bits_average_precision(dest)

    threads = min(torch.get_num_threads(), -(-rows // block))
    if threads <= 1:
        work(0, rows)
    else:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, rows, threads + 1).astype(int)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, bounds[:-1], bounds[1:]))
    return out


def average_precision(
    query: ArrayLike,
    gallery: ArrayLike,
    query_labels: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    k: int | None = None,
    metric: Metric = "cosine",
    chunk_size: int | None = None,
) -> np.ndarray:
    """Per-query average precision within the top ``k`` (whole gallery when ``None``); see module doc."""
    q, g, ql, gl = _prepare(query, gallery, query_labels, gallery_labels, metric)
    kk = g.shape[0] if k is None else min(int(k), g.shape[0])
    if kk < 1:
        raise ValueError(f"k must be positive, got {k}")
    return np.concatenate(list(_ranked(q, g, ql, gl, metric, kk, chunk_size, average_precision=True)))


def mean_average_precision(
    query: ArrayLike,
    gallery: ArrayLike,
    query_labels: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    k: int | None = None,
    metric: Metric = "cosine",
    chunk_size: int | None = None,
) -> float:
    """mAP (DACSL Eqs. 5-6; SMCR's mAP@k): the mean of :func:`average_precision` over queries."""
    return float(
        average_precision(query, gallery, query_labels, gallery_labels, k=k, metric=metric, chunk_size=chunk_size).mean()
    )


def precision_at_k(
    query: ArrayLike,
    gallery: ArrayLike,
    query_labels: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    k: int,
    metric: Metric = "cosine",
    chunk_size: int | None = None,
) -> float:
    """Mean over queries of the fraction of relevant items among the top ``k`` (``k`` capped at the gallery size)."""
    q, g, ql, gl = _prepare(query, gallery, query_labels, gallery_labels, metric)
    kk = min(int(k), g.shape[0])
    if kk < 1:
        raise ValueError(f"k must be positive, got {k}")
    total = 0.0
    for rel in _ranked(q, g, ql, gl, metric, kk, chunk_size):
        total += float(rel.sum())
    return total / (q.shape[0] * kk)


def precision_recall_curve(
    query: ArrayLike,
    gallery: ArrayLike,
    query_labels: ArrayLike,
    gallery_labels: ArrayLike,
    *,
    recall_points: ArrayLike | None = None,
    interpolate: bool = True,
    metric: Metric = "cosine",
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision at fixed recall points, averaged over queries (the papers' PR figures).

    For each query, precision and recall are computed at every rank of the whole
    gallery. At each recall point r the query's precision is the highest precision
    at any rank with recall >= r (``interpolate=True``, the standard interpolated
    PR curve) or the precision at the first rank reaching recall r
    (``interpolate=False``). Queries with no relevant item are skipped.
    Returns ``(recall_points, mean_precision)``; default points 0, 0.05, ..., 1.
    """
    q, g, ql, gl = _prepare(query, gallery, query_labels, gallery_labels, metric)
    points = np.linspace(0.0, 1.0, 21) if recall_points is None else np.asarray(recall_points, dtype=np.float64)
    r_pts = torch.as_tensor(points, dtype=q.dtype, device=q.device)
    n = g.shape[0]
    ranks = torch.arange(1, n + 1, device=q.device, dtype=q.dtype)
    total = torch.zeros(len(points), dtype=q.dtype, device=q.device)
    counted = 0
    for rel in _ranked(q, g, ql, gl, metric, n, chunk_size):
        rel = rel.to(q.dtype)
        hits = rel.cumsum(1)
        n_rel = hits[:, -1:]
        keep = n_rel[:, 0] > 0
        hits, n_rel = hits[keep], n_rel[keep]
        precision = hits / ranks
        recall = hits / n_rel
        if interpolate:  # max precision at recall >= r  ==  suffix max over ranks
            precision = precision.flip(1).cummax(1).values.flip(1)
        # first rank whose recall reaches each point (recall is non-decreasing)
        first = torch.searchsorted(recall.contiguous(), r_pts.expand(len(recall), -1).contiguous() - 1e-12)
        total += precision.gather(1, first.clamp_max(n - 1)).sum(0)
        counted += int(keep.sum())
    if counted == 0:
        raise ValueError("no query has a relevant item in the gallery: the PR curve is undefined")
    return points, (total / counted).cpu().numpy()
