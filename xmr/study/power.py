"""The power plan: how many seeds and splits each claim gets, fixed from the 5-seed edition before any new run.

Pre-registered with the plan itself (``power_plan.csv``, written once by :func:`plan` from the ledger of the
published split at seeds 0-4, and committed before any run it asks for):

* **Seeds** are planned for the claimed effect, never the observed one (planning on the observed Δ is
  post-hoc power): a claim the evidence does not decide (*not shown*) or a fragile one (:data:`FRAGILE`) gets
  the seeds its parts need for 80 % power at δ (:attr:`xmr.study.verdicts.Part.seeds_needed_claimed`, the
  most any part needs), at least the edition's 5 and at most :data:`CAP`. A decided claim keeps 5.
* **Splits**: the fragile claims get :data:`SPLITS` splits (the published split 0 and re-drawn ones), each at
  the planned seeds; the others keep the published split. On the cross-validated ``pascal100`` stand-in the
  unit is the fold: seeds add no unit there, re-drawn fold partitions do.
* n is fixed in advance: no seed or split is added because a result is not yet significant.

The fragile claims are those whose verdict rests on |Δ| < 0.015 on one split (the outside audit's list; the
issue that asked for this plan names them).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .verdicts import Status

__all__ = ["CAP", "SPLITS", "FRAGILE", "EDITION_SEEDS", "plan", "load_plan", "planned"]

#: The most seeds any claim gets per split: enough for 80 % power at an effect of 0.65 sd of the paired
#: difference, and what one GPU session can train for the dear methods.
CAP = 20
#: Splits (the published one and re-drawn ones) for each fragile claim: the issue's minimum of 5.
SPLITS = 5
#: The seeds of the edition the plan is computed from.
EDITION_SEEDS = (0, 1, 2, 3, 4)
#: The claims whose verdict rests on |Δ| < 0.015 on one split.
FRAGILE = ("D1-wikipedia", "S2-wikipedia", "S3-wikipedia", "S4-wikipedia", "S7-news", "S7-wikipedia", "S8-news",
           "S8-wikipedia", "D5-pascal", "D5-wikipedia", "D5-news", "D2-pascal")

COLUMNS = ("id", "status", "part", "unit", "n_units", "delta", "sd", "delta_used", "seeds_needed", "seeds_needed_claimed",
           "planned_seeds", "planned_splits", "why")


def _seeds_for(status: str, fragile: bool, needs: list[int | None]) -> tuple[int, str]:
    """The planned seeds of a claim and why, from its status and its parts' seeds needed at δ."""
    base = len(EDITION_SEEDS)
    if status != Status.NOT_SHOWN.value and not fragile:
        return base, "decided on 5 seeds"
    if any(n is None for n in needs):
        return CAP, f"a part needs more than the cap at δ: the cap, {CAP}"
    need = max(needs) if needs else base
    n = min(CAP, max(base, need))
    why = f"80 % power at δ needs {need}" + (f", capped at {CAP}" if need > CAP else "")
    return n, why


def plan(frame: pd.DataFrame) -> pd.DataFrame:
    """The plan from a ledger frame (:func:`xmr.study.claims.ledger` of the edition): one row per part of every
    comparison claim, with the claim's planned seeds per split and planned splits (:data:`COLUMNS`)."""
    rows = []
    for r in frame.itertuples():
        parts = [p for p in r.parts if p.assessable or str(p.status) == Status.NOT_ASSESSABLE.value]
        if not parts:
            continue
        fragile = r.id in FRAGILE
        cv = any(p.unit == "fold" for p in parts)
        if cv:  # seeds add no unit on folds: re-drawn partitions do
            seeds, why = len(EDITION_SEEDS), "folds are the unit: seeds add none"
        else:
            seeds, why = _seeds_for(str(r.status), fragile, [p.seeds_needed_claimed for p in parts if p.assessable])
        splits = SPLITS if fragile else 1
        if fragile:
            why += f"; fragile (|Δ| < 0.015 on one split): {splits} splits"
        for p in parts:
            rows.append({"id": r.id, "status": str(r.status), "part": p.label, "unit": p.unit, "n_units": p.n_units,
                         "delta": p.delta, "sd": p.sd, "delta_used": p.delta_used, "seeds_needed": p.seeds_needed,
                         "seeds_needed_claimed": p.seeds_needed_claimed, "planned_seeds": seeds,
                         "planned_splits": splits, "why": why})
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("seeds_needed", "seeds_needed_claimed"):
        out[col] = out[col].astype("Int64")
    return out


def load_plan() -> pd.DataFrame:
    """The committed plan (``power_plan.csv``): what this edition adds, fixed before its runs."""
    with resources.files("xmr.study").joinpath("power_plan.csv").open("r", encoding="utf-8") as fh:
        out = pd.read_csv(fh, comment="#")
    for col in ("seeds_needed", "seeds_needed_claimed"):
        out[col] = out[col].astype("Int64")
    return out


def planned(plan_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per claim: planned seeds per split and planned splits (one row per claim of the plan)."""
    p = load_plan() if plan_frame is None else plan_frame
    return p.groupby("id", sort=False)[["planned_seeds", "planned_splits", "why"]].first().reset_index()
