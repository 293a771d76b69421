"""Seeded, stratified index splits shared by every loader."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_split", "stratified_folds"]


def stratified_split(labels: np.ndarray, held_out: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(labels))`` into (rest, held_out) keeping class proportions.

    ``held_out`` is a fraction in (0, 1) or an exact number of items. The total is
    shared among classes by largest remainder (Hamilton's method), so the held-out
    size is exact; items are drawn with ``numpy.random.default_rng(seed)``. Both
    index arrays come back sorted, keeping the original row order within a split.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if isinstance(held_out, float):
        if not 0.0 < held_out < 1.0:
            raise ValueError(f"a held-out fraction must be in (0, 1), got {held_out}")
        total = int(round(held_out * n))
    else:
        total = int(held_out)
    if not 0 < total < n:
        raise ValueError(f"cannot hold out {total} of {n} items")
    classes, counts = np.unique(labels, return_counts=True)
    exact = total * counts / n
    quota = np.floor(exact).astype(int)
    order = np.lexsort((classes, -(exact - quota)))  # largest remainder first, ties by class
    quota[order[: total - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    held_idx = np.sort(np.concatenate(held)).astype(np.int64)
    rest = np.setdiff1d(np.arange(n), held_idx)
    return rest, held_idx


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """Partition indices into ``n_folds`` folds with each class spread as evenly as possible."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        for j, i in enumerate(idx):
            folds[(offset + j) % n_folds].append(int(i))
        offset += len(idx)  # rotate so small classes don't all start at fold 0
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]
