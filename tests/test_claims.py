"""The claims ledger as library code (xmr.study.claims): every rule on hand-built runs, at its thresholds' edges.

Runs are built by hand (a few seeds with chosen scores, loss curves, precision-recall points); each expected
verdict is reasoned from the paper's claim and the pre-registered rule (book/verdicts.md, xmr.study.verdicts),
never read back from the code. The numbers the reasoning needs, worked out once (5 seeds, Student t with 4
degrees of freedom, t_0.975 = 2.776):

* ``UP`` as a paired difference: mean .110, sd .0158, 95 % interval [.090, .130], two-sided p ≈ 1.0e-4;
* ``NOISY``: mean .012, sd .241, 95 % interval [-.287, .311], p ≈ .92: neither sign shown;
* ``TINY``: mean 0, sd .00158, 95 % interval [-.002, .002]: inside ±δ for every δ ≥ .01 (the smallest effect of
  interest), so below the claimed gain (ruled out) and equivalent to no difference within ±δ.

δ of a part (the gain the paper claims) is read by hand from xmr/study/published/published.csv and raised to the
smallest effect of interest, .01; each test says which numbers it took. A part's status follows the precedence
reversed > held > ruled out > not assessable > not shown; a claim with a part that did not run is not testable
unless another part is significantly reversed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from xmr.study import chapters, claims, standins, tables
from xmr.study.claims import (CONVERGENCE_MAX_TAIL_CHANGE, CONVERGENCE_MIN_EPOCHS, CONVERGENCE_MIN_SHARE_DECREASING,
                              PR_HELD, PR_NOT_HELD, PUBLISHED_TOLERANCE, RANK_MIN_METHODS, SENSITIVITY_MAX_SPREAD)
from xmr.study.runner import Runner, VariantRuns
from xmr.study.scale import scale as make_scale
from xmr.study.stats import convergence_stats
from xmr.study.verdicts import PREREGISTERED, Part, Robustness, Status, Thresholds, Verdict, compare, decide

SEEDS = (0, 1, 2, 3, 4)
BASE = np.array([0.40, 0.42, 0.38, 0.41, 0.39])
UP = np.array([0.10, 0.12, 0.11, 0.13, 0.09])  # mean .11, 95 % interval [.090, .130], p ≈ 1e-4
NOISY = np.array([0.30, -0.25, 0.20, -0.20, 0.01])  # mean +.012, 95 % interval [-.287, .311], p ≈ .92
TINY = np.array([0.001, -0.001, 0.002, -0.002, 0.0])  # mean 0, 95 % interval [-.002, .002]
J = UP - UP.mean()  # UP's spread around 0: sd .0158, half-width of the 95 % interval .0196
COLUMNS = ("i2t", "t2i", "avg", "i2t@5", "t2i@5", "avg@5", "i2t@25", "t2i@25", "avg@25", "i2t@50", "t2i@50", "avg@50")

HELD, REVERSED, RULED_OUT = Status.HELD, Status.REVERSED, Status.RULED_OUT
NOT_SHOWN, NOT_ASSESSABLE = Status.NOT_SHOWN, Status.NOT_ASSESSABLE
DESCRIPTIVE, NOT_TESTABLE = Status.DESCRIPTIVE, Status.NOT_TESTABLE


def C(claim_id: str) -> claims.Claim:
    return {c.id: c for c in claims.CLAIMS}[claim_id]


def judged(claim_id: str, groups, th: Thresholds = PREREGISTERED) -> claims.Judgement:
    return claims.judge(C(claim_id), groups, th)


def status(claim_id: str, groups, th: Thresholds = PREREGISTERED) -> Status:
    return judged(claim_id, groups, th).status


def parts(claim_id: str, groups) -> dict[str, Part]:
    return {p.label: p for p in judged(claim_id, groups).verdict.parts}


def vr(method: str, values=BASE, *, label: str | None = None, variant: str = "full", missing: str | None = None,
       history: pd.DataFrame | None = None, pr: pd.DataFrame | None = None, hparams: dict | None = None,
       **columns) -> VariantRuns:
    """One method's runs: every score column = ``values`` (per seed) unless given in ``columns``."""
    label = label or method.upper()
    if missing is not None:
        return VariantRuns(method, "synthetic", label, variant, missing=missing, hparams=hparams or {})
    values = np.asarray(values, dtype=float)
    table = pd.DataFrame({"fold": -1, "seed": list(SEEDS[:len(values)])})
    for col in COLUMNS:
        table[col] = np.asarray(columns.get(col.replace("@", "_at_"), values), dtype=float)
    table = table.assign(method=method, dataset="synthetic", variant=variant, label=label)
    return VariantRuns(method, "synthetic", label, variant, table,
                       history if history is not None else pd.DataFrame(), pr if pr is not None else pd.DataFrame(),
                       hparams=hparams or {})


def group(methods, **runs: VariantRuns) -> list[VariantRuns]:
    """A comparison group in the table's order: ``runs`` where given, else the method at BASE."""
    return [runs.get(m, vr(m, label=label)) for m, label in methods]


def dacsl(**runs):
    return group(chapters.DACSL_METHODS, **runs)


def smcr(**runs):
    return group(chapters.SMCR_METHODS, **runs)


def missing(m: str) -> VariantRuns:
    return vr(m, missing="synthetic: not run")


def series(values, folds=None) -> pd.Series:
    """Scores indexed by unit (fold, seed) as :func:`xmr.study.stats.unit_scores` gives them; fold -1: no CV."""
    values = np.asarray(values, dtype=float)
    folds = [-1] * len(values) if folds is None else folds
    return pd.Series(values, index=pd.MultiIndex.from_arrays([folds, list(range(len(values)))], names=["fold", "seed"]))


def part(label: str, diffs, **kw) -> Part:
    """A part whose paired differences are ``diffs`` (B is 0 on every unit)."""
    diffs = np.asarray(diffs, dtype=float)
    return compare(label, series(diffs), series(np.zeros(len(diffs))), **kw)


# --------------------------------------------------------------------------- the building blocks: compare and decide
def test_one_part_statuses():
    assert decide([part("a", UP)]).status == HELD  # interval [.090, .130] above 0
    assert decide([part("a", -UP)]).status == REVERSED  # Δ < 0, p ≈ 1e-4 < .05
    assert decide([part("a", NOISY)]).status == NOT_SHOWN  # [-.287, .311] holds 0 and reaches above δ = .01
    # [-.002, .002] holds 0 (not held) and lies below δ = .01 (ruled out), and above -δ: equivalent within ±δ
    v = decide([part("a", TINY)])
    assert v.status == RULED_OUT and v.parts[0].equivalent and "1 part(s) equivalent within ±δ" in v.reason
    # one unit: no variance estimate, so no test at all (never p = 0)
    one = decide([compare("a", series([0.9]), series([0.5]))])
    assert one.status == NOT_ASSESSABLE and one.parts[0].n_units == 1 and math.isnan(one.parts[0].p)
    # identical runs differing by the same amount on every unit: no spread, no variance estimate
    same = decide([compare("a", series(BASE + 0.05), series(BASE))])
    assert same.status == NOT_ASSESSABLE and "no spread" in same.reason and math.isnan(same.parts[0].p)
    assert decide([compare("a", pd.Series([], dtype=float), series(BASE))]).status == NOT_TESTABLE
    assert decide([]).status == NOT_TESTABLE


def test_a_part_carries_its_numbers():
    p = decide([part("a", UP, delta_claimed=0.05, delta_source="Table 9")]).parts[0]
    assert (p.unit, p.n_units) == ("seed", 5) and p.delta == pytest.approx(0.11) and p.wins == 1.0
    assert (p.ci_low, p.ci_high) == (pytest.approx(0.0904, abs=1e-4), pytest.approx(0.1296, abs=1e-4))
    assert p.p == pytest.approx(sstats.ttest_1samp(UP, 0).pvalue) and p.p_holm == p.p  # one part: Holm changes nothing
    assert (p.delta_claimed, p.delta_source, p.delta_used) == (0.05, "Table 9", 0.05)
    # a claimed gain below the smallest effect of interest (or none) is raised to it
    assert part("a", UP, delta_claimed=0.004).delta_used == part("a", UP).delta_used == PREREGISTERED.min_effect == 0.01
    assert part("a", UP, delta_claimed=-0.02).delta_used == 0.01  # the paper's own table shows no gain


