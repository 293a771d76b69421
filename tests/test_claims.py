"""The claims ledger as library code (xmr.study.claims): every rule on hand-built runs, at its thresholds' edges.

Runs are built by hand (a few seeds with chosen scores, loss curves, precision-recall
points); each expected verdict is reasoned from the paper's claim and the rule's stated
threshold, never read back from the code. Where a rule cannot reach a status (e.g. a
comparison of means has no "inconclusive"), the test says so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from xmr.study import chapters, claims, standins, tables
from xmr.study.claims import (CONVERGENCE_MAX_TAIL_CHANGE, CONVERGENCE_MIN_EPOCHS, CONVERGENCE_MIN_SHARE_DECREASING,
                              PR_HELD, PR_NOT_HELD, PUBLISHED_TOLERANCE, RANK_MIN_METHODS, RANK_TAU_ALPHA,
                              SENSITIVITY_MAX_SPREAD, STATUSES)
from xmr.study.runner import Runner, VariantRuns
from xmr.study.scale import scale as make_scale
from xmr.study.stats import convergence_stats

SEEDS = (0, 1, 2, 3, 4)
BASE = np.array([0.40, 0.42, 0.38, 0.41, 0.39])
UP = np.array([0.10, 0.12, 0.11, 0.13, 0.09])  # clearly positive, paired t p ≈ 1e-5
NOISY = np.array([0.30, -0.25, 0.20, -0.20, 0.01])  # mean +0.012, paired t p ≈ 0.95
COLUMNS = ("i2t", "t2i", "avg", "i2t@5", "t2i@5", "avg@5", "i2t@25", "t2i@25", "avg@25", "i2t@50", "t2i@50", "avg@50")


def C(claim_id: str) -> claims.Claim:
    return {c.id: c for c in claims.CLAIMS}[claim_id]


def status(claim_id: str, groups) -> str:
    return claims.judge(C(claim_id), groups)["status"]


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


# --------------------------------------------------------------------------- the building blocks (moved from test_stats)
def test_judge_better_verdicts():
    hi = pd.Series([0.6, 0.7, 0.8, 0.9, 1.0])
    lo = pd.Series([0.5] * 5)
    assert claims.judge_better(hi, lo)[0] == "held"
    assert claims.judge_better(lo, hi)[0] == "not held"
    noisy = pd.Series([0.9, 0.3, 0.8, 0.2, 0.51])
    assert claims.judge_better(noisy, lo)[0] == "inconclusive"
    assert claims.judge_better(pd.Series([0.6]), pd.Series([0.5]))[0] == "inconclusive"
    assert claims.judge_better(pd.Series([], dtype=float), lo)[0] == "not testable here"


def test_judge_better_at_alpha_edge():
    # Two units, differences (1, 1 + e): mean 1 + e/2, sd e/√2, so t = 2/e + 1 with 1 degree of freedom.
    # p = ALPHA exactly at t = t_{1 - ALPHA/2, 1}, i.e. e* = 2 / (t_crit - 1).
    t_crit = sstats.t.ppf(1 - claims.ALPHA / 2, 1)
    e_star = 2 / (t_crit - 1)
    lo = pd.Series([0.0, 0.0])
    assert claims.judge_better(pd.Series([1.0, 1.0 + 0.99 * e_star]), lo)[0] == "held"  # p just below ALPHA
    assert claims.judge_better(pd.Series([1.0, 1.0 + 1.01 * e_star]), lo)[0] == "inconclusive"  # p just above


def test_claim_rows_and_ledger_html():
    c = claims.Claim("DACSL", "D1", "DACSL beats <DSCMR>", "Sec. 4.2", "dacsl_table2_wikipedia", (),
                     lambda g: ("held", "Δ = +0.01"))
    row = claims.judge(c, {})
    assert row == {"paper": "DACSL", "id": "D1", "claim": "DACSL beats <DSCMR>", "where": "Sec. 4.2", "status": "held",
                   "evidence": "Δ = +0.01", "chapter": "dacsl_table2_wikipedia"}
    html = tables.ledger_html([row])
    assert 'href="dacsl_table2_wikipedia.html"' in html and "&lt;DSCMR&gt;" in html
    bad = claims.Claim("x", "y", "z", "w", "c", (), lambda g: ("maybe", "e"))
    with pytest.raises(ValueError, match="status"):
        claims.judge(bad, {})


def test_combine_verdicts():
    held, inc, no, nt = ("held", "a"), ("inconclusive", "b"), ("not held", "c"), ("not testable here", "d")
    assert claims.combine_verdicts([held, held])[0] == "held"
    assert claims.combine_verdicts([held, inc])[0] == "inconclusive"
    assert claims.combine_verdicts([held, inc, no])[0] == "not held"
    assert claims.combine_verdicts([no, nt])[0] == "not testable here"
    assert claims.combine_verdicts([held, no], ["Img2Txt", "Txt2Img"])[1] == "Img2Txt: held (a); Txt2Img: not held (c)"


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
        row = claims.judge(c, runs)
        if c.id == "D9":
            assert row["status"] == ("not testable here" if standins.pascal_standin().dataset != "pascal" else "inconclusive")
        else:
            assert row["status"] == "not testable here", (c.id, row)


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
@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d1_dacsl_beats_dscmr_on_both_tasks(key):
    cid = f"D1-{key}"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP))}) == "held"
    # better on Img2Txt, worse on Txt2Img: one part reversed
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE - UP))}) == "not held"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, t2i=BASE + NOISY))}) == "inconclusive"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", [0.9]), dscmr=vr("dscmr", [0.5]))}) == "inconclusive"  # one seed
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP), dscmr=missing("dscmr"))}) == "not testable here"
    # only DSCMR matters: every other method far above DACSL changes nothing
    others = {m: vr(m, BASE + 0.5) for m, _ in chapters.DACSL_METHODS if m not in ("dacsl", "dscmr")}
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP), **others)}) == "held"


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d2_dacsl_beats_each_conventional_method(key):
    cid = f"D2-{key}"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP))}) == "held"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP), gma=vr("gma", BASE + 2 * UP))}) == "not held"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP), lcfs=vr("lcfs", BASE + UP - NOISY))}) == "inconclusive"
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP), cca=missing("cca"))}) == "not testable here"
    # judged on the average mAP only: a reversed Img2Txt with a higher average still holds
    assert status(cid, {key: dacsl(dacsl=vr("dacsl", BASE + UP, i2t=BASE - UP, t2i=BASE + 3 * UP))}) == "held"


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d3_every_deep_method_above_every_conventional(key):
    cid = f"D3-{key}"
    deep = {m: vr(m, BASE + 0.1) for m in ("dcca", "acmr", "drsl", "dscmr", "dacsl")}
    assert status(cid, {key: dacsl(**deep)}) == "held"
    # one conventional method above the worst deep one (means 0.50 vs 0.51): not held
    assert status(cid, {key: dacsl(**deep, gma=vr("gma", BASE + 0.11))}) == "not held"
    # a tie of means is not "higher"
    assert status(cid, {key: dacsl(**deep, lcfs=vr("lcfs", BASE + 0.1))}) == "not held"
    assert status(cid, {key: dacsl(**(deep | {"drsl": missing("drsl")}))}) == "not testable here"
    assert status(cid, {key: dacsl(**deep, cca=missing("cca"))}) == "not testable here"
    # "inconclusive" is unreachable: a comparison of means, with no test


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
def test_d4_pr_dominance_thresholds(key):
    cid = f"D4-{key}"
    n = 2 * IN_RANGE  # 38 points over both tasks
    assert status(cid, {key: pr_group()}) == "held"  # DACSL at or above everywhere (share 1)
    # just above / below PR_HELD against one method (ACMR); a share of exactly PR_HELD is unreachable with 38 points
    k = math.ceil(PR_HELD * n)
    assert k / n >= PR_HELD > (k - 1) / n
    split = lambda total: (min(total, IN_RANGE), total - min(total, IN_RANGE))  # noqa: E731
    row = claims.judge(C(cid), {key: pr_group({"acmr": split(k)})})
    assert row["status"] == "held" and f"ACMR {k / n:.2f}" in row["evidence"]
    assert status(cid, {key: pr_group({"acmr": split(k - 1)})}) == "inconclusive"
    # PR_NOT_HELD: exactly half the points is not "fewer than half" (19/38 = 0.5)
    h = PR_NOT_HELD * n
    assert h == int(h)
    assert status(cid, {key: pr_group({"drsl": split(int(h))})}) == "inconclusive"
    assert status(cid, {key: pr_group({"drsl": split(int(h) - 1)})}) == "not held"
    # the weakest comparison decides: one held, one not
    assert status(cid, {key: pr_group({"cca": split(n), "dscmr": (0, 0)})}) == "not held"
    # a method that did not run, or ran without precision-recall points: not testable
    assert status(cid, {key: pr_group(dscmr=missing("dscmr"))}) == "not testable here"
    assert status(cid, {key: pr_group(dacsl=vr("dacsl", label="DACSL"))}) == "not testable here"


def ablation(full=BASE, pre=BASE, dis=BASE, tri=BASE, **runs) -> list[VariantRuns]:
    spec = [("without_pre", "w/o L_pre", pre), ("without_dis", "w/o L_dis", dis), ("without_tri", "w/o L_tri", tri),
            ("full", "Full", full)]
    return [runs.get(v, vr("dacsl", values, label=label, variant=v)) for v, label, values in spec]


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d5_full_objective_beats_each_ablation(key):
    cid = f"D5-{key}"
    assert status(cid, {key: ablation(full=BASE + UP)}) == "held"
    assert status(cid, {key: ablation(full=BASE + UP, tri=BASE + 2 * UP)}) == "not held"
    assert status(cid, {key: ablation(full=BASE + UP, dis=BASE + UP - NOISY)}) == "inconclusive"
    assert status(cid, {key: ablation(full=BASE + UP, without_dis=vr("dacsl", missing="x", variant="without_dis"))}) \
        == "not testable here"


@pytest.mark.parametrize("key", ["pascal", "wikipedia", "news"])
def test_d6_label_prediction_loss_matters_most(key):
    cid = f"D6-{key}"
    # w/o L_pre lowest, significantly below the next-lowest (w/o L_dis)
    assert status(cid, {key: ablation(pre=BASE - UP, dis=BASE, tri=BASE + 0.05)}) == "held"
    # lowest, but not significantly below the next: inconclusive
    assert status(cid, {key: ablation(pre=BASE - NOISY, dis=BASE, tri=BASE + 0.05)}) == "inconclusive"
    # another term's removal hurts more
    assert status(cid, {key: ablation(pre=BASE - UP, dis=BASE - 2 * UP)}) == "not held"
    # a tie with the next-lowest is not "the most impact"
    assert status(cid, {key: ablation(pre=BASE - UP, dis=BASE - UP, tri=BASE)}) == "not held"
    assert status(cid, {key: ablation(pre=BASE - UP, without_tri=vr("dacsl", missing="x", variant="without_tri"))}) \
        == "not testable here"
    # the full model's own score plays no part
    assert status(cid, {key: ablation(full=BASE - 3 * UP, pre=BASE - UP, dis=BASE, tri=BASE + 0.05)}) == "held"


def history(loss, seeds=(0,)) -> pd.DataFrame:
    return pd.DataFrame([{"fold": -1, "seed": s, "epoch": e + 1, "loss": float(v)} for s in seeds for e, v in enumerate(loss)])


def conv(loss, **kw) -> list[VariantRuns]:
    return [vr("dacsl", label="DACSL", history=history(loss, **kw))]


@pytest.mark.parametrize("key", ["pascal", "wikipedia"])
def test_d7_loss_decreases_and_converges(key):
    cid = f"D7-{key}"
    geometric = [1 + 4 * 0.5 ** e for e in range(20)]  # falls every epoch, flat at the end
    assert status(cid, {key: conv(geometric, seeds=(0, 1))}) == "held"
    assert status(cid, {key: conv(geometric[::-1])}) == "not held"  # rises
    # tail change at the threshold: epochs 17-18 at 20, epochs 19-20 at 20·(1 − limit): change = limit exactly
    head = [40.0 - e for e in range(16)]
    at = head + [20.0, 20.0] + [20.0 * (1 - CONVERGENCE_MAX_TAIL_CHANGE)] * 2
    assert convergence_stats(pd.Series(at))["relative_tail_change"] == CONVERGENCE_MAX_TAIL_CHANGE
    assert status(cid, {key: conv(at)}) == "not held"  # must be strictly below
    inside = head + [20.0, 20.0] + [20.0 * (1 - CONVERGENCE_MAX_TAIL_CHANGE / 2)] * 2
    assert status(cid, {key: conv(inside)}) == "held"
    # share of decreasing steps at the threshold (21 epochs = 20 steps): downs of 1, then ups of 0.5
    n_down = CONVERGENCE_MIN_SHARE_DECREASING * 20
    assert n_down == int(n_down)
    zigzag = lambda downs: list(100 + np.cumsum([0.0] + [-1.0] * downs + [0.5] * (20 - downs)))  # noqa: E731
    assert convergence_stats(pd.Series(zigzag(int(n_down))))["share_decreasing"] == CONVERGENCE_MIN_SHARE_DECREASING
    assert status(cid, {key: conv(zigzag(int(n_down)))}) == "held"
    assert status(cid, {key: conv(zigzag(int(n_down) - 1))}) == "not held"
    # epochs: CONVERGENCE_MIN_EPOCHS is enough, one fewer is not testable
    short = [1 + 4 * 0.5 ** e for e in range(CONVERGENCE_MIN_EPOCHS)]
    assert status(cid, {key: conv(short)}) == "held"
    assert status(cid, {key: conv(short[:-1])}) == "not testable here"
    assert status(cid, {key: [vr("dacsl", label="DACSL")]}) == "not testable here"  # no history
    assert status(cid, {key: [missing("dacsl")]}) == "not testable here"
    # "inconclusive" is unreachable: a description of one curve, with no test


PUBLISHED_T2 = {"cca": (0.221, 0.196), "gma": (0.272, 0.232), "lcfs": (0.280, 0.214)}  # DACSL Table 2, (Img2Txt, Txt2Img)


def official(delta: dict[str, tuple[float, float]] | None = None, **runs) -> list[VariantRuns]:
    delta = delta or {}
    out = []
    for m, (i2t, t2i) in PUBLISHED_T2.items():
        di, dt = delta.get(m, (0.0, 0.0))
        out.append(runs.get(m, vr(m, [0.0, 0.0], i2t=[i2t + di] * 2, t2i=[t2i + dt] * 2)))
    return out


def test_d8_published_conventional_numbers_within_tolerance():
    tol = PUBLISHED_TOLERANCE
    assert status("D8", {"official": official()}) == "held"
    assert status("D8", {"official": official({"gma": (0.99 * tol, -0.99 * tol)})}) == "held"
    assert status("D8", {"official": official({"gma": (1.01 * tol, 0.0)})}) == "not held"
    assert status("D8", {"official": official({"lcfs": (0.0, -1.01 * tol)})}) == "not held"
    assert status("D8", {"official": official(cca=missing("cca"))}) == "not testable here"
    # "inconclusive" is unreachable: a distance to published numbers, with no test


def test_d9_depends_on_the_real_pascal_protocol(monkeypatch):
    monkeypatch.setattr(standins, "pascal_standin", lambda: standins.DACSL_STANDINS["pascal"])
    assert status("D9", {}) == "not testable here"
    real = standins.StandIn("pascal", "pascal", None, "Pascal Sentence (800/100/100)", "pascal_sentence")
    monkeypatch.setattr(standins, "pascal_standin", lambda: real)
    assert status("D9", {}) == "inconclusive"
    # "held" and "not held" are unreachable: the rule reads no runs (the chapter page compares the numbers)
    assert C("D9").groups == ()


# --------------------------------------------------------------------------- SMCR
def at_k(method, **per_k) -> VariantRuns:
    """SMCR-table runs: avg@5/25/50 per seed (default BASE) — the columns the SMCR rules read."""
    cols = {f"avg_at_{k}": per_k.get(f"k{k}", BASE) for k in (5, 25, 50)}
    return vr(method, BASE, label=dict(chapters.SMCR_METHODS).get(method), **cols)


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s1_smcr_beats_every_baseline_at_every_k(key):
    cid = f"S1-{key}"
    best = at_k("smcr", k5=BASE + UP, k25=BASE + UP, k50=BASE + UP)
    assert status(cid, {key: smcr(smcr=best)}) == "held"
    assert status(cid, {key: smcr(smcr=best, jfssl=at_k("jfssl", k50=BASE + 2 * UP))}) == "not held"  # one baseline at one k
    assert status(cid, {key: smcr(smcr=best, cmdn=at_k("cmdn", k25=BASE + UP - NOISY))}) == "inconclusive"
    assert status(cid, {key: smcr(smcr=best, ssacr=missing("ssacr"))}) == "not testable here"


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s2_smcr_above_ssacr(key):
    cid = f"S2-{key}"
    best = at_k("smcr", k5=BASE + UP, k25=BASE + UP, k50=BASE + UP)
    # only SSACR counts: every other baseline above SMCR changes nothing
    others = {m: at_k(m, k5=BASE + 3 * UP, k25=BASE + 3 * UP, k50=BASE + 3 * UP)
              for m in ("cca", "jfssl", "cmdn", "acmr", "dscmr")}
    assert status(cid, {key: smcr(smcr=best, **others)}) == "held"
    assert status(f"S1-{key}", {key: smcr(smcr=best, **others)}) == "not held"
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k5=BASE + 2 * UP))}) == "not held"
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k50=BASE + UP - NOISY))}) == "inconclusive"
    assert status(cid, {key: smcr(smcr=missing("smcr"))}) == "not testable here"


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s3_every_method_beats_cca_at_50(key):
    cid = f"S3-{key}"
    up = {m: at_k(m, k50=BASE + UP, k5=BASE - UP) for m in ("jfssl", "cmdn", "acmr", "dscmr", "ssacr", "smcr")}
    assert status(cid, {key: smcr(**up)}) == "held"  # mAP@50 only: the reversed mAP@5 does not count
    assert status(cid, {key: smcr(**(up | {"jfssl": at_k("jfssl", k50=BASE - UP)}))}) == "not held"
    assert status(cid, {key: smcr(**(up | {"cmdn": at_k("cmdn", k50=BASE + NOISY)}))}) == "inconclusive"
    assert status(cid, {key: smcr(**up, cca=missing("cca"))}) == "not testable here"


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s4_adversarial_methods_beat_cmdn_at_50(key):
    cid = f"S4-{key}"
    up = {m: at_k(m, k50=BASE + UP) for m in ("smcr", "acmr", "dscmr", "ssacr")}
    # JFSSL and CCA are not adversarial: above CMDN or not, they do not count
    assert status(cid, {key: smcr(**up, jfssl=at_k("jfssl", k50=BASE + 3 * UP), cca=at_k("cca", k50=BASE - UP))}) == "held"
    assert status(cid, {key: smcr(**(up | {"acmr": at_k("acmr", k50=BASE - UP)}))}) == "not held"
    assert status(cid, {key: smcr(**(up | {"ssacr": at_k("ssacr", k50=BASE + NOISY)}))}) == "inconclusive"
    assert status(cid, {key: smcr(**up, cmdn=missing("cmdn"))}) == "not testable here"


@pytest.mark.parametrize("key", ["news", "wikipedia"])
def test_s5_smcr_beats_acmr_and_dscmr(key):
    cid = f"S5-{key}"
    best = at_k("smcr", k5=BASE + UP, k25=BASE + UP, k50=BASE + UP)
    assert status(cid, {key: smcr(smcr=best, ssacr=at_k("ssacr", k50=BASE + 3 * UP))}) == "held"  # SSACR not part
    assert status(cid, {key: smcr(smcr=best, dscmr=at_k("dscmr", k25=BASE + 2 * UP))}) == "not held"
    assert status(cid, {key: smcr(smcr=best, acmr=at_k("acmr", k5=BASE + UP - NOISY))}) == "inconclusive"
    assert status(cid, {key: smcr(smcr=best, acmr=missing("acmr"))}) == "not testable here"


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
    full = {"k5": BASE + UP, "k25": BASE + UP, "k50": BASE + UP}
    better_other = {f"k{n}": BASE + 2 * UP for n in (5, 25, 50)}
    # the other variant beating the full model does not matter to this claim
    assert status(cid, {key: smcr_ablation(full=full, **{other: better_other})}) == "held"
    assert status(cid, {key: smcr_ablation(full=full, **{variant: {"k25": BASE + 2 * UP}})}) == "not held"
    assert status(cid, {key: smcr_ablation(full=full, **{variant: {"k50": BASE + UP - NOISY}})}) == "inconclusive"
    not_run = {v: vr("smcr", missing="x", variant=v) for v in (f"without_{variant}", f"without_{other}")}
    assert status(cid, {key: smcr_ablation(full=full, **{f"without_{variant}": not_run[f"without_{variant}"]})}) \
        == "not testable here"
    assert status(cid, {key: smcr_ablation(full=full, **{f"without_{other}": not_run[f"without_{other}"]})}) == "held"


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
    # 7 methods in the same order: τ = 1, exact two-sided p = 2/7! ≈ 0.0004 < RANK_TAU_ALPHA
    assert 2 / math.factorial(7) < RANK_TAU_ALPHA
    row = claims.judge(C("S6"), {"news": ranked(order), "wikipedia": ranked(order)})
    assert row["status"] == "held" and "= 1.00" in row["evidence"]
    assert status("S6", {"news": ranked(order), "wikipedia": ranked(order[::-1])}) == "not held"  # τ = −1
    # RANK_MIN_METHODS methods on both, same order: τ = 1 but p = 2/3! = 1/3: inconclusive
    three = set(order[:RANK_MIN_METHODS])
    assert 2 / math.factorial(RANK_MIN_METHODS) >= RANK_TAU_ALPHA
    assert status("S6", {"news": ranked(order, three), "wikipedia": ranked(order)}) == "inconclusive"
    # one fewer method on both datasets: not testable (the other dataset's methods do not help)
    fewer = set(order[:RANK_MIN_METHODS - 1])
    assert status("S6", {"news": ranked(order, fewer), "wikipedia": ranked(order)}) == "not testable here"
    assert status("S6", {"news": ranked(order, three), "wikipedia": ranked(order, set(order[1:]))}) == "not testable here"


FULL_GRID = (0.1, 1.0, 10.0, 100.0)


def grid(avg: dict[tuple[float, float], float] | None = None, t2i: dict[tuple[float, float], float] | None = None,
         default_avg: float = 0.0, default_t2i: float = 0.3, holes=()) -> list[VariantRuns]:
    """SMCR's α × β grid (full scale), two seeds per cell with the same avg@50 and t2i@50."""
    out = []
    for a in FULL_GRID:
        for b in FULL_GRID:
            hp = {"alpha": a, "beta": b}
            if (a, b) in holes:
                out.append(vr("smcr", missing="x", hparams=hp))
                continue
            v, t = (avg or {}).get((a, b), default_avg), (t2i or {}).get((a, b), default_t2i)
            out.append(vr("smcr", [0.5, 0.5], label=f"α={a:g}, β={b:g}", hparams=hp, avg_at_50=[v, v], t2i_at_50=[t, t]))
    return out


