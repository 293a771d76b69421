"""The study's statistics and display tables against hand computations."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as sstats

from xmr.study import stats, tables
from xmr.study.runner import VariantRuns


def test_mean_ci_matches_hand_computation():
    s = stats.mean_ci([1, 2, 3, 4, 5])
    # mean 3, sample std sqrt(2.5); t_{0.975, 4} = 2.7764451 (tables)
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert s["mean"] == pytest.approx(3.0)
    assert s["std"] == pytest.approx(math.sqrt(2.5))
    assert s["n"] == 5
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((3 - half, 3 + half), abs=1e-6)


def test_mean_ci_degenerate_cases():
    one = stats.mean_ci([0.4])
    assert one["mean"] == 0.4 and one["n"] == 1 and math.isnan(one["std"]) and math.isnan(one["ci_low"])
    none = stats.mean_ci([])
    assert none["n"] == 0 and math.isnan(none["mean"])
    assert stats.mean_ci([1.0, float("nan"), 3.0])["n"] == 2


def _runs(method, values, variant="full", label=None, folds=None):
    rows = []
    for i, (i2t, t2i) in enumerate(values):
        rows.append({"method": method, "dataset": "wikipedia", "seed": i, "fold": -1 if folds is None else folds[i],
                     "i2t": i2t, "t2i": t2i, "avg": (i2t + t2i) / 2, "i2t@5": i2t, "t2i@5": t2i, "avg@5": (i2t + t2i) / 2,
                     "variant": variant, "label": label or method})
    return VariantRuns(method, "wikipedia", label or method, variant, pd.DataFrame(rows))


def test_compare_and_format():
    published = pd.DataFrame({
        "method": ["dacsl"] * 3 + ["dscmr"] * 3, "variant": ["full"] * 6, "metric": ["mAP"] * 6,
        "task": ["i2t", "t2i", "avg"] * 2, "value": [0.49, 0.426, 0.458, 0.476, 0.407, 0.442],
    })
    ours = _runs("dacsl", [(0.40, 0.30), (0.42, 0.34), (0.44, 0.32)])
    missing = VariantRuns("dscmr", "wikipedia", "dscmr", missing="not implemented")
    cmp = stats.compare(published, [ours, missing])
    r = cmp[(cmp.label == "dacsl") & (cmp.task == "i2t")].iloc[0]
    assert r["mean"] == pytest.approx(0.42) and r["std"] == pytest.approx(0.02) and r["n"] == 3
    assert r["diff"] == pytest.approx(0.42 - 0.49)
    half = 4.3026527 * 0.02 / math.sqrt(3)  # t_{0.975, 2}
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.42 - half, 0.42 + half), abs=1e-6)
    assert (cmp[cmp.label == "dscmr"].status == "not run").all()
    table = tables.format_comparison(cmp)
    assert table.loc["dacsl", ("Img2Txt", "published")] == "0.490"
    assert table.loc["dacsl", ("Img2Txt", "ours: mean ± sd [95 % CI]")].startswith("0.420 ± 0.020 [")
    assert table.loc["dacsl", ("Img2Txt", "Δ")] == "-0.070"
    assert table.loc["dscmr", ("Txt2Img", "ours: mean ± sd [95 % CI]")] == "not run"


def test_paired_tests_pair_by_fold_and_seed():
    a = _runs("a", [(0.5, 0.5), (0.6, 0.6), (0.7, 0.7)], folds=[0, 0, 1])
    a.table["seed"] = [0, 1, 0]
    b = _runs("b", [(0.6, 0.6), (0.4, 0.4), (0.5, 0.5)], folds=[1, 0, 0])
    b.table["seed"] = [0, 0, 1]
    out = stats.paired_tests(a, [b], tasks=("i2t",)).iloc[0]
    # pairs: (0,0): 0.5-0.4, (0,1): 0.6-0.5, (1,0): 0.7-0.6 -> all +0.1; on folds the unit is the fold: fold 0's
    # seed means differ by (0.55 - 0.45) = 0.1, fold 1's by 0.1 -> 2 units, Δ +0.1, no spread -> no p
    assert out["n"] == 2 and out["unit"] == "fold" and out["mean_diff"] == pytest.approx(0.1)
    assert math.isnan(out["p_t"])


def test_long_scores_at_k():
    long = stats.long_scores([_runs("m", [(0.2, 0.4)])], metrics=("mAP@5",))
    assert set(long.task) == {"i2t", "t2i", "avg"}
    assert long.set_index("task").value["avg"] == pytest.approx(0.3)
    with pytest.raises(KeyError, match="mAP@25"):
        stats.long_scores([_runs("m", [(0.2, 0.4)])], metrics=("mAP@25",))


def test_interpolated_pr_hand_case():
    pr = pd.DataFrame({"seed": 0, "task": "i2t", "recall": [0.25, 0.5, 0.75, 1.0], "precision": [1.0, 0.5, 0.6, 0.4]})
    out = stats.interpolated_pr(pr, grid=[0.0, 0.5, 0.6, 1.0]).set_index("recall").precision
    assert out.to_dict() == pytest.approx({0.0: 1.0, 0.5: 0.6, 0.6: 0.6, 1.0: 0.4})


def test_pr_dominance_counts_recall_points():
    grid = [0.1, 0.5, 0.9]
    curves = pd.DataFrame({
        "label": ["A"] * 6 + ["B"] * 6, "task": (["i2t"] * 3 + ["t2i"] * 3) * 2, "recall": grid * 4,
        "precision": [0.9, 0.5, 0.2, 0.8, 0.6, 0.3] + [0.8, 0.6, 0.2, 0.7, 0.5, 0.4],
    })
    # A >= B at: i2t 0.1 (yes), 0.5 (no), 0.9 (tie: yes); t2i 0.1 yes, 0.5 yes, 0.9 no -> 4/6
    assert stats.pr_dominance(curves, "A", "B") == pytest.approx(4 / 6)
    assert math.isnan(stats.pr_dominance(curves, "A", "C"))


def test_convergence_stats():
    loss = pd.Series([10, 8, 9, 6, 5, 4.5, 4.2, 4.1, 4.05, 4.0], index=range(1, 11))
    s = stats.convergence_stats(loss, tail=0.2)
    assert s["share_decreasing"] == pytest.approx(8 / 9)  # one increase (8 -> 9) among 9 steps
    # last 2 epochs mean 4.025, the 2 before 4.15
    assert s["relative_tail_change"] == pytest.approx(abs(4.025 - 4.15) / 4.15)
    assert math.isnan(stats.convergence_stats(pd.Series([1.0]))["share_decreasing"])


def test_format_tests_compact_cells():
    a = _runs("dacsl", [(0.6, 0.5), (0.7, 0.5), (0.8, 0.5)], label="DACSL")
    b = _runs("dscmr", [(0.5, 0.5), (0.5, 0.5), (0.5, 0.5)], label="DSCMR")
    missing = VariantRuns("acmr", "wikipedia", "ACMR", missing="not implemented")
    out = tables.format_tests(stats.paired_tests(a, [b, missing]))
    assert list(out.columns) == ["Img2Txt", "Txt2Img", "Average"]
    cell = out.loc["DSCMR", "Img2Txt"]
    # d = (0.1, 0.2, 0.3) over 3 seeds, DSCMR deterministic (0.5 every seed): 3 seed units, p of t = 0.2/(0.1/√3)
    assert cell.startswith("+0.200 [") and "p=" in cell and cell.endswith("· 3 seeds")
    assert f"p={2 * sstats.t.sf(0.2 / (0.1 / math.sqrt(3)), 2):.2g}" in cell
    # Txt2Img: both 0.5 on every seed -> both deterministic: one unit, no test
    assert out.loc["DSCMR", "Txt2Img"] == "+0.000 (deterministic on both sides: one unit, no test)"
    assert out.loc["ACMR", "Average"] == "not run"