def test_held_at_the_alpha_edge():
    # Two units, differences (1, 1 + e): mean 1 + e/2, sd e/√2, so t = 2/e + 1 with 1 degree of freedom. The interval
    # lies above 0 exactly when t > t_{1 - α/2, 1}, i.e. e < e* = 2 / (t_crit - 1).
    for alpha in (0.05, 0.01):
        th = Thresholds(alpha=alpha)
        e_star = 2 / (sstats.t.ppf(1 - alpha / 2, 1) - 1)
        assert decide([part("a", [1.0, 1.0 + 0.99 * e_star], th=th)], th).status == HELD
        # just outside: not held; Δ ≈ 1 is far above δ = .01, so nothing is ruled out either
        assert decide([part("a", [1.0, 1.0 + 1.01 * e_star], th=th)], th).status == NOT_SHOWN


def test_ruled_out_and_reversed_at_their_edges():
    # Differences c + J over 5 units: 95 % interval c ± h with h = t_{.975,4} · sd(J)/√5 ≈ .0196; δ = .01 (no claim).
    h = sstats.t.ppf(0.975, 4) * np.std(J, ddof=1) / math.sqrt(5)
    assert h == pytest.approx(0.0196, abs=1e-4)
    d = 0.01
    eps = 0.0005
    assert decide([part("a", h + eps + J)]).status == HELD  # lower bound just above 0
    assert decide([part("a", h - eps + J)]).status == NOT_SHOWN  # holds 0, upper bound 2h > δ
    assert decide([part("a", d - h + eps + J)]).status == NOT_SHOWN  # upper bound just above δ
    assert decide([part("a", d - h - eps + J)]).status == RULED_OUT  # upper bound just below δ, lower below 0
    assert decide([part("a", -h + eps + J)]).status == RULED_OUT  # upper bound just above 0: not reversed
    assert decide([part("a", -h - eps + J)]).status == REVERSED  # upper bound below 0: significantly reversed
    # held, with the paper's larger claim ruled out: the direction is shown, the size is not: still held
    v = decide([part("a", h + eps + J, delta_claimed=0.05)])
    assert v.status == HELD and "the paper's size of gain is ruled out on 1 part(s)" in v.reason
    # ... and a one-row summary says both: the direction is shown, the paper's size is not
    assert v.gist == "every part's 95 % interval lies above 0, but the paper's size of gain is ruled out on 1 part(s)"
    # the interval's upper bound 2h + eps ≈ .040 lies below δ .05 (ruled out), not below δ .03: the gist then says
    # only the direction
    assert decide([part("a", h + eps + J, delta_claimed=0.03)]).gist == "every part's 95 % interval lies above 0"


def test_precedence_when_parts_disagree():
    held, shown_not, rev, ruled = part("h", UP), part("n", NOISY), part("r", -UP), part("o", TINY)
    one_unit = compare("a", series([0.9]), series([0.5]))
    not_run = Part("t", status=NOT_TESTABLE, note="not run")
    assert decide([held, held]).status == HELD
    assert decide([held, shown_not]).status == NOT_SHOWN
    assert decide([held, shown_not, rev]).status == REVERSED  # p ≈ 1e-4, Holm × 3 still < .05
    assert decide([held, ruled]).status == RULED_OUT
    assert decide([ruled, one_unit]).status == RULED_OUT
    assert decide([held, one_unit]).status == NOT_ASSESSABLE
    assert decide([shown_not, one_unit]).status == NOT_ASSESSABLE
    assert decide([rev, not_run]).status == REVERSED
    assert decide([held, not_run]).status == NOT_TESTABLE
    assert decide([not_run, not_run]).status == NOT_TESTABLE


def test_holm_over_a_claims_parts():
    # Δ = -(.023 + J): t = -3.25, two-sided p ≈ .031 < .05: reversed when alone
    weak = -(0.023 + J)
    p = sstats.ttest_1samp(weak, 0).pvalue
    assert 0.025 < p < 0.05 and 2 * p > 0.05
    assert decide([part("a", weak)]).status == REVERSED
    # two such parts: Holm multiplies the smaller p by 2 (> .05), so neither is reversed; but both intervals lie
    # far below δ = .01 (one-sided p ≈ .005, × 2 = .01 < .025): the claimed gain is ruled out
    v = decide([part("a", weak), part("b", weak)])
    assert v.status == RULED_OUT and all(q.p_holm == pytest.approx(2 * p) for q in v.parts)


# --------------------------------------------------------------------------- rows, ledger html
def test_claim_rows_and_ledger_html():
    pt = decide([part("Txt2Img", UP)]).parts
    c = claims.Claim("DACSL", "D1", "DACSL beats <DSCMR>", "Sec. 4.2", "dacsl_table2_wikipedia", (),
                     lambda g, th: Verdict(HELD, "Δ = +0.01 & more", pt))
    j = claims.judge(c, {})
    assert j.status == HELD and j.verdict.reason == "Δ = +0.01 & more"
    row = j.row()
    assert row == {"paper": "DACSL", "id": "D1", "claim": "DACSL beats <DSCMR>", "where": "Sec. 4.2", "status": HELD,
                   "reason": "Δ = +0.01 & more", "chapter": "dacsl_table2_wikipedia", "parts": pt,
                   "basis": "published split", "published_status": HELD}
    assert j.to_dict()["status"] == "held" and j.to_dict()["parts"][0]["label"] == "Txt2Img"
    html = tables.ledger_html([row])
    assert 'href="dacsl_table2_wikipedia.html"' in html and "&lt;DSCMR&gt;" in html and "&amp; more" in html
    assert f'background:{tables.STATUS_COLOURS["held"]}' in html and "<b>held</b>" in html
    assert "<details><summary>1 part(s)</summary>" in html and "Txt2Img" in html  # the parts open below the reason
    assert "robustness" not in html and "previous rule" not in html
    # with the previous rule's label and the robustness columns
    more = row | {"old_status": "not held", "robustness": Robustness.NO_CONFLICT, "flips": "SMCR sgd → not shown"}
    html = tables.ledger_html([more, {**row, "id": "D2", "status": RULED_OUT, "parts": ()}])
    assert "<th>robustness across readings</th>" in html and "previous rule: not held" in html
    assert str(Robustness.NO_CONFLICT) in html and "<small>SMCR sgd → not shown</small>" in html
    assert "<b>refuted — claimed gain ruled out</b>" in html and html.count("<details>") == 1
    bad = claims.Claim("x", "y", "z", "w", "c", (), lambda g, th: ("maybe", "e"))
    with pytest.raises(TypeError, match="Verdict"):
        claims.judge(bad, {})


# --------------------------------------------------------------------------- the declarations
def test_claim_ids_unique_and_both_papers_complete():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids))
    expected = ({f"D{i}-{k}" for i in (1, 2, 3, 5, 6) for k in ("pascal", "wikipedia", "news")}
                | {f"D{i}-{k}" for i in (4, 7) for k in ("pascal", "wikipedia")} | {"D8", "D9"}
                | {f"S{i}-{k}" for i in (1, 2, 3, 4, 5, 7, 8) for k in ("news", "wikipedia")} | {"S6", "S9", "S10", "S11", "S12"})
    assert set(ids) == expected
    assert {c.paper for c in claims.CLAIMS if c.id.startswith("D")} == {"DACSL"}
    assert {c.paper for c in claims.CLAIMS if c.id.startswith("S")} == {"SMCR"}


@pytest.mark.parametrize("scale_name", ["smoke", "full"])
def test_every_claim_reads_groups_its_chapter_declares(scale_name):
    sc = make_scale(scale_name)
    for c in claims.CLAIMS:
        assert c.chapter in chapters.names() and c.chapter != "claims_ledger", c.id
        declared = chapters.declared(c.chapter, sc)
        assert set(c.groups) <= set(declared), (c.id, c.groups, list(declared))
        # and the rule runs on exactly those groups as the chapter declares them (every run missing here)
        runs = {g: [VariantRuns(r.method, r.standin.dataset, r.label, r.variant, missing="synthetic", hparams=dict(r.hparams))
                    for r in reqs] for g, reqs in declared.items()}
        j = claims.judge(c, runs)
        if c.id == "D9":  # reads no runs: descriptive with the real Pascal protocol, else not testable
            assert j.status == (NOT_TESTABLE if standins.pascal_standin().dataset != "pascal" else DESCRIPTIVE)
        else:
            assert j.status == NOT_TESTABLE, (c.id, j.verdict)


def test_chapters_of_the_claims():
    where = {c.id: c.chapter for c in claims.CLAIMS}
    assert where["D1-pascal"] == where["D9"] == "dacsl_table1_pascal"
    assert where["D1-wikipedia"] == where["D1-news"] == where["D8"] == "dacsl_table2_wikipedia"
    assert {where["D4-pascal"], where["D5-news"], where["D7-wikipedia"]} == {
        "dacsl_fig2_fig3_pr_curves", "dacsl_tables3_4_ablations", "dacsl_fig4_convergence"}
    assert where["S1-news"] == where["S6"] == where["S12"] == "smcr_table2_comparison"
    assert where["S7-wikipedia"] == "smcr_tables3_4_ablations" and where["S9"] == where["S11"] == "smcr_fig2_sensitivity"
    assert C("D1-pascal").groups == ("pascal",) and C("D1-news").groups == ("news",) and C("D8").groups == ("official",)
    assert set(C("S6").groups) == {"news", "wikipedia"} and C("S9").groups == ("grid",)


