"""xmr.metrics against a per-query brute-force reference and hand-computed cases."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from xmr.metrics import average_precision, mean_average_precision, precision_at_k, precision_recall_curve


# ---------------------------------------------------------------- reference
def _distances(q: np.ndarray, g: np.ndarray, metric: str) -> list:
    """Sort keys of one query against the gallery, item by item (no shared code with xmr).

    Integer-valued inputs get exact rational keys, so ties are real ties:
    cosine is ordered by -sign(q.g) (q.g)^2 / (|q|^2 |g|^2), Euclidean by |q - g|^2.
    """
    exact = np.all(q == np.round(q)) and np.all(g == np.round(g))
    out = []
    for row in g:
        if exact:
            qi, gi = [int(v) for v in q], [int(v) for v in row]
            if metric == "cosine":
                dot = sum(a * b for a, b in zip(qi, gi))
                sq = Fraction(dot * dot, sum(a * a for a in qi) * sum(b * b for b in gi))
                out.append(-sq if dot >= 0 else sq)
            else:
                out.append(sum((a - b) ** 2 for a, b in zip(qi, gi)))
        elif metric == "cosine":
            out.append(-float(np.dot(q, row)) / (math.sqrt(np.dot(q, q)) * math.sqrt(np.dot(row, row))))
        else:
            out.append(math.sqrt(float(np.sum((q - row) ** 2))))
    return out


def _ref_ap(q, g, ql, gl, k, metric):
    aps = []
    for i in range(len(q)):
        d = _distances(q[i], g, metric)
        order = sorted(range(len(g)), key=lambda j: (d[j], j))  # ties by gallery index
        top = order[: len(g) if k is None else k]
        hits, precs = 0, []
        for rank, j in enumerate(top, start=1):
            if gl[j] == ql[i]:
                hits += 1
                precs.append(hits / rank)
        aps.append(sum(precs) / len(precs) if precs else 0.0)
    return np.array(aps)


def _tied_problem(seed: int, n_q=40, n_g=60, dim=5, n_classes=4):
    """Small-integer features with duplicated gallery rows, so exact distance ties occur."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n_g, dim)).astype(np.float64)
    g[n_g // 2 :] = g[: n_g - n_g // 2]  # every row appears twice
    g[g.sum(1) == 0, 0] = 1.0  # cosine needs non-zero rows for the reference
    q = rng.integers(0, 3, size=(n_q, dim)).astype(np.float64)
    q[q.sum(1) == 0, 0] = 1.0
    return q, g, rng.integers(0, n_classes, n_q), rng.integers(0, n_classes, n_g)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [None, 5, 25, 50])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force_with_ties(metric, k, seed):
    q, g, ql, gl = _tied_problem(seed)
    ref = _ref_ap(q, g, ql, gl, k, metric)
    got = average_precision(q, g, ql, gl, k=k, metric=metric)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert mean_average_precision(q, g, ql, gl, k=k, metric=metric) == pytest.approx(ref.mean(), abs=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [None, 5, 50])
def test_sort_path_for_gpu_and_huge_galleries_matches_brute_force(metric, k, monkeypatch):
    """CPU ranks packed int64 keys with numpy; CUDA and galleries over 2**20 items use torch's stable sort."""
    import xmr.metrics

    monkeypatch.setattr(xmr.metrics, "_PACK_LIMIT", 0)
    q, g, ql, gl = _tied_problem(3)
    np.testing.assert_allclose(average_precision(q, g, ql, gl, k=k, metric=metric), _ref_ap(q, g, ql, gl, k, metric),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [None, 5, 50])
def test_float32_random_data_matches_reference(k):
    rng = np.random.default_rng(7)
    q, g = rng.normal(size=(30, 16)).astype(np.float32), rng.normal(size=(70, 16)).astype(np.float32)
    ql, gl = rng.integers(0, 5, 30), rng.integers(0, 5, 70)
    ref = _ref_ap(q.astype(np.float64), g.astype(np.float64), ql, gl, k, "cosine")
    np.testing.assert_allclose(average_precision(q, g, ql, gl, k=k), ref, atol=1e-6)


def test_hand_computed_single_query():
    # gallery along the x axis at increasing angles from the query (1, 0):
    # ranking is g0, g1, g2, g3; relevance 1, 0, 1, 0.
    q = np.array([[1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]])
    gl = np.array([1, 0, 1, 0])
    # AP = (1/1 + 2/3) / 2
    assert mean_average_precision(q, g, [1], gl) == pytest.approx((1 + 2 / 3) / 2)
    # top 2: only g0 is relevant -> AP@2 = 1/1 (normalised by relevant items found)
    assert mean_average_precision(q, g, [1], gl, k=2) == pytest.approx(1.0)
    assert precision_at_k(q, g, [1], gl, k=2) == pytest.approx(0.5)
    assert precision_at_k(q, g, [1], gl, k=3) == pytest.approx(2 / 3)


