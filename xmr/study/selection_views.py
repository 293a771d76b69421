"""What the model-selection chapter shows: what choosing the epoch on the test split (the reference code's habit)
would have reported, beside our validation-selected numbers, built from runs with the per-epoch test record.

The chapter notebook only calls these and displays what comes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .stats import mean_ci, unit_scores
from .verdicts import compare

if TYPE_CHECKING:
    from .pages import ChapterRuns

__all__ = ["GROUPS", "runs_table", "histories", "finding_text", "summary_table", "curves", "selected_vs_last"]

#: The chapter's groups: the deep methods of each paper's comparison, on the stand-ins of those chapters.
GROUPS = ("pascal", "wikipedia", "smcr_wikipedia")


def runs_table(ch: ChapterRuns) -> pd.DataFrame:
    """One row per run (unit) of every deep method that ran, with its ``setting`` (the stand-in's title), the
    ``inflation`` (test-selected minus validation-selected avg mAP) and the ``epoch_gap`` between the two epochs."""
    frames = [r.table.assign(setting=ch.standin(key).title) for key in GROUPS for r in ch[key] if r.ok]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not table.empty:
        table["inflation"] = table["test_best_avg"] - table["avg"]
        table["epoch_gap"] = table["test_best_epoch"] - table["best_epoch"]
    return table


def histories(ch: ChapterRuns) -> pd.DataFrame:
    """The per-epoch histories of the same runs, with ``setting`` and ``label``."""
    frames = [r.history.assign(setting=ch.standin(key).title, label=r.label) for key in GROUPS for r in ch[key] if r.ok]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def finding_text(table: pd.DataFrame) -> str:
    """The chapter's finding in one paragraph (Markdown)."""
    if table.empty:
        return "No deep method ran."
    overall = mean_ci(table["inflation"])
    share = (table["inflation"] > 0).mean()
    worst = table.loc[table["inflation"].idxmax()]
    return (f"**What we find.** Over all {len(table)} runs, selecting the epoch on the test split would have added "
            f"**{overall['mean']:.4f}** mAP on average (95 % CI [{overall['ci_low']:.4f}, {overall['ci_high']:.4f}]); "
            f"it changed the number in {share:.0%} of runs, by at most {worst['inflation']:.4f} "
            f"({worst['label']}, {worst['setting']}, seed {int(worst['seed'])}). "
            "Differences between methods of that size in a paper's table can come from the selection rule alone.")


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting and method: units, validation-selected, test-selected and last-epoch avg mAP, the inflation with
    its 95 % interval, and the mean selected epochs."""
    def one(g: pd.DataFrame) -> pd.Series:
        ci = mean_ci(g["inflation"])
        return pd.Series({
            "units": len(g), "val-selected (ours)": g["avg"].mean(), "test-selected (reference loop)": g["test_best_avg"].mean(),
            "last epoch": g["last_avg"].mean(), "inflation": ci["mean"],
            "inflation 95% CI": f"[{ci['ci_low']:.4f}, {ci['ci_high']:.4f}]",
            "val-selected epoch": g["best_epoch"].mean(), "test-selected epoch": g["test_best_epoch"].mean(),
            "epochs": g["epochs"].mean()})

    out = pd.DataFrame({key: one(g) for key, g in table.groupby(["setting", "label"], sort=False)}).T.infer_objects()
    out.index.names = ["setting", "method"]
    return out.round(4)


def curves(history: pd.DataFrame) -> pd.DataFrame:
    """Validation and test avg mAP per epoch in long form (``split`` validation / test, ``panel`` method — setting)."""
    ids = [c for c in ("setting", "label", "seed", "fold", "epoch") if c in history]
    long = history.melt(id_vars=ids, value_vars=["val_avg", "test_avg"], var_name="curve", value_name="mAP")
    long["curve"] = long["curve"].map({"val_avg": "validation", "test_avg": "test"})
    long["panel"] = long["label"] + " — " + long["setting"]
    return long


def selected_vs_last(ch: ChapterRuns) -> pd.DataFrame:
    """Validation-selected minus last-epoch avg mAP per setting and method, paired at the unit of analysis (folds on
    the cross-validated stand-in, :func:`xmr.study.verdicts.compare`): n, unit, Δ, its 95 % interval and p."""
    rows = []
    for key in GROUPS:
        for r in ch[key]:
            if r.ok:
                p = compare(r.label, unit_scores(r, "avg"), unit_scores(r, "last_avg"))
                rows.append({"setting": ch.standin(key).title, "method": r.label, "n": p.n_units, "unit": p.unit,
                             "Δ (selected − last)": p.delta, "ci_low": p.ci_low, "ci_high": p.ci_high, "p": p.p})
    return pd.DataFrame(rows).round(4)