def test_judge_refuses_a_missing_group():
    with pytest.raises(KeyError, match="wikipedia"):
        claims.judge(C("D1-wikipedia"), {"news": dacsl()})


# --------------------------------------------------------------------------- DACSL
# δ of D1 (DACSL − DSCMR, DACSL Tables 1-2): Pascal Img2Txt .718 − .710 = .008 (raised to .01), Txt2Img .728 − .703
# = .025; Wikipedia .490 − .476 = .014, .426 − .407 = .019; news (a dataset DACSL did not use): the smaller of the
# two, .008 (→ .01) and .019.
D1_DELTA = {"pascal": (0.008, 0.025), "wikipedia": (0.014, 0.019), "news": (0.008, 0.019)}


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d1_dacsl_beats_dscmr_on_both_tasks(key):
    cid = f"D1-{key}"
    up = vr("dacsl", BASE + UP)
    j = judged(cid, {key: dacsl(dacsl=up)})
    # Δ = UP on both tasks: [.090, .130] above 0, and above both δ (≤ .025): held, no size ruled out
    assert j.status == HELD and "every part's 95 % interval lies above 0" in j.verdict.reason
    assert "ruled out" not in j.verdict.reason
    i2t, t2i = j.verdict.parts
    assert (i2t.label, t2i.label) == ("Img2Txt", "Txt2Img")
    assert (i2t.delta_claimed, t2i.delta_claimed) == (pytest.approx(D1_DELTA[key][0]), pytest.approx(D1_DELTA[key][1]))
    assert (i2t.delta_used, t2i.delta_used) == (pytest.approx(max(0.01, D1_DELTA[key][0])), pytest.approx(D1_DELTA[key][1]))
    # better on Img2Txt, significantly worse on Txt2Img (p ≈ 1e-4, Holm × 2): reversed
    j = judged(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE - UP))})
    assert j.status == REVERSED and "significantly reversed on 1 of 2 part(s)" in j.verdict.reason
    # Txt2Img Δ = NOISY: [-.287, .311] holds 0 and reaches above δ: not shown (a non-significant sign flip is no refutation)
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE + NOISY))}) == NOT_SHOWN
    # Txt2Img Δ = TINY: [-.002, .002] lies below δ = .019 / .025 (one-sided p ≈ 6e-6, Holm × 2): ruled out, equivalent
    j = judged(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE + TINY))})
    assert j.status == RULED_OUT and "1 part(s) equivalent within ±δ" in j.verdict.reason
    # one seed each: one unit, no variance estimate: not assessable, never p = 0
    j = judged(cid, {key: dacsl(dacsl=vr("dacsl", [0.9]), dscmr=vr("dscmr", [0.5]))})
    assert j.status == NOT_ASSESSABLE and all(p.n_units == 1 and math.isnan(p.p) for p in j.verdict.parts)
    assert status(cid, {key: dacsl(dacsl=up, dscmr=missing("dscmr"))}) == NOT_TESTABLE
    # only DSCMR matters: every other method far above DACSL changes nothing
    others = {m: vr(m, BASE + 0.5) for m, _ in chapters.DACSL_METHODS if m not in ("dacsl", "dscmr")}
    assert status(cid, {key: dacsl(dacsl=up, **others)}) == HELD


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_a_stricter_alpha_changes_a_borderline_verdict(key):
    # Txt2Img Δ = .03 + J: t = 4.24 (p ≈ .013). 95 % interval [.010, .050] lies above 0: held at α = .05. 99 %
    # interval [-.003, .063] holds 0: not held at α = .01; not reversed (Δ > 0); not ruled out (the upper bound .063
    # is above δ ≤ .025): not shown. Img2Txt (Δ = UP, 99 % interval [.077, .143]) holds at both levels.
    groups = {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE + 0.03 + J))}
    assert status(f"D1-{key}", groups) == HELD
    strict = judged(f"D1-{key}", groups, Thresholds(alpha=0.01))
    assert strict.status == NOT_SHOWN
    i2t, t2i = strict.verdict.parts
    assert i2t.status == HELD and t2i.status == NOT_SHOWN and t2i.ci_low < 0 < t2i.ci_high


# δ of D2 (DACSL − CCA / GMA / LCFS, average mAP): Pascal .723 − .453 = .270, − .383 = .340, − .306 = .417;
# Wikipedia .458 − .209 = .249, − .253 = .205, − .247 = .211; news: the smaller of each pair, .249, .205, .211.
D2_DELTA = {"pascal": (0.270, 0.340, 0.417), "wikipedia": (0.249, 0.205, 0.211), "news": (0.249, 0.205, 0.211)}


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d2_dacsl_beats_each_conventional_method(key):
    cid = f"D2-{key}"
    up = vr("dacsl", BASE + UP)
    j = judged(cid, {key: dacsl(dacsl=up)})
    # Δ = UP: [.090, .130] above 0 (held), and below every δ ≥ .205: "much better" is ruled out, the direction held
    assert j.status == HELD and "the paper's size of gain is ruled out on 3 part(s)" in j.verdict.reason
    # the findings page's one-row summary keeps both halves of that verdict
    [glance] = claims.at_a_glance(claims.ledger_frame([j])).to_dict("records")
    assert glance["verdict"] == "held" and glance["why"].endswith("ruled out on 3 part(s)")
    assert [p.label for p in j.verdict.parts] == ["CCA", "GMA", "LCFS"]
    assert [p.delta_claimed for p in j.verdict.parts] == [pytest.approx(d) for d in D2_DELTA[key]]
    assert status(cid, {key: dacsl(dacsl=up, gma=vr("gma", BASE + 2 * UP))}) == REVERSED  # Δ = -UP
    # DACSL − LCFS = NOISY: not shown on its own; but the CCA and GMA parts' intervals [.090, .130] lie below their δ
    # (≥ .205): not held, and a claimed gain ruled out: refuted, not "not shown"
    j = judged(cid, {key: dacsl(dacsl=up, lcfs=vr("lcfs", BASE + UP - NOISY))})
    assert j.status == RULED_OUT
    lcfs = j.verdict.parts[2]
    # LCFS's own upper bound .311 is below δ = .417 on Pascal (one-sided p ≈ .0099 < .025) but above .211 elsewhere
    assert lcfs.status == (RULED_OUT if key == "pascal" else NOT_SHOWN)
    assert status(cid, {key: dacsl(dacsl=up, cca=missing("cca"))}) == NOT_TESTABLE
    # judged on the average mAP only: a reversed Img2Txt with a higher average still holds
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, i2t=BASE - UP, t2i=BASE + 3 * UP))}) == HELD


def fold_runs(method: str, per_fold, seed_noise, label: str | None = None) -> VariantRuns:
    """5 folds × 5 seeds: score(fold f, seed s) = per_fold[f] + seed_noise[s]."""
    rows = [{"fold": f, "seed": s, **{c: per_fold[f] + seed_noise[s] for c in COLUMNS}}
            for f in range(5) for s in range(5)]
    table = pd.DataFrame(rows).assign(method=method, dataset="pascal100", variant="full", label=label or method.upper())
    return VariantRuns(method, "pascal100", label or method.upper(), "full", table)