def test_hand_computed_euclidean_and_ties_by_index():
    q = np.array([[0.0]])
    g = np.array([[1.0], [-1.0], [2.0], [0.5]])  # distances 1, 1, 2, 0.5
    gl = np.array([0, 1, 1, 0])
    # order: g3 (0.5), g0 (1, index 0 before g1), g1 (1), g2 (2); relevant label 1 at ranks 3 and 4
    assert mean_average_precision(q, g, [1], gl, metric="euclidean") == pytest.approx((1 / 3 + 2 / 4) / 2)
    # label 0 relevant at ranks 1, 2
    assert mean_average_precision(q, g, [0], gl, metric="euclidean") == pytest.approx(1.0)


def test_k_larger_than_gallery_equals_whole_ranking():
    q, g, ql, gl = _tied_problem(3, n_g=20)
    assert mean_average_precision(q, g, ql, gl, k=1000) == pytest.approx(mean_average_precision(q, g, ql, gl))
    assert precision_at_k(q, g, ql, gl, k=1000) == pytest.approx(np.mean(gl[None, :] == ql[:, None]))


def test_query_without_relevant_item_scores_zero():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    g = np.array([[1.0, 0.0], [0.0, 1.0]])
    ap = average_precision(q, g, [0, 5], [0, 0])
    assert ap.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("chunk", [1, 3, 17, 1000])
def test_chunking_does_not_change_results(chunk):
    # Euclidean on small-integer features: every product is an exact integer whatever the BLAS kernel a chunk's
    # shape picks, so any difference here is the chunking's own. (With cosine, a BLAS that rounds a 3-row chunk's
    # products differently from a 50-row one hits the known tie limitation of the module doc: seen on an Intel
    # Xeon, one of 50 APs off by 0.019; that case is the xfail test of the limitation, not this one.)
    q, g, ql, gl = _tied_problem(4, n_q=50)
    full = average_precision(q, g, ql, gl, k=25, metric="euclidean")
    np.testing.assert_array_equal(average_precision(q, g, ql, gl, k=25, metric="euclidean", chunk_size=chunk), full)


def test_torch_inputs_give_numpy_results():
    q, g, ql, gl = _tied_problem(5)
    expected = mean_average_precision(q, g, ql, gl)
    got = mean_average_precision(torch.from_numpy(q), torch.from_numpy(g), torch.from_numpy(ql), torch.from_numpy(gl))
    assert got == pytest.approx(expected, abs=1e-12)


def _ref_pr(q, g, ql, gl, points, interpolate):
    curves = []
    for i in range(len(q)):
        d = _distances(q[i], g, "cosine")
        order = sorted(range(len(g)), key=lambda j: (d[j], j))
        rel = np.array([gl[j] == ql[i] for j in order], dtype=float)
        if rel.sum() == 0:
            continue
        hits = np.cumsum(rel)
        prec, rec = hits / np.arange(1, len(g) + 1), hits / rel.sum()
        row = []
        for r in points:
            if interpolate:
                row.append(max(p for p, rr in zip(prec, rec) if rr >= r - 1e-12))
            else:
                row.append(next(p for p, rr in zip(prec, rec) if rr >= r - 1e-12))
        curves.append(row)
    return np.mean(curves, axis=0)


@pytest.mark.parametrize("interpolate", [True, False])
def test_precision_recall_curve_matches_reference(interpolate):
    q, g, ql, gl = _tied_problem(6)
    ql[0] = 99  # a query with no relevant item is skipped
    points, prec = precision_recall_curve(q, g, ql, gl, interpolate=interpolate)
    np.testing.assert_allclose(prec, _ref_pr(q, g, ql, gl, points, interpolate), atol=1e-12)
    if interpolate:
        assert np.all(np.diff(prec) <= 1e-12)  # interpolated precision never rises with recall


