"""The interpretation multiverse (xmr.study.multiverse): universes, the runs each scale declares, and the
claims x readings matrix rebuilt from hand-made runs.

Expected verdicts are reasoned from the claims' rules and the hand-chosen scores (see the comments), and the
expected universes from the methods' declared readings (``Reading.values``, ``Reading.literal``,
``Reading.default_for``) and :func:`xmr.methods.readings.most_literal`; never read back from the module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from xmr.methods import registry
from xmr.methods.readings import feature_set, most_literal
from xmr.study import chapters, claims, multiverse as mv
from xmr.study.chapters import DACSL_METHODS, SMCR_METHODS
from xmr.study.runner import Runner, VariantRuns
from xmr.study.scale import scale as make_scale
from xmr.study.standins import DACSL_STANDINS, SMCR_STANDINS, pascal_standin
from xmr.study.verdicts import Robustness, Status, Thresholds

SEEDS = (0, 1, 2, 3, 4)
BASE = np.array([0.40, 0.42, 0.38, 0.41, 0.39])
UP = np.array([0.10, 0.12, 0.11, 0.13, 0.09])  # clearly positive: mean .11, 95 % interval [.090, .130], p ≈ 1e-4
NOISY = np.array([0.30, -0.25, 0.20, -0.20, 0.01])  # mean +.012, 95 % interval [-.287, .311], p ≈ .92
SCORES = ("i2t", "t2i", "avg", "i2t@5", "t2i@5", "avg@5", "i2t@25", "t2i@25", "avg@25", "i2t@50", "t2i@50", "avg@50")

DACSL_WIKI, SMCR_WIKI, DACSL_PASCAL100 = DACSL_STANDINS["wikipedia"], SMCR_STANDINS["wikipedia"], DACSL_STANDINS["pascal"]


def vr(method: str, values=BASE, *, label: str | None = None, variant: str = "full", missing: str | None = None,
       val=None) -> VariantRuns:
    """One method's runs over 5 seeds: every score column = ``values``; validation mAP ``val`` (default: values)."""
    label = label or method.upper()
    if missing is not None:
        return VariantRuns(method, "synthetic", label, variant, missing=missing)
    values = np.asarray(values, dtype=float)
    table = pd.DataFrame({"fold": -1, "seed": list(SEEDS[:len(values)])})
    for col in SCORES:
        table[col] = values
    table["val_avg_best"] = np.asarray(values if val is None else val, dtype=float)
    table = table.assign(method=method, dataset="synthetic", variant=variant, label=label)
    return VariantRuns(method, "synthetic", label, variant, table)


def comparison(methods, **runs: VariantRuns) -> list[VariantRuns]:
    return [runs.get(m, vr(m, label=label)) for m, label in methods]


# --------------------------------------------------------------------------- the synthetic study
# Paired differences over 5 seeds, worked out once (Student t, 4 df, t_0.975 = 2.776):
#   UP: mean .110, 95 % interval [.090, .130], p ≈ 1e-4;  UP/2: mean .055, [.045, .065];
#   NOISY: mean .012, [-.287, .311], p ≈ .92;  TINY: mean 0, [-.002, .002] (within ±δ for every δ ≥ .01).
# δ (the paper's claimed gain, xmr/study/published/published.csv, at least .01) is quoted where it decides.
#
# DACSL Table 2 (Wikipedia): DACSL BASE+UP (mean .51); the other deep methods BASE+UP/2 (.455); conventional BASE (.40).
# D1 (DACSL > DSCMR on both tasks): Δ = UP/2, above 0 and above δ (.014, .019) -> held.
# D2 (DACSL > CCA, GMA, LCFS): Δ = UP -> held (the paper's "much", δ ≥ .205, is ruled out, but the direction holds).
# D3 (every deep > every conventional, 15 parts): Δ = UP or UP/2 -> held.
DEEP = {m: vr(m, BASE + UP / 2, label=label) for m, label in DACSL_METHODS if m in ("dcca", "acmr", "drsl", "dscmr")}
# DACSL under "triplet_reduction=sum": BASE + [.02, .03, .02, .04, .01] (mean .424). Against DSCMR, Δ = [-.03, -.03,
# -.035, -.025, -.035]: mean -.031, sd .0042, 95 % interval [-.036, -.026], p ≈ 1e-4 (Holm × 2) -> D1 refuted — reversed.
# Against the conventional methods Δ = [.02, .03, .02, .04, .01], [.010, .038] above 0 -> D2 and D3 still held.
DACSL_SUM = BASE + np.array([0.02, 0.03, 0.02, 0.04, 0.01])
# DSCMR under "shuffle=False": BASE+UP-NOISY. D1: DACSL − DSCMR = NOISY on both tasks, [-.287, .311]: holds 0 and
# reaches above δ -> not shown. D3: DSCMR − conventional = UP − NOISY, mean .098, sd .251, [-.214, .410] (not shown),
# while e.g. DCCA − CCA = UP/2 lies below its δ .431 − .209 = .222 -> not held, and a claimed gain ruled out -> D3
# refuted — claimed gain ruled out under this reading (held by default: it depends on the reading).
DSCMR_NOSHUFFLE = BASE + UP - NOISY
# SMCR Table 2 (Wikipedia): SMCR BASE+UP; the baselines tie within TINY: CCA BASE, JFSSL BASE+TINY, CMDN BASE−TINY,
# ACMR BASE+2·TINY, DSCMR BASE−2·TINY, SSACR BASE+3·TINY. S1, S2, S5 (SMCR beats ...): Δ = UP − k·TINY -> held.
# S3 (each method beats CCA at mAP@50): JFSSL − CCA = TINY etc., within ±.006, far below δ (at least .1452, JFSSL −
# CCA .3815 − .2363) -> refuted — claimed gain ruled out; S4 (each adversarial method beats CMDN): ACMR − CMDN =
# 3·TINY, ... -> ruled out, whatever SMCR does. SMCR under "most literal": BASE+NOISY, Δ = NOISY − k·TINY against
# every baseline -> S1, S2, S5 not shown (no interval lies below its δ after Holm: SMCR − CCA's one-sided p ≈
# .015-.021, × 18); S3 and S4 stay ruled out. "optimizer=sgd": BASE+UP+.01, the same verdicts as the default.
SMCR_BASELINES = {"cca": 0, "jfssl": 1, "cmdn": -1, "acmr": 2, "dscmr": -2, "ssacr": 3}
TINY = np.array([0.001, -0.001, 0.002, -0.002, 0.0])