def test_d2_on_folds_uses_the_fold_as_unit():
    # Pascal's stand-in is cross-validated: 5 folds × 5 seeds = 25 runs per method, but runs of one fold share their
    # training and test pairs, so the unit is the fold, each method's seeds averaged within it. DACSL's seed noise
    # (10 · TINY) and CCA's averages to 0 in every fold; GMA and LCFS are deterministic (the same score for every seed).
    # Fold means: DACSL − conventional = UP → 5 units, Δ = .11, [.090, .130]: held (and "much" ruled out, δ ≥ .270).
    runs = {"dacsl": fold_runs("dacsl", BASE + UP, 10 * TINY), "cca": fold_runs("cca", BASE, [0, 0.005, -0.005, 0.01, -0.01]),
            "gma": fold_runs("gma", BASE, np.zeros(5)), "lcfs": fold_runs("lcfs", BASE, np.zeros(5))}
    j = judged("D2-pascal", {"pascal": dacsl(**runs)})
    assert j.status == HELD
    for p in j.verdict.parts:
        assert (p.unit, p.n_units) == ("fold", 5)
        assert p.delta == pytest.approx(0.11) and p.p == pytest.approx(sstats.ttest_1samp(UP, 0).pvalue)
        assert math.isfinite(p.p_corrected)  # Nadeau-Bengio over the 25 (fold, seed) pairs, shown beside it


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d3_every_deep_method_above_every_conventional(key):
    cid = f"D3-{key}"
    deep = {m: vr(m, BASE + UP) for m in ("dcca", "acmr", "drsl", "dscmr", "dacsl")}
    j = judged(cid, {key: dacsl(**deep)})
    # 15 parts, every deep − every conventional = UP: all above 0, held (each far below the paper's gain, ≥ .151)
    assert j.status == HELD and len(j.verdict.parts) == 15
    labels = {p.label: p for p in j.verdict.parts}
    assert set(labels) == {f"{d} − {c}" for d in ("DCCA", "ACMR", "DRSL", "DSCMR", "DACSL") for c in ("CCA", "GMA", "LCFS")}
    # δ: Wikipedia DACSL − CCA .458 − .209 = .249; Pascal DCCA − LCFS .620 − .306 = .314; news DCCA − CCA: the smaller
    # of Pascal's .620 − .453 = .167 and Wikipedia's .431 − .209 = .222
    pick = {"pascal": ("DCCA − LCFS", 0.314), "wikipedia": ("DACSL − CCA", 0.249), "news": ("DCCA − CCA", min(0.167, 0.222))}
    assert labels[pick[key][0]].delta_claimed == pytest.approx(pick[key][1])
    # GMA above every deep method (deep − GMA = -UP on 5 parts): reversed, whatever the other 10 parts say
    j = judged(cid, {key: dacsl(**deep, gma=vr("gma", BASE + 2 * UP))})
    assert j.status == REVERSED and "on 5 of 15 part(s)" in j.verdict.reason
    # LCFS ties the deep methods (deep − LCFS = TINY): not higher; those intervals lie within ±.002, far below δ: ruled out
    assert status(cid, {key: dacsl(**deep, lcfs=vr("lcfs", BASE + UP - TINY))}) == RULED_OUT
    assert status(cid, {key: dacsl(**(deep | {"drsl": missing("drsl")}))}) == NOT_TESTABLE
    assert status(cid, {key: dacsl(**deep, cca=missing("cca"))}) == NOT_TESTABLE


GRID = np.round(np.linspace(0, 1, 21), 4)  # the recall grid of stats.interpolated_pr
IN_RANGE = 19  # recall points 0.05 ... 0.95 (stats.pr_dominance's range), per task


def pr_frame(below: dict[str, int] | None) -> pd.DataFrame:
    """Precision-recall points on the recall grid, per task, relative to DACSL's curve p(r) = 1 − r/2.

    ``below=None`` is DACSL's curve. Otherwise the curve is 0.01 above DACSL's at the low-recall points
    and 0.01 below at the last ``below[task]`` in-range points, so DACSL ≥ it at exactly that many of the 19
    in-range points of the task (both curves fall with recall, so interpolation keeps them as they are).
    """
    rows = []
    for task in ("i2t", "t2i"):
        for i, r in enumerate(GRID):
            p = 1 - r / 2
            if below is not None:
                p += -0.01 if i >= IN_RANGE + 1 - below[task] else 0.01
            rows.append({"fold": -1, "seed": 0, "task": task, "recall": r, "precision": p})
    return pd.DataFrame(rows)


def pr_group(shares: dict[str, tuple[int, int]] | None = None, **runs) -> list[VariantRuns]:
    """The methods of DACSL Figs. 2-3; ``shares[method] = (i2t, t2i)`` in-range points where DACSL ≥ method."""
    shares = shares or {}
    out = []
    for m, label in chapters.DEEP_DACSL_PR_METHODS:
        if m in runs:
            out.append(runs[m])
            continue
        below = None if m == "dacsl" else dict(zip(("i2t", "t2i"), shares.get(m, (IN_RANGE, IN_RANGE))))
        out.append(vr(m, label=label, pr=pr_frame(below)))
    return out


@pytest.mark.parametrize("key", ["pascal", "wikipedia"])
def test_d4_pr_dominance_is_descriptive_at_its_thresholds(key):
    cid = f"D4-{key}"

    def reads(groups) -> str:
        j = judged(cid, groups)
        assert j.status == DESCRIPTIVE and not j.verdict.parts  # a threshold on mean curves, no uncertainty
        return j.verdict.reason

    n = 2 * IN_RANGE  # 38 points over both tasks
    assert "the threshold reads above every method" in reads({key: pr_group()})  # DACSL at or above everywhere (share 1)
    # just above / below PR_HELD against one method (ACMR); a share of exactly PR_HELD is unreachable with 38 points
    k = math.ceil(PR_HELD * n)
    assert k / n >= PR_HELD > (k - 1) / n
    split = lambda total: (min(total, IN_RANGE), total - min(total, IN_RANGE))  # noqa: E731
    r = reads({key: pr_group({"acmr": split(k)})})
    assert "reads above every method" in r and f"ACMR {k / n:.2f}" in r
    assert "reads crossing" in reads({key: pr_group({"acmr": split(k - 1)})})
    # PR_NOT_HELD: exactly half the points is not "fewer than half" (19/38 = 0.5)
    h = PR_NOT_HELD * n
    assert h == int(h)
    assert "reads crossing" in reads({key: pr_group({"drsl": split(int(h))})})
    assert "reads below at least one method" in reads({key: pr_group({"drsl": split(int(h) - 1)})})
    # the weakest comparison decides: one above everywhere, one below everywhere
    assert "reads below at least one method" in reads({key: pr_group({"cca": split(n), "dscmr": (0, 0)})})
    # a method that did not run, or ran without precision-recall points: not testable
    assert status(cid, {key: pr_group(dscmr=missing("dscmr"))}) == NOT_TESTABLE
    assert status(cid, {key: pr_group(dacsl=vr("dacsl", label="DACSL"))}) == NOT_TESTABLE


def ablation(full=BASE, pre=BASE, dis=BASE, tri=BASE, **runs) -> list[VariantRuns]:
    spec = [("without_pre", "w/o L_pre", pre), ("without_dis", "w/o L_dis", dis), ("without_tri", "w/o L_tri", tri),
            ("full", "Full", full)]
    return [runs.get(v, vr("dacsl", values, label=label, variant=v)) for v, label, values in spec]


# δ of D5 (full − each ablation, average mAP, DACSL Tables 3-4): Pascal .723 − .560 = .163 (w/o L_pre), − .686 = .037
# (L_dis), − .692 = .031 (L_tri); Wikipedia .458 − .407 = .051, − .443 = .015, − .440 = .018; news: the smaller of each.
D5_DELTA = {"pascal": (0.163, 0.037, 0.031), "wikipedia": (0.051, 0.015, 0.018), "news": (0.051, 0.015, 0.018)}


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d5_full_objective_beats_each_ablation(key):
    cid = f"D5-{key}"
    j = judged(cid, {key: ablation(full=BASE + UP)})
    assert j.status == HELD and [p.label for p in j.verdict.parts] == ["w/o L_pre", "w/o L_dis", "w/o L_tri"]
    assert [p.delta_claimed for p in j.verdict.parts] == [pytest.approx(d) for d in D5_DELTA[key]]
    # only Pascal's L_pre gain (.163) lies above the interval [.090, .130] (one-sided p ≈ 8e-4, Holm × 3 < .025)
    assert ("the paper's size of gain is ruled out on 1 part(s)" in j.verdict.reason) == (key == "pascal")
    assert status(cid, {key: ablation(full=BASE + UP, tri=BASE + 2 * UP)}) == REVERSED  # full − w/o L_tri = -UP
    # full − w/o L_dis = NOISY (not shown); on Pascal the L_pre part's interval lies below its δ .163: ruled out
    assert status(cid, {key: ablation(full=BASE + UP, dis=BASE + UP - NOISY)}) == (
        RULED_OUT if key == "pascal" else NOT_SHOWN)
    assert status(cid, {key: ablation(full=BASE + UP, without_dis=vr("dacsl", missing="x", variant="without_dis"))}) \
        == NOT_TESTABLE


