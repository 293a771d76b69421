"""Seed and split variance side by side, and each fragile claim's effect on every split (the variance chapter).

A method's score varies with the training seed and with the split (which pairs train, validate and test).
:func:`components` separates the two as a random-intercept model (``score ~ 1``, the split as the group): in a
balanced design (the same seeds on every split, as the campaign runs) by the one-way ANOVA estimator, which is
the REML estimate when positive; otherwise with statsmodels' ``MixedLM`` (REML). On the
cross-validated ``pascal100`` stand-in a (split, seed)'s score is first averaged over its folds (the
cross-validation estimate of that seed on that partition). A method that gives every seed the same score has a
seed sd of 0; its split sd is then the sd of its split means.

:func:`delta_by_split` judges a claim on one split at a time, with the same rule, so a reader sees whether its
Δ keeps its sign from one draw of the data to the next.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .claims import Claim, _all_claims, judge
from .group_refs import CampaignGroup, SourceGroup, parse
from .pooling import merged_groups
from .verdicts import NO_SPREAD, PREREGISTERED, Thresholds

if TYPE_CHECKING:
    from .pages import ChapterRuns
    from .runner import VariantRuns

__all__ = ["components", "variance_table", "delta_by_split", "fragile_by_split", "progress"]


def _per_split_seed(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """One score per (split, seed): folds averaged (the CV estimate of a seed on one partition)."""
    t = table.assign(split=table["split"] if "split" in table else 0)
    return t.groupby(["split", "seed"], as_index=False)[column].mean().rename(columns={column: "y"})


def components(table: pd.DataFrame, column: str = "avg") -> dict[str, Any]:
    """Split and seed standard deviations of ``column`` in a runs table (rows: split, fold, seed): splits, seeds per
    split, mean, ``seed_sd``, ``split_sd`` (NaN with one split) and their ratio."""
    d = _per_split_seed(table, column)
    splits = int(d["split"].nunique())
    out = {"splits": splits, "seeds": int(d.groupby("split").size().max()) if len(d) else 0,
           "mean": float(d["y"].mean()) if len(d) else math.nan, "seed_sd": math.nan, "split_sd": math.nan}
    if d.empty:
        return out | {"ratio": math.nan}
    within = d.groupby("split")["y"].std(ddof=1)
    spread = d.groupby("split")["y"].agg(lambda y: float(np.ptp(y.to_numpy()))).max()
    seed_var = float((within ** 2).mean()) if within.notna().any() else math.nan
    if spread <= NO_SPREAD:  # every seed the same up to rounding: a deterministic method
        seed_var = 0.0
    out["seed_sd"] = math.sqrt(seed_var) if math.isfinite(seed_var) else math.nan
    if splits < 2:
        return out | {"ratio": math.nan}
    sizes = d.groupby("split").size()
    if not seed_var > 0:  # deterministic: the split means carry all the variance
        out["split_sd"] = float(d.groupby("split")["y"].mean().std(ddof=1))
    elif sizes.nunique() == 1 and sizes.iloc[0] > 1:
        out["split_sd"] = _balanced(d, int(sizes.iloc[0]), seed_var)
    else:
        out["split_sd"], out["seed_sd"] = _mixed(d)
    out["ratio"] = out["split_sd"] / out["seed_sd"] if out["seed_sd"] and out["seed_sd"] > 0 else math.nan
    return out


def _balanced(d: pd.DataFrame, n: int, seed_var: float) -> float:
    """The split sd of a balanced design (``n`` seeds in every split): the one-way ANOVA estimator
    ``sqrt(max(0, (MS_between − MS_within) / n))``, which is the REML estimate whenever it is positive (and is
    exact where the optimiser of a mixed model stalls on a tiny seed variance)."""
    ms_between = n * float(d.groupby("split")["y"].mean().var(ddof=1))
    return math.sqrt(max(0.0, (ms_between - seed_var) / n))


def _mixed(d: pd.DataFrame) -> tuple[float, float]:
    """(split sd, seed sd) of a random-intercept model fitted by REML (statsmodels' MixedLM)."""
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():  # a boundary fit (split variance 0) warns; its estimate is still the answer
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ 1", d, groups=d["split"]).fit(reml=True)
    split_var = float(np.asarray(fit.cov_re).ravel()[0])
    return math.sqrt(max(split_var, 0.0)), math.sqrt(float(fit.scale))


def _pooled(ch: ChapterRuns) -> dict[tuple[str, str, str], list[VariantRuns]]:
    """(source chapter/group, method, variant) -> its runs on every campaign split that was trained."""
    out: dict[tuple[str, str, str], list[VariantRuns]] = {}
    for name, runs in ch.groups.items():
        ref = parse(name)
        if isinstance(ref, CampaignGroup):
            for r in runs:
                if r.ok:
                    out.setdefault((str(ref.source), r.method, r.variant), []).append(r)
    return out


def variance_table(ch: ChapterRuns, column: str = "avg") -> pd.DataFrame:
    """Per stand-in group and method variant of the campaign: :func:`components` over every trained split."""
    rows = []
    for (source, method, variant), runs in _pooled(ch).items():
        table = pd.concat([r.table for r in runs], ignore_index=True)
        rows.append({"group": source, "method": method, "variant": variant} | components(table, column))
    return pd.DataFrame(rows, columns=["group", "method", "variant", "splits", "seeds", "mean", "seed_sd", "split_sd",
                                       "ratio"])


def delta_by_split(ch: ChapterRuns, claim: Claim, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """``claim`` judged on each split alone (its pooled runs restricted to one split): split, part, delta, ci_low,
    ci_high and the claim's status on that split. Empty when the campaign trained no run the claim reads."""
    merged = merged_groups(ch.groups, claim, complete=False)  # every split archived so far, one at a time
    if merged is None:
        return pd.DataFrame(columns=["id", "split", "status", "part", "delta", "ci_low", "ci_high", "delta_used"])
    splits = sorted({int(s) for runs in merged.values() for r in runs if r.ok and "split" in r.table
                     for s in r.table["split"].unique()})
    rows = []
    for s in splits:
        one = {g: [_only(r, s) for r in runs] for g, runs in merged.items()}
        v = judge(claim, one, thresholds).verdict
        rows += [{"id": claim.id, "split": s, "status": str(v.status), "part": p.label, "delta": p.delta,
                  "ci_low": p.ci_low, "ci_high": p.ci_high, "delta_used": p.delta_used} for p in v.parts]
    return pd.DataFrame(rows, columns=["id", "split", "status", "part", "delta", "ci_low", "ci_high", "delta_used"])


def _only(r: VariantRuns, split: int) -> VariantRuns:
    """``r`` restricted to one split (a run without a split column is the published split's)."""
    from .runner import VariantRuns

    if not r.ok:
        return r
    keep = [f[(f["split"] if "split" in f else pd.Series(0, index=f.index)) == split] if not f.empty else f
            for f in (r.table, r.history, r.pr)]
    return VariantRuns(r.method, r.dataset, r.label, r.variant, *keep, hparams=r.hparams)


def fragile_by_split(ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """:func:`delta_by_split` of every fragile claim (:data:`xmr.study.power.FRAGILE`) the campaign has runs of; the
    ``method`` column is ``"split"`` and ``universe`` the split, so the specification-curve plot draws it."""
    from .power import FRAGILE

    sources = _sources_of(ch)
    frames = [delta_by_split(ch, c, thresholds) for c in _all_claims()
              if c.id in FRAGILE and all(str(SourceGroup(c.chapter, g)) in sources for g in c.groups)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["id", "split", "status", "part", "delta", "ci_low", "ci_high", "delta_used"])
    out = pd.concat(frames, ignore_index=True)
    return out.assign(method="split", universe=out["split"].map(str))


def _sources_of(ch: ChapterRuns) -> set[str]:
    return {k for k in ch.groups if not isinstance(parse(k), CampaignGroup)}


def progress(ch: ChapterRuns) -> pd.DataFrame:
    """The campaign's progress: per source group and split, how many of its planned run groups are archived."""
    rows = []
    for name, runs in ch.groups.items():
        ref = parse(name)
        if isinstance(ref, CampaignGroup):
            rows.append({"group": str(ref.source), "split": ref.split, "planned": len(runs),
                         "archived": sum(r.ok for r in runs)})
    return pd.DataFrame(rows, columns=["group", "split", "planned", "archived"])