def smcr_table(smcr_values=BASE + UP) -> list[VariantRuns]:
    return comparison(SMCR_METHODS, smcr=vr("smcr", smcr_values, label="SMCR"),
                      **{m: vr(m, BASE + k * TINY, label=m.upper()) for m, k in SMCR_BASELINES.items()})


def synthetic_chapter(chapter: str = "multiverse") -> chapters.ChapterRuns:
    groups = {
        "reading/dacsl/wikipedia": [vr("dacsl", BASE + UP, label="default"),
                                    vr("dacsl", DACSL_SUM, label="triplet_reduction=sum"),
                                    vr("dacsl", BASE + UP + 0.01, label="classifier=separate")],
        "reading/dscmr/wikipedia": [vr("dscmr", BASE + UP / 2, label="default"),
                                    vr("dscmr", DSCMR_NOSHUFFLE, label="shuffle=False")],
        "reading/smcr/wikipedia": [vr("smcr", BASE + UP, label="default"),
                                   vr("smcr", BASE + UP + 0.01, label="optimizer=sgd"),
                                   vr("smcr", BASE + NOISY, label="most literal")],
        "dacsl_table2_wikipedia/wikipedia": comparison(DACSL_METHODS, **DEEP, dacsl=vr("dacsl", BASE + UP, label="DACSL")),
        # DACSL on Pascal: no reading ran on that stand-in -> its claims are not re-judged, and say why
        "dacsl_table1_pascal/pascal": comparison(DACSL_METHODS, **DEEP, dacsl=vr("dacsl", BASE + UP, label="DACSL")),
        # DACSL's ablations read the ablated variants: not re-judged (NOT_REJUDGED["ablation"])
        "dacsl_tables3_4_ablations/wikipedia": [
            vr("dacsl", BASE, label="w/o L_pre", variant="without_pre"), vr("dacsl", BASE, label="w/o L_dis", variant="without_dis"),
            vr("dacsl", BASE, label="w/o L_tri", variant="without_tri"), vr("dacsl", BASE + UP, label="Full")],
        "smcr_table2_comparison/wikipedia": smcr_table(),
        # SMCR's α × β grid: not re-judged (NOT_REJUDGED["grid"]); its cells did not run -> not testable by default
        "smcr_fig2_sensitivity/grid": [vr("smcr", label="α=0.1, β=0.1", missing="synthetic")],
    }
    standins = {"reading/dacsl/wikipedia": DACSL_WIKI, "reading/dscmr/wikipedia": DACSL_WIKI,
                "reading/smcr/wikipedia": SMCR_WIKI, "dacsl_table2_wikipedia/wikipedia": DACSL_WIKI,
                "dacsl_table1_pascal/pascal": DACSL_PASCAL100, "dacsl_tables3_4_ablations/wikipedia": DACSL_WIKI,
                "smcr_table2_comparison/wikipedia": SMCR_WIKI, "smcr_fig2_sensitivity/grid": SMCR_WIKI}
    sc = make_scale("smoke")
    return chapters.ChapterRuns(chapters.chapter(chapter), sc, groups, standins, Runner(sc, []))