# δ of D6 (each other ablation − w/o L_pre): Pascal .686 − .560 = .126 (w/o L_dis), .692 − .560 = .132 (w/o L_tri);
# Wikipedia .443 − .407 = .036, .440 − .407 = .033; news: the smaller, .036 and .033.
D6_DELTA = {"pascal": (0.126, 0.132), "wikipedia": (0.036, 0.033), "news": (0.036, 0.033)}


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d6_label_prediction_loss_matters_most(key):
    cid = f"D6-{key}"
    # w/o L_pre lowest: w/o L_dis − w/o L_pre = UP, w/o L_tri − w/o L_pre = UP + .05; both above 0: held
    j = judged(cid, {key: ablation(pre=BASE - UP, dis=BASE, tri=BASE + 0.05)})
    assert j.status == HELD
    assert [p.label for p in j.verdict.parts] == ["w/o L_dis − w/o L_pre", "w/o L_tri − w/o L_pre"]
    assert [p.delta_claimed for p in j.verdict.parts] == [pytest.approx(d) for d in D6_DELTA[key]]
    # lowest on average, not significantly: NOISY and NOISY + .05, upper bounds .311 / .361 above every δ: not shown
    assert status(cid, {key: ablation(pre=BASE - NOISY, dis=BASE, tri=BASE + 0.05)}) == NOT_SHOWN
    # another term's removal hurts more: w/o L_dis − w/o L_pre = -UP: reversed
    assert status(cid, {key: ablation(pre=BASE - UP, dis=BASE - 2 * UP)}) == REVERSED
    # a tie with w/o L_dis (Δ = TINY, within ±.002, below δ ≥ .036) is not "the most impact": ruled out
    assert status(cid, {key: ablation(pre=BASE - UP, dis=BASE - UP + TINY, tri=BASE)}) == RULED_OUT
    assert status(cid, {key: ablation(pre=BASE - UP, without_tri=vr("dacsl", missing="x", variant="without_tri"))}) \
        == NOT_TESTABLE
    # the full model's own score plays no part
    assert status(cid, {key: ablation(full=BASE - 3 * UP, pre=BASE - UP, dis=BASE, tri=BASE + 0.05)}) == HELD


def history(loss, seeds=(0,)) -> pd.DataFrame:
    return pd.DataFrame([{"fold": -1, "seed": s, "epoch": e + 1, "loss": float(v)} for s in seeds for e, v in enumerate(loss)])


def conv(loss, **kw) -> list[VariantRuns]:
    return [vr("dacsl", label="DACSL", history=history(loss, **kw))]


@pytest.mark.parametrize("key", ["pascal", "wikipedia"])
def test_d7_loss_convergence_is_descriptive_at_its_thresholds(key):
    cid = f"D7-{key}"

    def reads(loss, **kw) -> str:
        j = judged(cid, {key: conv(loss, **kw)})
        assert j.status == DESCRIPTIVE  # one mean curve against thresholds, no uncertainty
        return "reads converges" if "reads converges" in j.verdict.reason else (
            "reads does not converge" if "reads does not converge" in j.verdict.reason else j.verdict.reason)

    geometric = [1 + 4 * 0.5 ** e for e in range(20)]  # falls every epoch, flat at the end
    assert reads(geometric, seeds=(0, 1)) == "reads converges"
    assert reads(geometric[::-1]) == "reads does not converge"  # rises
    # tail change at the threshold: epochs 17-18 at 20, epochs 19-20 at 20·(1 − limit): change = limit exactly
    head = [40.0 - e for e in range(16)]
    at = head + [20.0, 20.0] + [20.0 * (1 - CONVERGENCE_MAX_TAIL_CHANGE)] * 2
    assert convergence_stats(pd.Series(at))["relative_tail_change"] == CONVERGENCE_MAX_TAIL_CHANGE
    assert reads(at) == "reads does not converge"  # must be strictly below
    inside = head + [20.0, 20.0] + [20.0 * (1 - CONVERGENCE_MAX_TAIL_CHANGE / 2)] * 2
    assert reads(inside) == "reads converges"
    # share of decreasing steps at the threshold (21 epochs = 20 steps): downs of 1, then ups of 0.5
    n_down = CONVERGENCE_MIN_SHARE_DECREASING * 20
    assert n_down == int(n_down)
    zigzag = lambda downs: list(100 + np.cumsum([0.0] + [-1.0] * downs + [0.5] * (20 - downs)))  # noqa: E731
    assert convergence_stats(pd.Series(zigzag(int(n_down))))["share_decreasing"] == CONVERGENCE_MIN_SHARE_DECREASING
    assert reads(zigzag(int(n_down))) == "reads converges"
    assert reads(zigzag(int(n_down) - 1)) == "reads does not converge"
    # epochs: CONVERGENCE_MIN_EPOCHS is enough, one fewer is not testable
    short = [1 + 4 * 0.5 ** e for e in range(CONVERGENCE_MIN_EPOCHS)]
    assert reads(short) == "reads converges"
    assert status(cid, {key: conv(short[:-1])}) == NOT_TESTABLE
    assert status(cid, {key: [vr("dacsl", label="DACSL")]}) == NOT_TESTABLE  # no history
    assert status(cid, {key: [missing("dacsl")]}) == NOT_TESTABLE


PUBLISHED_T2 = {"cca": (0.221, 0.196), "gma": (0.272, 0.232), "lcfs": (0.280, 0.214)}  # DACSL Table 2, (Img2Txt, Txt2Img)


def official(delta: dict[str, tuple[float, float]] | None = None, **runs) -> list[VariantRuns]:
    delta = delta or {}
    out = []
    for m, (i2t, t2i) in PUBLISHED_T2.items():
        di, dt = delta.get(m, (0.0, 0.0))
        out.append(runs.get(m, vr(m, [0.0, 0.0], i2t=[i2t + di] * 2, t2i=[t2i + dt] * 2)))
    return out


def test_d8_published_conventional_numbers_are_descriptive_within_tolerance():
    tol = PUBLISHED_TOLERANCE

    def reads(runs) -> str:
        j = judged("D8", {"official": runs})
        assert j.status == DESCRIPTIVE  # deterministic methods on one split: a distance to a number, no test
        return j.verdict.reason

    r = reads(official())
    assert all(f"{m} Img2Txt Δ +0.000, Txt2Img Δ +0.000 (within)" in r for m in ("CCA", "GMA", "LCFS"))
    assert f"(threshold ±{tol:g})" in r
    assert "GMA Img2Txt Δ +0.030, Txt2Img Δ -0.030 (within)" in reads(official({"gma": (0.99 * tol, -0.99 * tol)}))
    assert "GMA Img2Txt Δ +0.030, Txt2Img Δ +0.000 (outside)" in reads(official({"gma": (1.01 * tol, 0.0)}))
    r = reads(official({"lcfs": (0.0, -1.01 * tol)}))
    assert "LCFS Img2Txt Δ +0.000, Txt2Img Δ -0.030 (outside)" in r and "CCA Img2Txt Δ +0.000, Txt2Img Δ +0.000 (within)" in r
    assert status("D8", {"official": official(cca=missing("cca"))}) == NOT_TESTABLE


def test_d9_depends_on_the_real_pascal_protocol(monkeypatch):
    monkeypatch.setattr(standins, "pascal_standin", lambda: standins.DACSL_STANDINS["pascal"])
    assert status("D9", {}) == NOT_TESTABLE
    real = standins.StandIn("pascal", "pascal", None, "Pascal Sentence (800/100/100)", "pascal_sentence")
    monkeypatch.setattr(standins, "pascal_standin", lambda: real)
    j = judged("D9", {})
    # the rule reads no runs (the chapter page sets the numbers beside the published ones): descriptive, never a verdict
    assert j.status == DESCRIPTIVE and "real protocol ran" in j.verdict.reason
    assert C("D9").groups == ()


# --------------------------------------------------------------------------- SMCR
def at_k(method, **per_k) -> VariantRuns:
    """SMCR-table runs: avg@5/25/50 per seed (default BASE) — the columns the SMCR rules read."""
    cols = {f"avg_at_{k}": per_k.get(f"k{k}", BASE) for k in (5, 25, 50)}
    return vr(method, BASE, label=dict(chapters.SMCR_METHODS).get(method), **cols)