def test_s9_insensitive_over_the_region():
    s = SENSITIVITY_MAX_SPREAD
    # the region is α ∈ {0.1, 1, 10}: α = 100 far off changes nothing
    far = {(100.0, b): 0.9 for b in FULL_GRID}
    assert status("S9", {"grid": grid(far | {(1.0, 10.0): s})}) == "held"  # spread exactly the limit
    assert status("S9", {"grid": grid(far | {(1.0, 10.0): float(np.nextafter(s, 1))})}) == "not held"
    assert status("S9", {"grid": grid({(0.1, 100.0): 1.5 * s})}) == "not held"  # β = 100 is in the region
    assert status("S9", {"grid": grid(holes=[(10.0, 0.1)])}) == "not testable here"
    # "inconclusive" is unreachable: a spread against a limit, with no test


def test_s10_txt2img_best_at_alpha_beta_0_1():
    assert status("S10", {"grid": grid(t2i={(0.1, 0.1): 0.5})}) == "held"
    assert status("S10", {"grid": grid(t2i={(0.1, 0.1): 0.5, (1.0, 0.1): 0.51})}) == "not held"
    assert status("S10", {"grid": grid(t2i={(0.1, 0.1): 0.5}, avg={(1.0, 1.0): 0.9})}) == "held"  # the average does not count
    assert status("S10", {"grid": grid(t2i={(0.1, 0.1): 0.5}, holes=[(100.0, 100.0)])}) == "not testable here"
    # "inconclusive" is unreachable: which cell is best, with no test