def cells(m: pd.DataFrame, cid: str) -> dict[tuple[str, str], str]:
    return {(r.method, r.universe): r.status for r in m[m.id == cid].itertuples()}


def test_matrix_rejudges_each_claim_under_each_reading():
    m = mv.matrix(synthetic_chapter())
    assert list(m.columns) == ["paper", "id", "method", "universe", "default", "status", "reason", "note", "parts"]
    # only the claims whose groups are all present: the Wikipedia comparisons, D1-D3 Pascal, the Wikipedia ablations,
    # SMCR's grid (S6 also reads the news group, D4/D7/D8 groups are absent)
    assert set(m.id) == {"D1-wikipedia", "D2-wikipedia", "D3-wikipedia", "D1-pascal", "D2-pascal", "D3-pascal",
                         "D5-wikipedia", "D6-wikipedia", "S1-wikipedia", "S2-wikipedia", "S3-wikipedia", "S4-wikipedia",
                         "S5-wikipedia", "S9", "S10"}
    # D1 reads DACSL's and DSCMR's runs: one row per universe of each (SMCR's readings are not involved)
    assert cells(m, "D1-wikipedia") == {
        ("dacsl", "default"): Status.HELD, ("dacsl", "triplet_reduction=sum"): Status.REVERSED,
        ("dacsl", "classifier=separate"): Status.HELD,
        ("dscmr", "default"): Status.HELD, ("dscmr", "shuffle=False"): Status.NOT_SHOWN}
    assert set(m[m.id == "D1-wikipedia"].default) == {Status.HELD}
    assert set(cells(m, "D2-wikipedia").values()) == {Status.HELD}
    assert cells(m, "D3-wikipedia")[("dscmr", "shuffle=False")] == Status.RULED_OUT
    assert set(cells(m, "D3-wikipedia").values()) == {Status.HELD, Status.RULED_OUT}
    # SMCR's claims read SMCR's runs and DSCMR's, the latter on SMCR's Wikipedia split, where no DSCMR reading ran
    s2 = m[m.id == "S2-wikipedia"]
    assert cells(m, "S2-wikipedia") == {("smcr", "default"): Status.HELD, ("smcr", "optimizer=sgd"): Status.HELD,
                                        ("smcr", "most literal"): Status.NOT_SHOWN, ("dscmr", "default"): "",
                                        ("dscmr", "shuffle=False"): ""}
    assert set(s2[s2.method == "dscmr"].note) == {"this reading was not run on this stand-in"}
    assert set(cells(m, "S3-wikipedia").values()) - {""} == {Status.RULED_OUT}
    assert set(cells(m, "S4-wikipedia").values()) - {""} == {Status.RULED_OUT}
    # not re-judged, each with its reason (and no status, reason or parts)
    abl = m[m.id == "D5-wikipedia"]
    assert list(abl.method) == ["dacsl"] * 3 and set(abl.status) == {""} and set(abl.reason) == {""}
    assert all(p == () for p in abl.parts)
    assert set(abl.note) == {mv.NOT_REJUDGED["ablation"]}
    assert set(m[m.id == "S9"].note) == {mv.NOT_REJUDGED["grid"]} and set(m[m.id == "S9"].default) == {Status.NOT_TESTABLE}
    assert set(m[m.id == "D1-pascal"].status) == {""}
    assert set(m[m.id == "D1-pascal"].note) == {"this reading was not run on this stand-in"}
    # the re-judged verdict's reason and parts: the worst reversed part, Δ -.031 [-.036, -.026] (see DACSL_SUM)
    flip = m[(m.id == "D1-wikipedia") & (m.universe == "triplet_reduction=sum")].iloc[0]
    assert "significantly reversed on 2 of 2 part(s)" in flip.reason and "Δ -0.031 [-0.036, -0.026]" in flip.reason
    assert [p.label for p in flip.parts] == ["Img2Txt", "Txt2Img"]
    assert [p.delta for p in flip.parts] == [pytest.approx(-0.031)] * 2