BEST = {"k5": BASE + UP, "k25": BASE + UP, "k50": BASE + UP}


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s1_smcr_beats_every_baseline_at_every_k(key):
    cid = f"S1-{key}"
    best = at_k("smcr", **BEST)
    j = judged(cid, {key: smcr(smcr=best)})
    assert j.status == HELD and len(j.verdict.parts) == 18  # 6 baselines × mAP@5/25/50
    # δ from SMCR Table 2 (news stands in for SciTechDaily): SMCR − CCA at mAP@5 .5030 − .2071 / .6036 − .2396
    cca5 = {p.label: p for p in j.verdict.parts}["CCA mAP@5"]
    assert cca5.delta_claimed == pytest.approx({"news": 0.2959, "wikipedia": 0.3640}[key])
    # one baseline above SMCR at one k (Δ = -UP; 18 parts with p ≈ 1e-4, Holm × 18 ≈ .002 < .05): reversed
    assert status(cid, {key: smcr(smcr=best, jfssl=at_k("jfssl", k50=BASE + 2 * UP))}) == REVERSED
    # SMCR − CMDN at mAP@25 = NOISY: not shown; but SMCR − CCA's interval [.090, .130] lies below its δ (≥ .2959):
    # the claimed gain is ruled out
    assert status(cid, {key: smcr(smcr=best, cmdn=at_k("cmdn", k25=BASE + UP - NOISY))}) == RULED_OUT
    assert status(cid, {key: smcr(smcr=best, ssacr=missing("ssacr"))}) == NOT_TESTABLE


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s2_smcr_above_ssacr(key):
    cid = f"S2-{key}"
    best = at_k("smcr", **BEST)
    # only SSACR counts: every other baseline above SMCR changes nothing
    others = {m: at_k(m, k5=BASE + 3 * UP, k25=BASE + 3 * UP, k50=BASE + 3 * UP)
              for m in ("cca", "jfssl", "cmdn", "acmr", "dscmr")}
    assert status(cid, {key: smcr(smcr=best, **others)}) == HELD
    assert status(f"S1-{key}", {key: smcr(smcr=best, **others)}) == REVERSED  # SMCR − others = -2 UP
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k5=BASE + 2 * UP))}) == REVERSED
    # δ (SMCR − SSACR, Table 2): news .0199, .0241, .0095 (→ .01); Wikipedia .0252, .0010 (→ .01), .0045 (→ .01).
    # mAP@50 Δ = NOISY: upper bound .311 above δ; the other two parts [.090, .130] above their δ: not shown
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k50=BASE + UP - NOISY))}) == NOT_SHOWN
    # SMCR ties SSACR at every k (Δ = -TINY, within ±.002, below δ ≥ .01; one-sided p ≈ 7e-5, Holm × 3): ruled out
    tie = at_k("ssacr", k5=BASE + UP + TINY, k25=BASE + UP + TINY, k50=BASE + UP + TINY)
    j = judged(cid, {key: smcr(smcr=best, ssacr=tie)})
    assert j.status == RULED_OUT and "3 part(s) equivalent within ±δ" in j.verdict.reason
    assert status(cid, {key: smcr(smcr=missing("smcr"))}) == NOT_TESTABLE


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s3_every_method_beats_cca_at_50(key):
    cid = f"S3-{key}"
    up = {m: at_k(m, k50=BASE + UP, k5=BASE - UP) for m in ("jfssl", "cmdn", "acmr", "dscmr", "ssacr", "smcr")}
    j = judged(cid, {key: smcr(**up)})
    assert j.status == HELD and [p.label for p in j.verdict.parts] == ["JFSSL", "CMDN", "ACMR", "DSCMR", "SSACR", "SMCR"]
    assert status(cid, {key: smcr(**(up | {"jfssl": at_k("jfssl", k50=BASE - UP)}))}) == REVERSED
    # CMDN − CCA = NOISY (not shown); but e.g. ACMR − CCA's interval [.090, .130] lies below its δ (news .4612 − .2007 =
    # .2605, Wikipedia .5355 − .2363 = .2992; one-sided p ≈ 1e-5, Holm × 6): ruled out
    assert status(cid, {key: smcr(**(up | {"cmdn": at_k("cmdn", k50=BASE + NOISY)}))}) == RULED_OUT
    assert status(cid, {key: smcr(**up, cca=missing("cca"))}) == NOT_TESTABLE


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s3_with_two_deterministic_methods_is_not_assessable_never_p_0(key):
    # CCA and JFSSL are closed-form fits: the same score for every seed, so their comparison is one unit with no
    # variance estimate (not assessable; p stays undefined, never 0), even though JFSSL is .05 above CCA on every seed.
    # The other methods (.59 + UP, varying by seed) against CCA (.30): Δ = .29 + UP, [.38, .42], above 0 and above every
    # δ (at most .3368, Wikipedia SMCR − CCA): held, none ruled out. So the claim is not assessable.
    cid = f"S3-{key}"
    det = {m: vr(m, np.full(5, v), label=m.upper()) for m, v in (("cca", 0.30), ("jfssl", 0.35))}
    others = {m: at_k(m, k50=0.59 + UP) for m in ("cmdn", "acmr", "dscmr", "ssacr", "smcr")}
    j = judged(cid, {key: smcr(**det, **others)})
    assert j.status == NOT_ASSESSABLE and "JFSSL: two deterministic methods on one split" in j.verdict.reason
    by = {p.label: p for p in j.verdict.parts}
    jf = by["JFSSL"]
    assert jf.status == NOT_ASSESSABLE and (jf.unit, jf.n_units) == ("deterministic pair", 1) and jf.delta == pytest.approx(0.05)
    assert math.isnan(jf.p) and math.isnan(jf.p_holm) and math.isnan(jf.ci_low) and not jf.assessable
    assert all(by[m].status == HELD and by[m].n_units == 5 for m in ("CMDN", "ACMR", "DSCMR", "SSACR", "SMCR"))
    # JFSSL below CCA by the same amount: still one unit, never "reversed"
    det["jfssl"] = vr("jfssl", np.full(5, 0.25), label="JFSSL")
    assert status(cid, {key: smcr(**det, **others)}) == NOT_ASSESSABLE


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s4_adversarial_methods_beat_cmdn_at_50(key):
    cid = f"S4-{key}"
    up = {m: at_k(m, k50=BASE + UP) for m in ("smcr", "acmr", "dscmr", "ssacr")}
    # JFSSL and CCA are not adversarial: above CMDN or not, they do not count
    assert status(cid, {key: smcr(**up, jfssl=at_k("jfssl", k50=BASE + 3 * UP), cca=at_k("cca", k50=BASE - UP))}) == HELD
    assert status(cid, {key: smcr(**(up | {"acmr": at_k("acmr", k50=BASE - UP)}))}) == REVERSED
    # SSACR − CMDN = NOISY: not shown. δ (− CMDN at mAP@50): news SMCR .1091, ACMR .0895, DSCMR .0921, SSACR .0996;
    # Wikipedia .1325, .0949, .1306, .1280. On Wikipedia SMCR's and DSCMR's intervals [.090, .130] lie just below their δ
    # (one-sided p .017 and .022), but Holm over the 4 parts makes them .067 and .065 > .025: nothing ruled out
    assert status(cid, {key: smcr(**(up | {"ssacr": at_k("ssacr", k50=BASE + NOISY)}))}) == NOT_SHOWN
    assert status(cid, {key: smcr(**up, cmdn=missing("cmdn"))}) == NOT_TESTABLE


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s5_smcr_beats_acmr_and_dscmr(key):
    cid = f"S5-{key}"
    best = at_k("smcr", **BEST)
    # δ (SMCR − ACMR / DSCMR, Table 2) at most .039 (Wikipedia ACMR mAP@5): below every interval [.090, .130]
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k50=BASE + 3 * UP))}) == HELD  # SSACR not part
    assert status(cid, {key: smcr(smcr=best, dscmr=at_k("dscmr", k25=BASE + 2 * UP))}) == REVERSED
    assert status(cid, {key: smcr(smcr=best, acmr=at_k("acmr", k5=BASE + UP - NOISY))}) == NOT_SHOWN
    assert status(cid, {key: smcr(smcr=best, acmr=missing("acmr"))}) == NOT_TESTABLE


def smcr_ablation(full=None, imi=None, con=None, **runs) -> list[VariantRuns]:
    spec = [("without_imi", "SMCR (without L_imi)", imi), ("without_con", "SMCR (without L_con)", con), ("full", "SMCR", full)]
    out = []
    for v, label, k in spec:
        if v in runs:
            out.append(runs[v])
            continue
        k = k or {}
        r = vr("smcr", BASE, label=label, variant=v, **{f"avg_at_{n}": k.get(f"k{n}", BASE) for n in (5, 25, 50)})
        out.append(r)
    return out


@pytest.mark.parametrize("key", ["news", "wikipedia"])
@pytest.mark.parametrize("cid,variant,other", [("S7", "imi", "con"), ("S8", "con", "imi")])
def test_s7_s8_removing_a_term_hurts(key, cid, variant, other):
    cid = f"{cid}-{key}"
    full = BEST
    better_other = {f"k{n}": BASE + 2 * UP for n in (5, 25, 50)}
    # δ (full − ablated, SMCR Tables 3-4) at most .0236 (news, w/o L_con at mAP@25): below every interval [.090, .130]
    j = judged(cid, {key: smcr_ablation(full=full, **{other: better_other})})
    # the other variant beating the full model does not matter to this claim
    assert j.status == HELD and [p.label for p in j.verdict.parts] == ["mAP@5", "mAP@25", "mAP@50"]
    assert status(cid, {key: smcr_ablation(full=full, **{variant: {"k25": BASE + 2 * UP}})}) == REVERSED
    assert status(cid, {key: smcr_ablation(full=full, **{variant: {"k50": BASE + UP - NOISY}})}) == NOT_SHOWN
    not_run = {v: vr("smcr", missing="x", variant=v) for v in (f"without_{variant}", f"without_{other}")}
    assert status(cid, {key: smcr_ablation(full=full, **{f"without_{variant}": not_run[f"without_{variant}"]})}) \
        == NOT_TESTABLE
    assert status(cid, {key: smcr_ablation(full=full, **{f"without_{other}": not_run[f"without_{other}"]})}) == HELD


