"""Statistics over units: means with confidence intervals, paired tests, precision-recall and loss-curve summaries.

Statistics conventions
----------------------
* The per-run tables hold one row per (fold, seed); means, standard deviations
  (``ddof=1``) and confidence intervals of one method are over those rows.
* The 95 % confidence interval of a mean is Student's t interval,
  ``mean ± t_{0.975, n-1} · std / sqrt(n)``; it is undefined (NaN) for one unit.
* Comparisons between methods are made at the unit of analysis, not over rows:
  the fold on cross-validated data, one unit for a deterministic method's seeds
  (:func:`paired_tests`, which uses :func:`xmr.study.verdicts.compare`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .verdicts import compare as compare_pair

if TYPE_CHECKING:
    from .runner import VariantRuns

__all__ = [
    "TASKS", "TASK_LABELS", "UNIT", "mean_ci", "score_column", "long_scores", "compare", "unit_scores",
    "paired_tests", "interpolated_pr", "pr_dominance", "pr_curves", "dominance_shares", "convergence_stats", "SENSITIVITY_REGION_ALPHAS",
    "sensitivity_grid", "sensitivity_region",
]

TASKS = ("i2t", "t2i", "avg")


TASK_LABELS = {"i2t": "Img2Txt", "t2i": "Txt2Img", "avg": "Average"}


UNIT = ["split", "fold", "seed"]


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample standard deviation, n and Student's t confidence interval of ``values``."""
    x = np.asarray([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": math.nan, "n": 1, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


def score_column(task: str, metric: str) -> str:
    if metric == "mAP":
        return task
    if metric.startswith("mAP@"):
        return f"{task}@{metric[4:]}"
    raise ValueError(f"unknown metric {metric!r}; use 'mAP' or 'mAP@K'")


def long_scores(runs: Iterable[VariantRuns] | pd.DataFrame, metrics: Sequence[str] = ("mAP",)) -> pd.DataFrame:
    """Per-unit scores in long form: method, variant, label, dataset, fold, seed, metric, task, value."""
    table = runs if isinstance(runs, pd.DataFrame) else pd.concat([r.table for r in runs if r.ok] or [pd.DataFrame()], ignore_index=True)
    cols = ["method", "variant", "label", "dataset", "fold", "seed", "metric", "task", "value"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    table = table.copy()
    for col, default in (("fold", -1), ("variant", "full")):
        if col not in table:
            table[col] = default
    if "label" not in table:
        table["label"] = table["method"]
    parts = []
    for metric in metrics:
        for task in TASKS:
            col = score_column(task, metric)
            if col not in table:
                raise KeyError(f"results have no column {col!r} for {metric} {task}; columns: {', '.join(table.columns)}")
            part = table[["method", "variant", "label", "dataset", "fold", "seed"]].copy()
            part["metric"], part["task"], part["value"] = metric, task, table[col].astype(float)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)[cols]


def compare(
    published: pd.DataFrame,
    runs: Sequence[VariantRuns],
    *,
    metrics: Sequence[str] = ("mAP",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Published value beside ours for every (label, metric, task): mean, std, n, CI and ``diff = mean − published``.

    ``published`` is a filtered :func:`xmr.study.published.load` frame; rows are matched
    to ``runs`` by ``(method, variant)``. Each run's ``label`` names its row (the
    order of ``runs`` is kept). A run that is missing, or a run with no published
    counterpart, still gets its row (with NaN where there is nothing).
    """
    ours = long_scores(runs, metrics)
    rows = []
    for r in runs:
        pub = published[(published.method == r.method) & (published.variant == r.variant)]
        for metric in metrics:
            for task in TASKS:
                p = pub[(pub.metric == metric) & (pub.task == task)].value
                sel = ours[(ours.label == r.label) & (ours.metric == metric) & (ours.task == task)].value
                s = mean_ci(sel, confidence)
                published_value = float(p.iloc[0]) if len(p) else math.nan
                rows.append({
                    "label": r.label, "method": r.method, "metric": metric, "task": task,
                    "published": published_value, **s, "diff": s["mean"] - published_value,
                    "status": "ran" if r.ok else "not run",
                })
    return pd.DataFrame(rows)


def unit_scores(runs: VariantRuns, column: str) -> pd.Series:
    """One score column of ``runs`` indexed by (split, fold, seed) (split 0 and fold −1 where there is none), ready for
    :func:`xmr.study.verdicts.compare`."""
    t = runs.table
    if t.empty:
        return pd.Series(dtype=float)
    split = t["split"] if "split" in t else pd.Series(0, index=t.index)
    return pd.Series(t[column].to_numpy(dtype=float),
                     index=pd.MultiIndex.from_arrays([split, t["fold"], t["seed"]], names=UNIT))


def paired_tests(candidate: VariantRuns, baselines: Sequence[VariantRuns], *, metric: str = "mAP", tasks: Sequence[str] = TASKS) -> pd.DataFrame:
    """``candidate`` against each baseline, per task, at the unit of analysis (:func:`xmr.study.verdicts.compare`:
    folds on cross-validated data, one unit for two deterministic methods): one row per (baseline, task) with n,
    unit, ``mean_diff``, its 95 % interval, the paired t p (``p_t``; NaN with no variance estimate) and ``wins``,
    the share of units where the candidate is ahead."""
    rows = []
    for base in baselines:
        for task in tasks:
            row = {"candidate": candidate.label, "baseline": base.label, "metric": metric, "task": task}
            if candidate.ok and base.ok:
                col = score_column(task, metric)
                p = compare_pair(base.label, unit_scores(candidate, col), unit_scores(base, col))
                row |= {"n": p.n_units, "unit": p.unit, "mean_diff": p.delta, "ci_low": p.ci_low, "ci_high": p.ci_high,
                        "p_t": p.p, "wins": p.wins}
            else:
                row |= {"n": 0}
            rows.append(row)
    return pd.DataFrame(rows)


def interpolated_pr(pr: pd.DataFrame, grid: Sequence[float] | None = None) -> pd.DataFrame:
    """Interpolated precision (max precision at recall ≥ r) on a recall grid, per unit and task.

    Interpolation puts curves of different runs on one recall axis so they can be
    averaged and compared point by point (the usual 11-point convention, finer).
    """
    grid = np.asarray(grid if grid is not None else np.round(np.linspace(0, 1, 21), 4))
    rows = []
    keys = [k for k in ("split", "fold", "seed", "task") if k in pr]
    for key, g in pr.groupby(keys):
        rec, prec = g["recall"].to_numpy(float), g["precision"].to_numpy(float)
        order = np.argsort(rec)
        rec, prec = rec[order], prec[order]
        best = np.maximum.accumulate(prec[::-1])[::-1]  # max precision at recall >= rec[i]
        idx = np.searchsorted(rec, grid, side="left")
        vals = np.where(idx < len(rec), best[np.minimum(idx, len(rec) - 1)], 0.0)
        for r, v in zip(grid, vals):
            rows.append(dict(zip(keys, key if isinstance(key, tuple) else (key,))) | {"recall": float(r), "precision": float(v)})
    return pd.DataFrame(rows)


def pr_dominance(curves: pd.DataFrame, candidate: str, other: str, *, recall_range: tuple[float, float] = (0.05, 0.95)) -> float:
    """Share of recall points (within ``recall_range``, both tasks) where ``candidate``'s mean precision ≥ ``other``'s.

    ``curves`` is an :func:`interpolated_pr` frame with a ``label`` column.
    """
    lo, hi = recall_range
    c = curves[(curves.recall >= lo - 1e-12) & (curves.recall <= hi + 1e-12)]
    mean = c.groupby(["label", "task", "recall"]).precision.mean()
    if candidate not in mean.index.get_level_values(0) or other not in mean.index.get_level_values(0):
        return math.nan
    a, b = mean.loc[candidate], mean.loc[other]
    common = a.index.intersection(b.index)
    return float((a.loc[common] >= b.loc[common] - 1e-12).mean()) if len(common) else math.nan


def pr_curves(runs: Iterable[VariantRuns]) -> pd.DataFrame:
    """The interpolated precision-recall curves (:func:`interpolated_pr`) of every run that has points, one
    ``label`` each: what DACSL Figs. 2-3 draw, and what :func:`dominance_shares` compares."""
    frames = [interpolated_pr(r.pr).assign(label=r.label) for r in runs if r.ok and not r.pr.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["task", "recall", "precision", "label"])


def dominance_shares(runs: Sequence[VariantRuns], candidate: str) -> dict[str, float]:
    """For each run of another method, the share of recall points where method ``candidate``'s mean precision
    is at least its own (:func:`pr_dominance` on :func:`pr_curves`); NaN for a run without curves."""
    curves = pr_curves(runs)
    label = next((r.label for r in runs if r.method == candidate), candidate)
    return {r.label: pr_dominance(curves, label, r.label) for r in runs if r.method != candidate}


def convergence_stats(loss: pd.Series, *, tail: float = 0.1) -> dict[str, float]:
    """How a per-epoch loss curve (index = epoch) behaves: share of epochs that decrease, and the final drift.

    ``relative_tail_change`` = |mean of the last ``tail`` of epochs − mean of the
    ``tail`` before| / |mean of the ``tail`` before|: close to 0 when converged.
    """
    y = loss.sort_index().to_numpy(dtype=float)
    n = len(y)
    out = {"epochs": n, "first": math.nan, "last": math.nan, "share_decreasing": math.nan, "relative_tail_change": math.nan}
    if n < 2:
        return out
    k = max(1, int(round(n * tail)))
    out |= {"first": float(y[0]), "last": float(y[-1]), "share_decreasing": float((np.diff(y) < 0).mean())}
    if n >= 2 * k:
        prev, last = y[-2 * k:-k].mean(), y[-k:].mean()
        out["relative_tail_change"] = float(abs(last - prev) / abs(prev)) if prev != 0 else math.nan
    return out


#: The region SMCR Sec. 6.3 calls insensitive: α ∈ {0.1, 1, 10}, every β of the grid.
SENSITIVITY_REGION_ALPHAS = (0.1, 1.0, 10.0)


def sensitivity_grid(runs: Iterable[VariantRuns]) -> pd.DataFrame:
    """The per-unit scores of SMCR's α × β grid (SMCR Fig. 2), one row per (α, β, unit), with ``alpha`` and ``beta``
    columns; empty when a cell did not run (a grid with holes is not a grid)."""
    runs = list(runs)
    if not runs or not all(r.ok for r in runs):
        return pd.DataFrame()
    return pd.concat([r.table.assign(alpha=float(r.hparams["alpha"]), beta=float(r.hparams["beta"])) for r in runs],
                     ignore_index=True)


def sensitivity_region(grid: pd.DataFrame, column: str = "avg@50") -> dict[str, Any]:
    """How much ``column`` (mean over units) moves over SMCR's α × β grid and over its claimed insensitive region
    (:data:`SENSITIVITY_REGION_ALPHAS`, any β): spreads (max − min), the best cell and its value."""
    means = grid.groupby(["alpha", "beta"])[column].mean()
    region = means[means.index.get_level_values("alpha").isin(SENSITIVITY_REGION_ALPHAS)]
    best = means.idxmax()
    return {"spread_grid": float(means.max() - means.min()), "spread_region": float(region.max() - region.min()),
            "cells_region": int(len(region)), "best_alpha": float(best[0]), "best_beta": float(best[1]),
            "best": float(means.max()), "means": means}