def test_effects_of_each_reading():
    m = mv.matrix(synthetic_chapter())
    e = mv.effects(m, every_part=True)
    assert list(e.columns) == ["id", "method", "universe", "status", "part", "delta", "ci_low", "ci_high", "delta_used"]
    # only re-judged rows: D1 has 5 universes × 2 parts, D3 5 × 15; not re-judged claims (D5, S9, D1-pascal) none
    assert len(e[e.id == "D1-wikipedia"]) == 10 and len(e[e.id == "D3-wikipedia"]) == 75
    assert not {"D5-wikipedia", "S9", "D1-pascal"} & set(e.id)
    s = e[(e.id == "D1-wikipedia") & (e.universe == "triplet_reduction=sum")].set_index("part")
    # δ of D1 on Wikipedia (DACSL Table 2): Img2Txt .490 − .476 = .014, Txt2Img .426 − .407 = .019
    assert s.loc["Img2Txt", "delta_used"] == pytest.approx(0.014) and s.loc["Txt2Img", "delta_used"] == pytest.approx(0.019)
    assert s.loc["Img2Txt", "delta"] == pytest.approx(-0.031) and s.loc["Img2Txt", "ci_high"] < 0
    assert set(s.status) == {"refuted — reversed"}
    # the NOISY reading: its interval holds 0
    n = e[(e.id == "S2-wikipedia") & (e.universe == "most literal")]
    assert len(n) == 3 and (n.ci_low < 0).all() and (n.ci_high > 0).all() and set(n.status) == {"not shown"}
    # by default one row per (claim, universe): the part nearest to failing "held", the lowest lower bound.
    # D3 by default: the other deep methods' parts (UP/2, lower bound .045) are below DACSL's (UP, .090); the first
    # of those equal ones in the claim's order is DCCA − CCA. Under DSCMR shuffle=False, DSCMR's parts (UP − NOISY,
    # lower bound -.214) are the weakest: DSCMR − CCA first.
    w = mv.effects(m)
    assert len(w) == (m.status != "").sum()
    d3 = w[w.id == "D3-wikipedia"].set_index(["method", "universe"])
    assert d3.loc[("dacsl", "default"), "part"] == "DCCA − CCA"
    assert d3.loc[("dscmr", "shuffle=False"), "part"] == "DSCMR − CCA"
    assert d3.loc[("dscmr", "shuffle=False"), "ci_low"] == pytest.approx(-0.214, abs=1e-3)


def test_robustness_compares_conclusions_not_labels():
    rob = mv.robustness(mv.matrix(synthetic_chapter())).set_index("id")
    # D1: held by default, refuted (reversed) under one reading: conclusions that exclude each other
    assert rob.loc["D1-wikipedia", "robustness"] == Robustness.DEPENDS
    assert set(rob.loc["D1-wikipedia", "flips"].split("; ")) == {"DACSL triplet_reduction=sum → refuted — reversed",
                                                                 "DSCMR shuffle=False → not shown"}
    # D3: held, and refuted — claimed gain ruled out under DSCMR shuffle=False: depends, too
    assert rob.loc["D3-wikipedia", "robustness"] == Robustness.DEPENDS
    assert rob.loc["D3-wikipedia", "flips"] == "DSCMR shuffle=False → refuted — claimed gain ruled out"
    assert rob.loc["D2-wikipedia", "robustness"] == Robustness.SAME
    assert rob.loc["D2-wikipedia", "flips"] == "5 reading(s) re-judged, none changes the verdict"  # 3 of DACSL, 2 of DSCMR
    # S1, S2, S5: held -> not shown under SMCR's most literal reading: no reading reaches the opposite conclusion
    for cid in ("S1-wikipedia", "S2-wikipedia", "S5-wikipedia"):
        assert rob.loc[cid, "robustness"] == Robustness.NO_CONFLICT
        assert rob.loc[cid, "flips"] == "SMCR most literal → not shown"
    assert rob.loc["S3-wikipedia", "robustness"] == rob.loc["S4-wikipedia", "robustness"] == Robustness.SAME
    assert rob.loc["S3-wikipedia", "flips"].startswith("3 reading(s)")  # SMCR's 3; DSCMR's were not re-judged
    for cid in ("D5-wikipedia", "D6-wikipedia"):
        assert rob.loc[cid, "robustness"] == Robustness.NOT_REJUDGED and rob.loc[cid, "flips"] == mv.NOT_REJUDGED["ablation"]
    assert rob.loc["S10", "robustness"] == Robustness.NOT_REJUDGED and rob.loc["S10", "flips"] == mv.NOT_REJUDGED["grid"]
    assert rob.loc["D2-pascal", "robustness"] == Robustness.NOT_REJUDGED


