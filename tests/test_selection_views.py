"""The model-selection chapter's views (xmr.study.selection_views) on hand-built runs, expectations by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from xmr.study import chapters, selection_views as views
from xmr.study.runner import Runner, VariantRuns
from xmr.study.scale import scale as make_scale
from xmr.study.standins import DACSL_STANDINS, SMCR_STANDINS


def _runs(label, avg, test_best, last, folds=None):
    n = len(avg)
    table = pd.DataFrame({"fold": folds if folds is not None else [-1] * n, "seed": list(range(n)), "avg": avg,
                          "test_best_avg": test_best, "last_avg": last, "best_epoch": 10, "test_best_epoch": 12,
                          "epochs": 20, "label": label})
    return VariantRuns(label.lower(), "synthetic", label, "full", table)


def _chapter():
    wiki = _runs("DSCMR", [0.50, 0.52, 0.51], [0.53, 0.52, 0.55], [0.49, 0.50, 0.50])
    groups = {"pascal": [], "wikipedia": [wiki], "smcr_wikipedia": []}
    standins = {"pascal": DACSL_STANDINS["pascal"], "wikipedia": DACSL_STANDINS["wikipedia"],
                "smcr_wikipedia": SMCR_STANDINS["wikipedia"]}
    sc = make_scale("smoke")
    return chapters.ChapterRuns(chapters.chapter("model_selection"), sc, groups, standins, Runner(sc, []))


def test_inflation_and_the_finding():
    ch = _chapter()
    table = views.runs_table(ch)
    assert table["inflation"].tolist() == pytest.approx([0.03, 0.0, 0.04])  # test-selected − validation-selected
    text = views.finding_text(table)
    assert "**0.0233**" in text and "67% of runs" in text and "by at most 0.0400" in text and "seed 2" in text
    assert views.finding_text(pd.DataFrame()) == "No deep method ran."
    s = views.summary_table(table).loc[(DACSL_STANDINS["wikipedia"].title, "DSCMR")]
    assert s["units"] == 3 and s["inflation"] == pytest.approx(0.0233, abs=1e-4)


def test_selected_vs_last_is_paired_at_the_unit():
    out = views.selected_vs_last(_chapter()).iloc[0]
    d = np.array([0.01, 0.02, 0.01])  # avg − last_avg per seed
    assert out["unit"] == "seed" and out["n"] == 3
    assert out["Δ (selected − last)"] == pytest.approx(d.mean(), abs=1e-4)
    assert out["p"] == pytest.approx(sstats.ttest_1samp(d, 0).pvalue, abs=1e-4)


def test_curves_are_long_validation_and_test():
    h = pd.DataFrame({"setting": "S", "label": "M", "seed": 0, "fold": -1, "epoch": [1, 2],
                      "val_avg": [0.1, 0.2], "test_avg": [0.3, 0.4]})
    long = views.curves(h)
    assert sorted(long["curve"].unique()) == ["test", "validation"] and len(long) == 4
    assert set(long["panel"]) == {"M — S"}