def test_pr_curve_hand_computed():
    q = np.array([[1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]])
    # relevance by rank: 1, 0, 1, 0 -> precision 1, .5, 2/3, .5; recall .5, .5, 1, 1
    _, raw = precision_recall_curve(q, g, [1], [1, 0, 1, 0], recall_points=[0.0, 0.5, 1.0], interpolate=False)
    np.testing.assert_allclose(raw, [1.0, 1.0, 2 / 3])
    _, interp = precision_recall_curve(q, g, [1], [1, 0, 1, 0], recall_points=[0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(interp, [1.0, 1.0, 2 / 3, 2 / 3])


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((3, 4)), np.zeros((5, 3)), [0, 0, 0], [0] * 5), "dimension"),
        ((np.ones((3, 4)), np.ones((5, 4)), [0, 0], [0] * 5), "one label per query"),
        ((np.ones((3, 4)), np.ones((5, 4)), [0, 0, 0], [0] * 4), "one label per gallery"),
        ((np.ones((0, 4)), np.ones((5, 4)), [], [0] * 5), "empty"),
        ((np.ones(4), np.ones((5, 4)), [0], [0] * 5), "2-D"),
        ((np.full((2, 4), np.nan), np.ones((5, 4)), [0, 0], [0] * 5), "NaN"),
    ],
)
def test_bad_input_raises_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        mean_average_precision(*args)


def test_unknown_metric_and_bad_k():
    q, g, ql, gl = _tied_problem(0)
    with pytest.raises(ValueError, match="metric"):
        mean_average_precision(q, g, ql, gl, metric="manhattan")
    with pytest.raises(ValueError, match="k must be positive"):
        mean_average_precision(q, g, ql, gl, k=0)


def test_cpu_row_blocks_rank_as_a_stable_sort_of_rounded_keys(monkeypatch):
    """The blocked, threaded CPU ranking against numpy's stable argsort, for several thread counts and block sizes."""
    import torch

    import xmr.metrics
    from xmr.metrics import _rank_rows

    rng = np.random.default_rng(3)
    rows, n = 301, 97
    key = rng.integers(-40, 40, size=(rows, n)) + rng.choice([0.0, 0.25, 0.5, 0.75], size=(rows, n))  # ties, halves
    key[:, :5] = 2.0**41  # the largest key the packing must hold
    ql, gl = rng.integers(0, 4, rows), rng.integers(0, 4, n)
    order = np.argsort(np.rint(key), axis=1, kind="stable")
    expected = gl[order] == ql[:, None]

    def ap_loop(rel):  # precision at each relevant rank, averaged over the relevant items found
        out = []
        for row in rel:
            hits = [i + 1 for i, r in enumerate(row) if r]
            out.append(sum((m + 1) / rank for m, rank in enumerate(hits)) / len(hits) if hits else 0.0)
        return np.array(out)

    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            for block_rows in (1, 7, 1000):
                monkeypatch.setattr(xmr.metrics, "_BLOCK_BYTES", 8 * n * block_rows)
                for k in (n, 10):
                    assert np.array_equal(_rank_rows(key, ql, gl, k), expected[:, :k])
                    np.testing.assert_allclose(_rank_rows(key, ql, gl, k, average_precision=True),
                                               ap_loop(expected[:, :k]), rtol=0, atol=1e-12)
    finally:
        torch.set_num_threads(before)


@pytest.mark.xfail(strict=False, reason=(
    "known limitation (found 2026-11-27): the 2**-40 rounding that equalises tied scores splits a collinear pair "
    "whose two products round to either side of a boundary (about 3 in 100,000 tied pairs here), so such a tie "
    "is not ordered by gallery index (an AP moves by about 5e-9). The fix (group keys within a tolerance after sorting) changes xmr/metrics.py, "
    "which every run's fingerprint holds: it waits for the next change that re-trains the archive anyway. "
    "Make this a plain test then."))
def test_collinear_ties_are_ordered_by_gallery_index_whatever_the_rounding():
    """Pairs (c v, v) are tied in cosine to any query. With each pair's item of another label first in gallery
    order, ties by gallery index put the m-th relevant item at rank 2 m, whatever order the pairs take: every
    query's AP is exactly 1/2 (by hand). A tie split by rounding lifts a relevant item above its partner."""
    rng = np.random.default_rng(0)
    n, n_q = 50_000, 20
    v = rng.normal(size=(n, 8))
    gallery = np.empty((2 * n, 8))
    gallery[0::2] = rng.uniform(1.5, 7.0, size=(n, 1)) * v  # first in gallery order: another label
    gallery[1::2] = v  # the query's label
    q = rng.normal(size=(n_q, 8))
    ap = average_precision(q, gallery, np.zeros(n_q, int), np.tile([1, 0], n))
    np.testing.assert_array_equal(ap, np.full(n_q, 0.5))