def test_a_move_between_held_and_not_shown_alone_is_no_conflict():
    # Without the reversing DACSL reading, D1 moves only between held and not shown (DSCMR shuffle=False): noise near
    # a threshold, not a conclusion that excludes another
    ch = synthetic_chapter()
    ch.groups["reading/dacsl/wikipedia"][1] = vr("dacsl", BASE + UP, label="triplet_reduction=sum")
    rob = mv.robustness(mv.matrix(ch)).set_index("id")
    assert rob.loc["D1-wikipedia", "robustness"] == Robustness.NO_CONFLICT
    assert rob.loc["D1-wikipedia", "flips"] == "DSCMR shuffle=False → not shown"
    # and a default that is not shown, held under one reading and not shown under the rest: no conflict either;
    # SMCR's default at BASE+NOISY makes S2 not shown, the readings give held (BASE+UP) and not shown
    ch.groups["smcr_table2_comparison/wikipedia"] = smcr_table(BASE + NOISY)
    ch.groups["reading/smcr/wikipedia"][0] = vr("smcr", BASE + NOISY, label="default")
    ch.groups["reading/smcr/wikipedia"][2] = vr("smcr", BASE + UP, label="most literal")
    rob = mv.robustness(mv.matrix(ch)).set_index("id")
    assert rob.loc["S2-wikipedia", "robustness"] == Robustness.NO_CONFLICT
    assert set(rob.loc["S2-wikipedia", "flips"].split("; ")) == {"SMCR optimizer=sgd → held", "SMCR most literal → held"}


def test_a_reading_that_could_not_run_is_not_a_flip():
    ch = synthetic_chapter()
    ch.groups["reading/dscmr/wikipedia"][1] = vr("dscmr", label="shuffle=False", missing="data not available: synthetic")
    m = mv.matrix(ch)
    row = m[(m.id == "D1-wikipedia") & (m.universe == "shuffle=False")].iloc[0]
    assert row.status == "" and "could not be run" in row.note and "synthetic" in row.note
    rob = mv.robustness(m).set_index("id")
    assert rob.loc["D1-wikipedia", "flips"] == "DACSL triplet_reduction=sum → refuted — reversed"
    # D3's only flip was that reading: now the same under the 4 readings that ran
    assert rob.loc["D3-wikipedia", "robustness"] == Robustness.SAME
    assert rob.loc["D3-wikipedia", "flips"] == "4 reading(s) re-judged, none changes the verdict"


def test_the_thresholds_reach_every_reading():
    # at α = .001 the reversal of D1 under triplet_reduction=sum still stands (p ≈ 1e-4 per part, Holm × 2 ≈ 2e-4)
    m = mv.matrix(synthetic_chapter(), Thresholds(alpha=0.001))
    assert cells(m, "D1-wikipedia")[("dacsl", "triplet_reduction=sum")] == Status.REVERSED
    # a smallest effect of interest of .5 mAP: every interval of D1 lies below it, but held precedes ruled out
    m = mv.matrix(synthetic_chapter(), Thresholds(min_effect=0.5))
    assert cells(m, "D1-wikipedia")[("dacsl", "default")] == Status.HELD
    assert set(mv.effects(m, every_part=True).delta_used) == {0.5}


def test_reading_effects_and_validation_pick():
    ch = synthetic_chapter()
    # validation prefers "classifier=separate" on DACSL (val .60 vs .50), whatever its test mAP
    ch.groups["reading/dacsl/wikipedia"] = [vr("dacsl", BASE + UP, label="default", val=np.full(5, 0.50)),
                                           vr("dacsl", DACSL_SUM, label="triplet_reduction=sum", val=np.full(5, 0.55)),
                                           vr("dacsl", BASE + UP - 0.01, label="classifier=separate", val=np.full(5, 0.60))]
    e = mv.reading_effects(ch)
    d = e[e.method == "dacsl"].set_index("universe")
    assert list(d.index) == ["default", "triplet_reduction=sum", "classifier=separate"]
    assert d.loc["default", "test mAP"] == pytest.approx((BASE + UP).mean())
    assert d.loc["classifier=separate", "Δ test"] == pytest.approx(-0.01)
    # a constant difference over 5 seeds has no variance estimate: no test, never p = 0
    assert np.isnan(d.loc["classifier=separate", "p (paired t)"])
    # DACSL_SUM − default = [.02, .03, .02, .04, .01] − UP = [-.08, -.09, -.09, -.09, -.08]: a real paired t
    assert d.loc["triplet_reduction=sum", "p (paired t)"] == pytest.approx(
        sstats.ttest_1samp(DACSL_SUM - BASE - UP, 0).pvalue)
    assert np.isnan(d.loc["default", "Δ test"])  # the default is the reference
    lo, hi = d.loc["default", "test 95% CI"]
    assert lo < (BASE + UP).mean() < hi and d.loc["default", "units"] == 5
    pick = mv.validation_pick(e).set_index("method")
    assert pick.loc["dacsl", "validation picks"] == "classifier=separate"
    assert pick.loc["dacsl", "its test mAP"] == pytest.approx((BASE + UP - 0.01).mean())
    assert pick.loc["dacsl", "default's val mAP"] == pytest.approx(0.50)