@pytest.mark.parametrize("cid", ["S11", "S12"])
def test_s11_s12_are_never_testable_here(cid):
    # a fixed verdict whatever the runs: "held", "not held" and "inconclusive" are unreachable
    assert C(cid).groups == ()
    row = claims.judge(C(cid), {})
    assert row["status"] == "not testable here" and row["evidence"]


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
    assert list(f.columns) == ["paper", "id", "claim", "where", "status", "evidence", "chapter"]
    st = dict(zip(f.id, f.status))
    assert st["D1-wikipedia"] == st["D2-wikipedia"] == "held" and st["D1-news"] == st["D8"] == "not testable here"
    assert claims.findings(chapter_runs("smcr_table1_datasets", {})).empty


@pytest.mark.parametrize("scale_name", ["smoke", "full"])
def test_ledger_one_row_per_claim_from_the_sources_groups(scale_name):
    sc = make_scale(scale_name)
    groups = declared_missing("claims_ledger", sc)
    assert all("/" in k for k in groups)
    groups["dacsl_table2_wikipedia/wikipedia"] = dacsl(dacsl=vr("dacsl", BASE + UP))
    groups["smcr_tables3_4_ablations/news"] = smcr_ablation(imi={"k5": BASE - UP, "k25": BASE - UP, "k50": BASE - UP})
    rows = claims.ledger(chapter_runs("claims_ledger", groups, scale_name))
    assert list(rows.id) == [c.id for c in claims.CLAIMS]
    assert list(rows.chapter) == [c.chapter for c in claims.CLAIMS]
    st = dict(zip(rows.id, rows.status))
    # each claim got its own chapter's group: the Wikipedia comparison, not the news one or the Pascal chapter's
    assert st["D1-wikipedia"] == "held" and st["D1-news"] == st["D1-pascal"] == "not testable here"
    assert st["S7-news"] == "held" and st["S8-news"] == "not held" and st["S7-wikipedia"] == "not testable here"
    with pytest.raises(ValueError, match="claims_ledger"):
        claims.ledger(chapter_runs("dacsl_table2_wikipedia", {}))