def ranked(order: list[str], ran: set[str] | None = None) -> list[VariantRuns]:
    """SMCR's methods with mean avg@50 increasing along ``order`` (methods not in ``ran`` did not run)."""
    out = []
    for m, label in chapters.SMCR_METHODS:
        if ran is not None and m not in ran:
            out.append(missing(m))
        else:
            out.append(at_k(m, k50=BASE + 0.01 * order.index(m)))
    return out


def test_s6_methods_rank_consistently():
    order = [m for m, _ in chapters.SMCR_METHODS]
    alpha = PREREGISTERED.alpha
    # 7 methods in the same order: τ = 1, exact two-sided p = 2/7! ≈ .0004 < α: held
    assert 2 / math.factorial(7) < alpha
    j = judged("S6", {"news": ranked(order), "wikipedia": ranked(order)})
    assert j.status == HELD and "= 1.00" in j.verdict.reason
    assert status("S6", {"news": ranked(order), "wikipedia": ranked(order[::-1])}) == REVERSED  # τ = −1, same p
    # RANK_MIN_METHODS methods on both, same order: τ = 1 but p = 2/3! = 1/3 ≥ α: not shown
    three = set(order[:RANK_MIN_METHODS])
    assert 2 / math.factorial(RANK_MIN_METHODS) >= alpha
    assert status("S6", {"news": ranked(order, three), "wikipedia": ranked(order)}) == NOT_SHOWN
    # 5 methods: p = 2/5! ≈ .017: held at α = .05, not shown at α = .01
    five = set(order[:5])
    assert 0.01 < 2 / math.factorial(5) < 0.05
    assert status("S6", {"news": ranked(order, five), "wikipedia": ranked(order)}) == HELD
    assert status("S6", {"news": ranked(order, five), "wikipedia": ranked(order)}, Thresholds(alpha=0.01)) == NOT_SHOWN
    # one fewer method on both datasets: not testable (the other dataset's methods do not help)
    fewer = set(order[:RANK_MIN_METHODS - 1])
    assert status("S6", {"news": ranked(order, fewer), "wikipedia": ranked(order)}) == NOT_TESTABLE
    assert status("S6", {"news": ranked(order, three), "wikipedia": ranked(order, set(order[1:]))}) == NOT_TESTABLE


FULL_GRID = (0.1, 1.0, 10.0, 100.0)
NAMED_T2I = 0.39 + UP  # the named cell α = β = .1 by default: mean .50, varying by seed


def grid(avg: dict | None = None, t2i: dict | None = None, default_avg: float = 0.0, default_t2i: float = 0.3,
         holes=()) -> list[VariantRuns]:
    """SMCR's α × β grid (full scale), five seeds per cell: avg@50 and t2i@50 as given (a number: the same for every
    seed), else ``default_avg`` and ``default_t2i`` (the named cell's t2i@50: NAMED_T2I)."""
    out = []
    for a in FULL_GRID:
        for b in FULL_GRID:
            hp = {"alpha": a, "beta": b}
            if (a, b) in holes:
                out.append(vr("smcr", missing="x", hparams=hp))
                continue
            t_default = NAMED_T2I if (a, b) == claims.SMCR_T2I_BEST_CELL else default_t2i
            v, t = (avg or {}).get((a, b), default_avg), (t2i or {}).get((a, b), t_default)
            out.append(vr("smcr", np.full(5, 0.5), label=f"α={a:g}, β={b:g}", hparams=hp,
                          avg_at_50=np.broadcast_to(v, 5), t2i_at_50=np.broadcast_to(t, 5)))
    return out


def test_s9_insensitivity_is_descriptive_over_the_region():
    s = SENSITIVITY_MAX_SPREAD

    def reads(runs) -> str:
        j = judged("S9", {"grid": runs})
        assert j.status == DESCRIPTIVE  # a spread of means against a limit, no uncertainty
        return j.verdict.reason

    # the region is α ∈ {0.1, 1, 10}: α = 100 far off changes nothing
    far = {(100.0, b): 0.9 for b in FULL_GRID}
    assert "the threshold reads insensitive" in reads(grid(far | {(1.0, 10.0): s}))  # spread exactly the limit
    assert "the threshold reads sensitive" in reads(grid(far | {(1.0, 10.0): float(np.nextafter(s, 1))}))
    assert "the threshold reads sensitive" in reads(grid({(0.1, 100.0): 1.5 * s}))  # β = 100 is in the region
    assert status("S9", {"grid": grid(holes=[(10.0, 0.1)])}) == NOT_TESTABLE


def test_s10_txt2img_best_at_alpha_beta_0_1():
    # the named cell (.39 + UP) against each of the 15 other cells (.30 on every seed): Δ = .09 + UP, [.18, .22]: held.
    # Fig. 2 prints no numbers: δ is the smallest effect of interest.
    j = judged("S10", {"grid": grid()})
    assert j.status == HELD and len(j.verdict.parts) == 15
    assert all(p.delta_claimed is None and p.delta_used == 0.01 and "Fig. 2" in p.delta_source for p in j.verdict.parts)
    # another cell at .60 beats it (Δ = UP − .21 = -.10 + J, p ≈ 1.5e-4, Holm × 15 < .05): outside the best set
    assert status("S10", {"grid": grid(t2i={(1.0, 0.1): 0.6})}) == REVERSED
    # another cell at .50, the named cell's mean (Δ = J, [-.020, .020]): both could be best: not shown
    assert status("S10", {"grid": grid(t2i={(1.0, 0.1): 0.5})}) == NOT_SHOWN
    assert status("S10", {"grid": grid(avg={(1.0, 1.0): 0.9})}) == HELD  # the average does not count
    assert status("S10", {"grid": grid(holes=[(100.0, 100.0)])}) == NOT_TESTABLE


@pytest.mark.parametrize("cid", ["S11", "S12"])
def test_s11_s12_are_never_testable_here(cid):
    # a fixed verdict whatever the runs: no other status is reachable
    assert C(cid).groups == ()
    j = claims.judge(C(cid), {})
    assert j.status == NOT_TESTABLE and j.verdict.reason and not j.verdict.parts


# --------------------------------------------------------------------------- findings, ledger, summary
def chapter_runs(name: str, groups: dict[str, list[VariantRuns]], scale_name: str = "smoke") -> chapters.ChapterRuns:
    sc = make_scale(scale_name)
    return chapters.ChapterRuns(chapters.chapter(name), sc, groups, {}, Runner(sc, []))


def declared_missing(name: str, sc) -> dict[str, list[VariantRuns]]:
    return {g: [VariantRuns(r.method, r.standin.dataset, r.label, r.variant, missing="synthetic", hparams=dict(r.hparams))
                for r in reqs] for g, reqs in chapters.declared(name, sc).items()}


def test_findings_show_the_chapters_own_claims():
    groups = declared_missing("dacsl_table2_wikipedia", make_scale("smoke"))
    groups["wikipedia"] = dacsl(dacsl=vr("dacsl", BASE + UP))
    f = claims.findings(chapter_runs("dacsl_table2_wikipedia", groups))
    assert list(f.id) == ["D1-wikipedia", "D2-wikipedia", "D3-wikipedia", "D1-news", "D2-news", "D3-news", "D8"]
    assert list(f.columns) == ["paper", "id", "claim", "where", "status", "reason", "chapter", "parts", "basis",
                                 "published_status"]
    st = dict(zip(f.id, f.status))
    assert st["D1-wikipedia"] == st["D2-wikipedia"] == HELD and st["D1-news"] == st["D8"] == NOT_TESTABLE
    # D3: the deep methods other than DACSL score exactly what the conventional ones do (BASE): 12 parts with no spread
    # (not assessable); DACSL's 3 parts [.090, .130] lie below the paper's gains (≥ .205): ruled out precedes
    assert st["D3-wikipedia"] == RULED_OUT
    assert sum(p.status == NOT_ASSESSABLE for p in f.set_index("id").loc["D3-wikipedia", "parts"]) == 12
    assert claims.findings(chapter_runs("smcr_table1_datasets", {})).empty