# a constant shift equal only up to float rounding once got p ≈ 2.5e-61 here (found by this test): no test, never p = 0
def test_reading_effects_a_constant_shift_up_to_rounding_has_no_test():
    ch = synthetic_chapter()
    # the default at BASE, a reading exactly .03 above it on every seed (equal up to float rounding)
    ch.groups["reading/dacsl/wikipedia"] = [vr("dacsl", BASE, label="default"),
                                           vr("dacsl", BASE + 0.03, label="classifier=separate")]
    d = mv.reading_effects(ch).query("method == 'dacsl'").set_index("universe")
    assert d.loc["classifier=separate", "Δ test"] == pytest.approx(0.03)
    assert np.isnan(d.loc["classifier=separate", "p (paired t)"])


def test_with_robustness_adds_the_column_to_the_ledger():
    sc = make_scale("smoke")
    declared = chapters.declared("claims_ledger", sc)
    groups = {g: [VariantRuns(r.method, r.standin.dataset, r.label, r.variant, missing="synthetic") for r in reqs]
              for g, reqs in declared.items() if not g.startswith("reading/")}
    standins = {g: reqs[0].standin for g, reqs in declared.items() if not g.startswith("reading/")}
    syn = synthetic_chapter()
    groups |= syn.groups
    standins |= syn.standins
    ch = chapters.ChapterRuns(chapters.chapter("claims_ledger"), sc, groups, standins, Runner(sc, []))
    rows = mv.with_robustness(claims.ledger(ch), ch)
    assert list(rows.id) == [c.id for c in claims.CLAIMS]
    assert list(rows.columns[-2:]) == ["robustness", "flips"]
    rob = dict(zip(rows.id, rows.robustness))
    assert rob["D1-wikipedia"] == Robustness.DEPENDS and rob["D2-wikipedia"] == Robustness.SAME
    assert rob["S2-wikipedia"] == Robustness.NO_CONFLICT
    # claims that read no run of DACSL, SMCR or DSCMR: the conventional baselines' numbers, the fixed ones
    assert rob["D8"] == rob["D9"] == rob["S11"] == rob["S12"] == Robustness.NONE
    # the news comparison ran nothing here and no reading ran on news: not re-judged, not a flip
    assert rob["D1-news"] == Robustness.NOT_REJUDGED
    from xmr.study import tables

    html = tables.ledger_html(rows.to_dict("records"))
    assert "<th>robustness across readings</th>" in html and "DACSL triplet_reduction=sum → refuted — reversed" in html
    assert str(Robustness.DEPENDS) in html and str(Robustness.NO_CONFLICT) in html
    assert "<th>robustness across readings</th>" not in tables.ledger_html(claims.ledger(ch).to_dict("records"))


# --------------------------------------------------------------------------- universes
#: Where each method's readings run (hand-listed: the stand-ins of the claims that read its full runs; Pascal: the
#: real protocol when its features are here, else the 5-fold stand-in).
STAND_INS = {"dacsl": {"pascal": pascal_standin(), "wikipedia": DACSL_WIKI, "news": DACSL_STANDINS["news"]},
             "smcr": {"wikipedia": SMCR_WIKI, "news": SMCR_STANDINS["news"]},
             "dscmr": {"wikipedia": DACSL_WIKI}}
CASES = [(m, k) for m, by in STAND_INS.items() for k in by]


def _freeze(v):
    return tuple(_freeze(x) for x in v) if isinstance(v, (list, tuple)) else v


def declared_readings(method: str) -> list:
    """The readings the multiverse runs: every declared one for DACSL and SMCR, DSCMR's departures from its code."""
    rs = registry.get(method).cls.readings
    return [r for r in rs if r.option in ("shuffle", "input_norm")] if method == "dscmr" else list(rs)


def features(method: str, key: str) -> str:
    s = STAND_INS[method][key]
    return feature_set(s.dataset, s.options)


@pytest.mark.parametrize("method,key", CASES)
def test_universes_one_per_alternative_default_first(method, key):
    us = mv.universes(method, STAND_INS[method][key])
    assert (us[0].name, us[0].kind, us[0].overrides) == ("default", "default", ())
    alts = [u for u in us if u.kind == "alternative"]
    expected = set()
    for r in declared_readings(method):
        default = _freeze(r.default_for(features(method, key)))
        expected |= {(r.option, _freeze(v)) for v in r.values if _freeze(v) != default}
    got = [(u.option, _freeze(u.value)) for u in alts]
    assert len(got) == len(set(got)) and set(got) == expected
    for u in alts:
        over = dict(u.overrides)
        assert _freeze(over[u.option]) == _freeze(u.value) and u.name.startswith(f"{u.option}=")
        assert set(over) - {u.option} <= {"lr"}  # only a declared companion rides along
    assert [u.kind for u in us].count("most literal") <= 1 and us[-1].kind in ("most literal", "alternative")
    assert [u.kind for u in us][1:len(alts) + 1] == ["alternative"] * len(alts)


