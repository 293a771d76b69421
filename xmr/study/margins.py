"""The gain each paper claims for a comparison, read off its own tables: the δ of a claim part.

A claim part compares A with B on one task and metric (:mod:`xmr.study.verdicts`). Its claimed gain δ is
the paper's published A minus its published B, for the paper's dataset that the stand-in stands in for
(:attr:`xmr.study.standins.StandIn.paper_dataset`). Pre-registered choices, made before any verdict was
computed with them:

* **Absolute, not rescaled.** Both papers state their gains in mAP points ("beats the DSCMR by 0.8 % and
  2.5 %", DACSL Sec. 4.2, equals the differences of its Table 1), so δ is taken as printed. Rescaling it to
  our score level would make δ depend on our test means, which no choice here may do.
* **No counterpart dataset** (the news set in the DACSL chapters): δ is the smaller of the gains the paper
  prints for that comparison on its own datasets: the least it claims anywhere.
* **No printed gain** (a claim made of a figure, or a method missing from the table): ``None``; the
  verdict then uses the smallest effect of interest (:attr:`xmr.study.verdicts.Thresholds.min_effect`).

A gain the paper's own table shows as negative is kept as printed (the source says so); the verdict
raises it to the smallest effect of interest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from . import published
from .stats import TASK_LABELS

__all__ = ["Side", "Margin", "claimed_gain", "PAPER_TABLES"]

#: Where each paper prints its comparisons and ablations: (paper, kind) -> {paper dataset: table}.
PAPER_TABLES: dict[tuple[str, str], dict[str, str]] = {
    ("dacsl", "comparison"): {"pascal_sentence": "Table 1", "wikipedia": "Table 2"},
    ("dacsl", "ablation"): {"pascal_sentence": "Table 3", "wikipedia": "Table 4"},
    ("smcr", "comparison"): {"scitechdaily": "Table 2", "wikipedia": "Table 2"},
    ("smcr", "ablation"): {"scitechdaily": "Table 3", "wikipedia": "Table 4"},
}


@dataclass(frozen=True)
class Side:
    """One side of a comparison as the paper's tables name it: a method and its variant."""

    method: str
    variant: str = "full"

    @property
    def name(self) -> str:
        return self.method.upper() if self.variant == "full" else f"{self.method.upper()} {self.variant}"


@dataclass(frozen=True)
class Margin:
    """A claimed gain (``value``, mAP; ``None`` when the paper prints none) and where it was read (``source``)."""

    value: float | None
    source: str


@lru_cache(maxsize=1)
def _published() -> pd.DataFrame:
    return published.load()


def _value(paper: str, table: str, dataset: str, side: Side, task: str, metric: str) -> float | None:
    df = _published()
    sel = df[(df.paper == paper) & (df.table == table) & (df.dataset == dataset) & (df.method == side.method)
             & (df.variant == side.variant) & (df.task == task) & (df.metric == metric)]
    return float(sel.value.iloc[0]) if len(sel) else None


def _one(paper: str, kind: str, dataset: str, a: Side, b: Side, task: str, metric: str) -> Margin:
    table = PAPER_TABLES[(paper, kind)].get(dataset)
    if table is None:
        return Margin(None, f"{paper.upper()} prints no {kind} on {dataset}")
    va, vb = _value(paper, table, dataset, a, task, metric), _value(paper, table, dataset, b, task, metric)
    if va is None or vb is None:
        missing = a.name if va is None else b.name
        return Margin(None, f"{paper.upper()} {table} prints no {missing} {TASK_LABELS.get(task, task)} {metric}")
    gain = round(va - vb, 6)
    return Margin(gain, f"{paper.upper()} {table}: {a.name} {va:g} − {b.name} {vb:g} ({TASK_LABELS.get(task, task)} "
                        f"{metric}{'; the paper’s own table shows no gain' if gain <= 0 else ''})")


def claimed_gain(paper: str, kind: str, paper_dataset: str | None, a: Side, b: Side, task: str,
                 metric: str = "mAP") -> Margin:
    """The gain ``paper`` claims for ``a`` over ``b`` on ``task`` at ``metric`` (``"mAP"``, ``"mAP@50"``...).

    ``kind`` is ``"comparison"`` or ``"ablation"`` (which table, :data:`PAPER_TABLES`); ``paper_dataset`` the
    paper's dataset the stand-in stands in for, ``None`` for a dataset the paper did not use (then the
    smallest gain it prints on its own datasets).
    """
    if (paper, kind) not in PAPER_TABLES:
        raise ValueError(f"no tables declared for paper {paper!r}, kind {kind!r}; known: {sorted(PAPER_TABLES)}")
    if paper_dataset is not None:
        return _one(paper, kind, paper_dataset, a, b, task, metric)
    each = [_one(paper, kind, ds, a, b, task, metric) for ds in PAPER_TABLES[(paper, kind)]]
    known = [m for m in each if m.value is not None]
    if not known:
        return Margin(None, "; ".join(m.source for m in each))
    least = min(known, key=lambda m: m.value)
    return Margin(least.value, f"no counterpart dataset: the smaller of the paper's gains, {least.source}")