def test_summary_counts_per_paper_and_status():
    frame = pd.DataFrame({"paper": ["DACSL", "DACSL", "DACSL", "SMCR"], "status": ["held", "held", "not held", "inconclusive"]})
    s = claims.summary(frame)
    assert s.loc["DACSL", "held"] == 2 and s.loc["DACSL", "not held"] == 1 and s.loc["DACSL", "inconclusive"] == 0
    assert s.loc["SMCR", "inconclusive"] == 1 and s.loc["SMCR", "held"] == 0


def test_statuses_and_thresholds_are_named():
    assert STATUSES == ("held", "not held", "inconclusive", "not testable here")
    assert 0 < PR_NOT_HELD < PR_HELD <= 1 and 0 < SENSITIVITY_MAX_SPREAD and 0 < PUBLISHED_TOLERANCE
    assert 0 < CONVERGENCE_MAX_TAIL_CHANGE and 0 < CONVERGENCE_MIN_SHARE_DECREASING <= 1 and CONVERGENCE_MIN_EPOCHS >= 2


def test_takeaways_say_what_the_rows_say():
    """Counted by hand: DACSL 3 claims (2 held, 1 not held, one verdict depends on a reading), SMCR 2 (1 held,
    1 not testable, robust)."""
    rows = pd.DataFrame([
        {"paper": "DACSL", "id": "D1", "status": "held", "robustness": "held under every reading"},
        {"paper": "DACSL", "id": "D2", "status": "not held", "robustness": "depends on the reading"},
        {"paper": "DACSL", "id": "D3", "status": "held", "robustness": "held under every reading"},
        {"paper": "SMCR", "id": "S1", "status": "held", "robustness": "held under every reading"},
        {"paper": "SMCR", "id": "S2", "status": "not testable here", "robustness": "no reading involved"},
    ])
    text = claims.takeaways(rows)
    dacsl, smcr = text.split("\n\n")
    assert "of its 3 claims, 2 held, 1 not held." in dacsl and "Of the 3 we could test, 2 held." in dacsl
    assert "Did not hold: D2." in dacsl and "1 verdict(s) depend on" in dacsl and "(D2)" in dacsl
    assert "of its 2 claims, 1 held, 1 not testable here." in smcr and "Of the 1 we could test, 1 held." in smcr
    assert "No verdict changes under any declared reading" in smcr and "Did not hold" not in smcr


def test_the_findings_page_judges_the_ledgers_runs():
    from xmr.study.scale import scale as make_scale

    sc = make_scale("smoke")
    assert chapters.names()[0] == "findings"
    assert chapters.declared("findings", sc) == chapters.declared("claims_ledger", sc)