def test_input_norm_alternatives_follow_the_feature_set():
    def norms(method, key):
        return {u.value for u in mv.universes(method, STAND_INS[method][key]) if u.option == "input_norm"}

    # each method's input normalisation was chosen per feature set: that choice is the default, the rest alternatives
    assert norms("dacsl", "wikipedia") == {"standardize", "l2"}  # Wikipedia default: none
    assert norms("dacsl", "pascal") == {"none", "standardize"}  # Pascal default: l2
    assert norms("smcr", "wikipedia") == {"none", "l2"}  # default: standardize
    assert norms("smcr", "news") == {"standardize", "l2"}  # BoW default: none
    assert norms("dscmr", "wikipedia") == {"none", "standardize"}  # default: l2


@pytest.mark.parametrize("method,key", CASES)
def test_most_literal_sets_every_declared_literal_that_differs_from_the_default(method, key):
    cls = registry.get(method).cls
    literal = most_literal(cls)
    expected = {}
    for r in declared_readings(method):
        if r.option in literal and _freeze(literal[r.option]) != _freeze(r.default_for(features(method, key))):
            expected[r.option] = _freeze(literal[r.option])
    if method == "smcr" and expected.get("optimizer") == "sgd":
        expected["lr"] = 0.1  # the companion: plain SGD at the rate validation chose for it
    us = [u for u in mv.universes(method, STAND_INS[method][key]) if u.kind == "most literal"]
    if not expected:
        assert us == []
        return
    assert len(us) == 1 and us[0].name == "most literal"
    assert {k: _freeze(v) for k, v in us[0].overrides} == expected


def test_most_literal_spot_checks():
    lit = {(m, k): dict(u.overrides) for m, k in CASES for u in mv.universes(m, STAND_INS[m][k]) if u.kind == "most literal"}
    # SMCR's Algorithm 1 is plain SGD: the most literal SMCR trains with SGD at lr 0.1 (COMPANIONS), on both stand-ins
    assert lit[("smcr", "wikipedia")]["optimizer"] == lit[("smcr", "news")]["optimizer"] == "sgd"
    assert lit[("smcr", "wikipedia")]["lr"] == lit[("smcr", "news")]["lr"] == 0.1
    # raw input where the default normalises it; no input_norm where the default is already raw
    assert lit[("smcr", "wikipedia")]["input_norm"] == "none" and "input_norm" not in lit[("smcr", "news")]
    assert "input_norm" not in lit[("dacsl", "wikipedia")] and lit[("dacsl", "pascal")]["input_norm"] == "none"
    # DSCMR: their code's loader (no shuffling) and raw features; only those two departures are read
    assert lit[("dscmr", "wikipedia")] == {"input_norm": "none", "shuffle": False}
    # Eq. 1's sum over anchors
    assert lit[("dacsl", "wikipedia")]["triplet_reduction"] == "sum"


# --------------------------------------------------------------------------- what each scale runs
def test_smoke_scale_runs_a_tiny_multiverse():
    g = mv.reading_groups(make_scale("smoke"))
    assert set(g) == {"reading/dacsl/wikipedia", "reading/smcr/wikipedia", "reading/dscmr/wikipedia"}
    for name, reqs in g.items():
        method = name.split("/")[1]
        standin = SMCR_WIKI if method == "smcr" else DACSL_WIKI
        assert {r.standin for r in reqs} == {standin} and {r.method for r in reqs} == {method}
        assert all(r.variant == "full" and not r.without for r in reqs)
        labels = [r.label for r in reqs]
        assert len(labels) == 3 and labels[0] == "default" and "most literal" in labels
        # the one alternative: the first declared reading with a value other than the stand-in's default, its first such value
        fs = feature_set(standin.dataset, standin.options)
        first = next((r.option, v) for r in declared_readings(method) for v in r.values
                     if _freeze(v) != _freeze(r.default_for(fs)))
        alt = [r for r in reqs if r.label not in ("default", "most literal")]
        assert len(alt) == 1 and dict(alt[0].hparams)[first[0]] == first[1]
        assert dict(reqs[0].hparams) == {}


def test_full_scale_runs_exactly_the_listed_options():
    g = mv.reading_groups(make_scale("full"))
    assert set(g) == {f"reading/{m}/{k}" for m, k in CASES}
    for m, k in CASES:
        reqs = g[f"reading/{m}/{k}"]
        assert reqs[0].label == "default" and reqs[-1].label == "most literal"
        assert all(r.standin == STAND_INS[m][k] for r in reqs)
        fs = features(m, k)
        expected = {f"{r.option}={v}" for r in declared_readings(m) if r.option in mv.FULL_SCALE[m]
                    for v in r.values if _freeze(v) != _freeze(r.default_for(fs))}
        assert {r.label for r in reqs[1:-1]} == expected and len(reqs) == len(expected) + 2
    # the loss balance and the training procedure: these are the ones the full scale runs
    assert {"triplet_reduction", "adversarial_update", "classifier"} <= set(mv.FULL_SCALE["dacsl"])
    assert mv.FULL_SCALE["dscmr"] == ("shuffle",)