@pytest.mark.parametrize("scale_name", ["smoke", "full"])
def test_ledger_one_row_per_claim_from_the_sources_groups(scale_name):
    sc = make_scale(scale_name)
    groups = declared_missing("claims_ledger", sc)
    assert all("/" in k for k in groups)
    groups["dacsl_table2_wikipedia/wikipedia"] = dacsl(dacsl=vr("dacsl", BASE + UP))
    k_minus = {f"k{n}": BASE - UP for n in (5, 25, 50)}
    k_plus = {f"k{n}": BASE + UP for n in (5, 25, 50)}
    groups["smcr_tables3_4_ablations/news"] = smcr_ablation(imi=k_minus, con=k_plus)
    rows = claims.ledger(chapter_runs("claims_ledger", groups, scale_name))
    assert list(rows.columns) == ["paper", "id", "claim", "where", "status", "reason", "chapter", "parts", "basis",
                                 "published_status"]
    assert list(rows.id) == [c.id for c in claims.CLAIMS]
    assert list(rows.chapter) == [c.chapter for c in claims.CLAIMS]
    st = dict(zip(rows.id, rows.status))
    # each claim got its own chapter's group: the Wikipedia comparison, not the news one or the Pascal chapter's
    assert st["D1-wikipedia"] == HELD and st["D1-news"] == st["D1-pascal"] == NOT_TESTABLE
    # full − w/o L_imi = UP (held); full − w/o L_con = -UP (reversed); the Wikipedia ablations did not run
    assert st["S7-news"] == HELD and st["S8-news"] == REVERSED and st["S7-wikipedia"] == NOT_TESTABLE
    # the same runs under another level: the same thresholds reach the rows (UP is significant at .001 too: p ≈ 1e-4)
    strict = claims.ledger(chapter_runs("claims_ledger", groups, scale_name), Thresholds(alpha=0.001))
    assert dict(zip(strict.id, strict.status))["S7-news"] == HELD
    with pytest.raises(ValueError, match="claims_ledger"):
        claims.ledger(chapter_runs("dacsl_table2_wikipedia", {}))


def test_summary_counts_per_paper_and_status():
    frame = pd.DataFrame({"paper": ["DACSL", "DACSL", "DACSL", "DACSL", "SMCR", "SMCR"],
                          "status": [HELD, HELD, REVERSED, DESCRIPTIVE, NOT_SHOWN, RULED_OUT]})
    s = claims.summary(frame)
    # one column per status present, in the ledger's order
    assert list(s.columns) == ["held", "refuted — reversed", "refuted — claimed gain ruled out", "not shown", "descriptive"]
    assert s.loc["DACSL", "held"] == 2 and s.loc["DACSL", "refuted — reversed"] == 1 and s.loc["DACSL", "not shown"] == 0
    assert s.loc["DACSL", "descriptive"] == 1 and s.loc["SMCR", "held"] == 0
    assert s.loc["SMCR", "not shown"] == s.loc["SMCR", "refuted — claimed gain ruled out"] == 1


def test_parts_frame_one_row_per_part():
    groups = declared_missing("dacsl_table2_wikipedia", make_scale("smoke"))
    groups["wikipedia"] = dacsl(dacsl=vr("dacsl", BASE + UP))
    f = claims.findings(chapter_runs("dacsl_table2_wikipedia", groups))
    pf = claims.parts_frame(f)
    # D1 2 parts, D2 3, D3 15 on Wikipedia; the news claims' parts did not run (2 + 3 + 15 not testable); D8 none
    assert len(pf) == 2 * (2 + 3 + 15)
    d2 = pf[pf.id == "D2-wikipedia"]
    assert list(d2.label) == ["CCA", "GMA", "LCFS"] and set(d2.claim_status) == {"held"}
    assert d2.delta.tolist() == pytest.approx([0.11] * 3) and set(d2.status) == {"held"}
    assert set(pf[pf.id == "D1-news"].status) == {"not testable here"}


def test_previous_labels_kept_beside_the_new_verdicts():
    prev = claims.previous_labels()
    assert list(prev.columns) == ["id", "old_status", "old_robustness"]
    assert set(prev.id) == {c.id for c in claims.CLAIMS} and len(prev) == len(claims.CLAIMS)
    # the previous rule's vocabulary, which the new statuses replace
    assert set(prev.old_status) <= {"held", "not held", "inconclusive", "not testable here"}


def test_statuses_and_thresholds_are_named():
    assert claims.ORDER == (HELD, REVERSED, RULED_OUT, NOT_SHOWN, NOT_ASSESSABLE, DESCRIPTIVE, NOT_TESTABLE)
    assert set(claims.ORDER) == set(Status)
    assert [s.value for s in claims.ORDER] == ["held", "refuted — reversed", "refuted — claimed gain ruled out",
                                               "not shown", "not assessable", "descriptive", "not testable here"]
    assert REVERSED.refuted and RULED_OUT.refuted and not NOT_SHOWN.refuted and HELD.decided and not NOT_SHOWN.decided
    assert (PREREGISTERED.alpha, PREREGISTERED.min_effect) == (0.05, 0.01)
    for bad in ({"alpha": 0.0}, {"alpha": 1.0}, {"min_effect": -0.01}, {"min_effect": math.inf}, {"power": 1.0}):
        with pytest.raises(ValueError):
            Thresholds(**bad)
    assert 0 < PR_NOT_HELD < PR_HELD <= 1 and 0 < SENSITIVITY_MAX_SPREAD and 0 < PUBLISHED_TOLERANCE
    assert 0 < CONVERGENCE_MAX_TAIL_CHANGE and 0 < CONVERGENCE_MIN_SHARE_DECREASING <= 1 and CONVERGENCE_MIN_EPOCHS >= 2


def test_takeaways_say_what_the_rows_say():
    """Counted by hand: DACSL 5 claims, 4 a test could decide (D4 is descriptive): 1 held (D1), 2 refuted (D2 reversed,
    D3 ruled out), 1 not shown (D5); D2's verdict depends on a reading. SMCR 3 claims, 2 decidable (S2 not testable):
    1 held, 1 not assessable; no reading conflicts."""
    rows = pd.DataFrame([
        {"paper": "DACSL", "id": "D1", "status": HELD, "reason": "above 0", "robustness": Robustness.SAME},
        {"paper": "DACSL", "id": "D2", "status": REVERSED, "reason": "significantly reversed", "robustness": Robustness.DEPENDS},
        {"paper": "DACSL", "id": "D3", "status": RULED_OUT, "reason": "below δ", "robustness": Robustness.NO_CONFLICT},
        {"paper": "DACSL", "id": "D4", "status": DESCRIPTIVE, "reason": "reads crossing", "robustness": Robustness.NONE},
        {"paper": "DACSL", "id": "D5", "status": NOT_SHOWN, "reason": "open", "robustness": Robustness.NO_CONFLICT},
        {"paper": "SMCR", "id": "S1", "status": HELD, "reason": "above 0", "robustness": Robustness.SAME},
        {"paper": "SMCR", "id": "S2", "status": NOT_TESTABLE, "reason": "private", "robustness": Robustness.NONE},
        {"paper": "SMCR", "id": "S3", "status": NOT_ASSESSABLE, "reason": "one unit", "robustness": Robustness.SAME},
    ])
    assert claims.takeaways(rows) == (
        "**DACSL**: of the 4 claims a test could decide, 1 held, 2 refuted (1 reversed, 1 claimed gain ruled out), "
        "1 not shown.\n"
        "\n"
        "- **Held**: D1.\n"
        "- **Refuted**:\n"
        "  - D2: significantly reversed.\n"
        "  - D3: below δ.\n"
        "- **Not shown** (more seeds could decide them): D5.\n"
        "- **Depends on the reading** (D2): one reasonable reading of the paper holds the claim, another refutes it."
        "\n\n"
        "**SMCR**: of the 2 claims a test could decide, 1 held, 0 refuted, 0 not shown, 1 not assessable.\n"
        "\n"
        "- **Held**: S1.\n"
        "- No verdict is held under one declared reading and refuted under another.")


def test_the_findings_page_judges_the_ledgers_runs():
    """The findings page declares, and only declares, what judging every claim needs: each claim's own chapter
    groups (named "<chapter>/<group>", as that chapter declares them), the multiverse's readings, and the power
    plan's campaign; expectations built from the claims and the other chapters, not from the page's declaration."""
    from xmr.study import multiverse

    sc = make_scale("smoke")
    assert chapters.names()[0] == "findings"
    declared = chapters.declared("findings", sc)
    sources = {f"{c.chapter}/{g}": chapters.declared(c.chapter, sc)[g] for c in claims.CLAIMS for g in c.groups}
    for name, reqs in sources.items():
        assert declared[name] == reqs, name
    assert {k: declared[k] for k in multiverse.reading_groups(sc)} == multiverse.reading_groups(sc)
    extra = set(declared) - set(sources) - set(multiverse.reading_groups(sc))
    # besides: the other groups of the claims' chapters (read by the multiverse's matrix) and the campaign's
    assert all(k.startswith("campaign/") or k.split("/", 1)[0] in {c.chapter for c in claims.CLAIMS} for k in extra)