def test_left_out_at_full_scale_lists_every_other_option_with_a_reason():
    lo = mv.left_out(make_scale("full"))
    got = set(zip(lo.method, lo.option))
    declared = {(m, r.option) for m in ("dacsl", "smcr", "dscmr") for r in declared_readings(m)}
    ran = {(m, o) for m, opts in mv.FULL_SCALE.items() for o in opts}
    assert ran <= declared  # FULL_SCALE names only declared options
    assert got == declared - ran and len(lo) == len(got)
    assert all(isinstance(w, str) and w for w in lo.why)
    assert all(a for a in lo.alternatives)
    why = dict(zip(zip(lo.method, lo.option), lo.why))
    assert "validation" in why[("dacsl", "input_norm")] and "sensitivity" in why[("smcr", "alpha")]
    # DSCMR's other readings are not part of the multiverse at all (they follow its authors' code)
    assert ("dscmr", "betas") not in got


# --------------------------------------------------------------------------- the declarations
@pytest.mark.parametrize("scale_name", ["smoke", "full"])
def test_multiverse_declares_the_readings_and_the_ledger_sources(scale_name):
    sc = make_scale(scale_name)
    mv_groups = chapters.declared("multiverse", sc)
    readings = {k for k in mv_groups if k.startswith("reading/")}
    assert readings == set(mv.reading_groups(sc))
    sources = {f"{name}/{g}": reqs for name in chapters.LEDGER_SOURCES for g, reqs in chapters.declared(name, sc).items()}
    assert set(mv_groups) == readings | set(sources)
    for key, reqs in sources.items():
        assert mv_groups[key] == reqs
    # every claim that reads runs reads a group the multiverse declares
    for c in claims.CLAIMS:
        assert all(f"{c.chapter}/{g}" in mv_groups for g in c.groups), c.id
    # the ledger also declares the power plan's campaign (served when archived, never trained by a build)
    ledger = chapters.declared("claims_ledger", sc)
    assert {k: v for k, v in ledger.items() if not k.startswith("campaign/")} == mv_groups
    assert all(r.campaign for k, reqs in ledger.items() if k.startswith("campaign/") for r in reqs)


# --------------------------------------------------------------------------- what the page shows (multiverse_views)
def test_the_pages_views_of_the_synthetic_multiverse():
    from xmr.study import multiverse_views as views

    ch = synthetic_chapter()
    m = mv.matrix(ch)
    rob = mv.robustness(m)
    # the summary counts each robustness by hand-checkable categories: D1 and D3 depend (held under one reading,
    # refuted under another), D2, S3, S4 the same everywhere, S1, S2, S5 only move to "not shown"
    text = views.summary_text(rob)
    assert f"**{len(rob)}**" not in text and f"Of the {len(rob)} claims" in text
    assert "**2** depend on the reading" in text and "(D1-wikipedia, D3-wikipedia)" in text
    assert "D1-wikipedia" in views.depends_text(rob, m) and "D2-wikipedia" not in views.depends_text(rob, m)
    # the effect of DACSL's summed triplet reduction on DACSL: Δ test = mean(DACSL_SUM − (BASE + UP)) by hand
    eff = views.effects_table(mv.reading_effects(ch))
    row = eff.loc[("DACSL", "wikipedia", "triplet_reduction=sum")]
    assert row["Δ test vs default"] == f"{float(np.mean(DACSL_SUM - (BASE + UP))):+.3f}" and row["units"] == 5
    assert row["test mAP [95% CI]"].startswith(f"{float(np.mean(DACSL_SUM)):.3f} [")
    # the matrix: the universe that refutes D1 is marked × beside its verdict; ablation claims are listed, not rows
    tables_, notes = views.matrix_views(m)
    dacsl = dict((name, (wide, line)) for name, wide, line in tables_)["DACSL"]
    cell = dacsl[0].loc[("D1-wikipedia", str(Status.HELD)), "triplet_reduction=sum"]
    assert cell.endswith(" ×") and cell.startswith("refuted")
    assert "D5-wikipedia" in dacsl[1] and notes.startswith("Notes:")
    assert "D5-wikipedia" in views.not_rejudged_table(m).loc["ablation", "claims here"]
    assert list(views.robustness_table(rob).columns) == ["claim", "robustness", "flips"]
