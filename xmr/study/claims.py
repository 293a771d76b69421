"""The claims of both papers and the rules that judge them from runs: the claims ledger as library code.

Every claim is declared once, in :data:`CLAIMS`, as a :class:`Claim`: the paper, an id
(``D…`` for DACSL, ``S…`` for SMCR), the claim's text, where the paper makes it, the ONE
chapter whose runs it reads (and whose page shows it), the groups of that chapter it
reads, and the rule (``judge``) that turns those runs into a verdict with its evidence.

Verdicts
--------
* ``held``: the claimed direction holds and, where the claim is a comparison, the paired
  t-test across units (:func:`xmr.study.stats.paired_test`) is significant at
  :data:`ALPHA`, on every part of the claim;
* ``inconclusive``: the direction holds but not significantly (or with one unit only);
* ``not held``: the direction is reversed on at least one part;
* ``not testable here``: the data or method needed is not available here.

A claim about several parts (both tasks, every baseline, every *k*) holds only when
every part does (:func:`combine_verdicts`). Claims that are not comparisons state their
thresholds below, as named constants, and in their evidence.

Use
---
A chapter page shows its own claims at its top with :func:`findings`; the ledger
chapter judges every claim with :func:`ledger` and counts them with :func:`summary`.
Rows render with :func:`xmr.study.tables.ledger_html`.

The papers: DACSL ("Deep Adversarial Common Subspace Learning for Image-Text Cross-Modal
Retrieval"; its experiments section, numbered here as the ledger always has: Sec. 4.2
comparison, Tables 1-2; Sec. 4.3 precision-recall, Figs. 2-3; Sec. 4.4 ablation of the
objective Eq. 4, Tables 3-4; Sec. 4.5 convergence, Fig. 4) and SMCR (Sec. 6.1, Table 2 and
its findings 1-5; Sec. 6.2, ablation of the mapping loss Eq. 8, Tables 3-4; Sec. 6.3,
sensitivity to α and β of Eq. 8, Fig. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import pandas as pd

from .stats import (TASK_LABELS, convergence_stats, dominance_shares, paired_test, sensitivity_grid, sensitivity_region, unit_scores)

if TYPE_CHECKING:
    from .chapters import ChapterRuns
    from .runner import VariantRuns

__all__ = [
    "STATUSES", "headline", "takeaways", "ALPHA", "PR_HELD", "PR_NOT_HELD", "SENSITIVITY_MAX_SPREAD", "PUBLISHED_TOLERANCE",
    "CONVERGENCE_MAX_TAIL_CHANGE", "CONVERGENCE_MIN_SHARE_DECREASING", "CONVERGENCE_MIN_EPOCHS", "RANK_TAU_ALPHA",
    "RANK_MIN_METHODS", "SMCR_T2I_BEST_CELL", "SMCR_METRICS", "Claim", "CLAIMS", "judge_better", "combine_verdicts",
    "judge", "findings", "ledger", "summary",
]

Groups = Mapping[str, "list[VariantRuns]"]
Verdict = tuple[str, str]

#: The four verdicts, in the order the ledger explains them.
STATUSES = ("held", "not held", "inconclusive", "not testable here")

# --------------------------------------------------------------------------- thresholds
#: Significance level of every paired comparison (two-sided paired t-test over units): the
#: conventional 5 %. With 5 seeds this is the t-test's level; the Wilcoxon test, reported
#: beside it, cannot go below p = 0.0625 with 5 units (see :mod:`xmr.study.stats`).
ALPHA = 0.05

#: DACSL Sec. 4.3 says that "when the recall is the same" DACSL's precision is higher
#: (Figs. 2-3). Read literally that is 100 % of recall points; we allow 10 % of the points
#: (about 4 of the 38 compared, 19 per task) for crossings near the ends of noisy curves.
#: Held: DACSL's mean interpolated precision ≥ the other's on at least this share of the
#: recall points, against every other method (:func:`xmr.study.stats.pr_dominance`).
PR_HELD = 0.9
#: Not held: DACSL is at or above the other on fewer than half the recall points against
#: at least one method, i.e. the other method is the better one more often than not.
#: Between the two thresholds the curves cross too much to call: inconclusive.
PR_NOT_HELD = 0.5

#: SMCR Sec. 6.3 calls SMCR "insensitive" to α and β over α ∈ {0.1, 1, 10}, any β (Fig. 2).
#: We call that held when the average mAP@50 moves by at most 2 points (0.02) over that
#: region: about the seed-to-seed spread of one method, and smaller than most gaps between
#: methods in SMCR Table 2, so such a change would not alter any of the paper's findings.
SENSITIVITY_MAX_SPREAD = 0.02

#: DACSL Table 2 copies the conventional baselines' Wikipedia numbers (CCA, GMA, LCFS) from
#: their own papers (original SIFT/LDA features, official split). Those methods are
#: deterministic, so the only differences left are implementation details (regularisation,
#: preprocessing); ±0.03 mAP is the largest gap we would still call the same number (it
#: is smaller than the gaps between the three methods in that table).
PUBLISHED_TOLERANCE = 0.03

#: DACSL Sec. 4.5 (Fig. 4): "the loss value decreases monotonically and converges". Converged:
#: the mean loss over the last 10 % of epochs differs from the 10 % before by less than 5 %
#: (relative; :func:`xmr.study.stats.convergence_stats`), i.e. the curve has flattened.
CONVERGENCE_MAX_TAIL_CHANGE = 0.05
#: "Decreases monotonically" with the "jitters" the paper admits: at least half of the
#: epoch-to-epoch steps go down (and the last loss is below the first).
CONVERGENCE_MIN_SHARE_DECREASING = 0.5
#: Below 10 epochs a 10 % tail is a single epoch and "converges" cannot be judged (the smoke
#: scale's 4 epochs are below this on purpose): not testable.
CONVERGENCE_MIN_EPOCHS = 10

#: SMCR Sec. 6.1 finding 5 ("consistent performance ... on both datasets"): the methods'
#: rankings on the two datasets (average mAP@50) agree when Kendall's τ > 0 with this
#: two-sided p-value or below (the same 5 % as :data:`ALPHA`).
RANK_TAU_ALPHA = 0.05
#: A rank correlation needs at least 3 methods on both datasets to mean anything (with 2,
#: τ is ±1 and p = 1): fewer is not testable.
RANK_MIN_METHODS = 3

#: SMCR Sec. 6.3: "on the task of using text to retrieve image, SMCR performs best when
#: α = 0.1 and β = 0.1" (Fig. 2a): the (α, β) cell the S10 claim names.
SMCR_T2I_BEST_CELL = (0.1, 0.1)

#: The cut-offs of SMCR's tables (mAP@K over the top K retrieved, SMCR Sec. 5.4, Table 2).
SMCR_METRICS = ("mAP@5", "mAP@25", "mAP@50")


# --------------------------------------------------------------------------- verdict building blocks
def judge_better(a: pd.Series, b: pd.Series, *, alpha: float = ALPHA) -> Verdict:
    """Verdict on "a beats b" from paired units: ``held``, ``inconclusive`` or ``not held``, with the evidence.

    ``held``: mean difference > 0 and the paired t-test significant at ``alpha``.
    ``inconclusive``: right direction, but not significant or fewer than 2 units.
    ``not held``: mean difference ≤ 0.
    """
    t = paired_test(a, b)
    if t["n"] == 0:
        return "not testable here", "no paired results"
    ev = f"Δ = {t['mean_diff']:+.3f} over {t['n']} unit(s)"
    if t["n"] >= 2:
        ev += f", paired t p = {t['p_t']:.3g}, Wilcoxon p = {t['p_wilcoxon']:.3g}"
    if t["mean_diff"] <= 0:
        return "not held", ev
    if t["n"] < 2 or not (t["p_t"] < alpha):
        return "inconclusive", ev
    return "held", ev


def combine_verdicts(verdicts: Sequence[Verdict], labels: Sequence[str] | None = None) -> Verdict:
    """Verdict of a claim made of several parts that must all hold (e.g. both tasks, every baseline).

    Any part not testable -> ``not testable here``; else any part ``not held`` ->
    ``not held``; else all ``held`` -> ``held``; else ``inconclusive``.
    """
    statuses = [v[0] for v in verdicts]
    if not statuses or "not testable here" in statuses:
        status = "not testable here"
    elif "not held" in statuses:
        status = "not held"
    elif all(s == "held" for s in statuses):
        status = "held"
    else:
        status = "inconclusive"
    labels = labels or [""] * len(verdicts)
    evidence = "; ".join(f"{lab}: {s} ({e})" if lab else f"{s} ({e})" for lab, (s, e) in zip(labels, verdicts))
    return status, evidence


def _better(a: VariantRuns, b: VariantRuns, column: str) -> Verdict:
    """``a`` beats ``b`` on one score column, paired over units; not testable when either did not run."""
    if not (a.ok and b.ok):
        return "not testable here", f"{a.label if not a.ok else b.label} not run"
    return judge_better(unit_scores(a, column), unit_scores(b, column))


def _by_method(runs: list[VariantRuns]) -> dict[str, VariantRuns]:
    return {r.method: r for r in runs}


def _split_ablation(runs: list[VariantRuns]) -> tuple[VariantRuns, list[VariantRuns]]:
    """The full objective and the ablated variants (in declaration order) of an ablation group."""
    full = [r for r in runs if r.variant == "full"]
    if len(full) != 1:
        raise ValueError(f"an ablation group needs exactly one full variant, got {len(full)}")
    return full[0], [r for r in runs if r.variant != "full"]


# --------------------------------------------------------------------------- DACSL rules
def _dacsl_beats_dscmr(groups: Groups, *, group: str) -> Verdict:
    """D1 (DACSL Sec. 4.2, Tables 1-2): DACSL beats DSCMR on Img2Txt and on Txt2Img (mAP, Eqs. 5-6)."""
    runs = _by_method(groups[group])
    return combine_verdicts([_better(runs["dacsl"], runs["dscmr"], t) for t in ("i2t", "t2i")],
                            [TASK_LABELS["i2t"], TASK_LABELS["t2i"]])


def _dacsl_beats_conventional(groups: Groups, *, group: str) -> Verdict:
    """D2 (DACSL Sec. 4.2): "our method performs much better than conventional methods": DACSL beats each of
    CCA, GMA and LCFS on the average mAP (significance stands in for "much")."""
    runs = _by_method(groups[group])
    conv = ("cca", "gma", "lcfs")
    return combine_verdicts([_better(runs["dacsl"], runs[m], "avg") for m in conv], [m.upper() for m in conv])


def _deep_beat_conventional(groups: Groups, *, group: str) -> Verdict:
    """D3 (DACSL Sec. 4.2): "the deep learning-based method can achieve higher mAP scores compared with
    conventional methods": the worst deep method's mean average mAP is above the best conventional method's.

    A comparison of means (no test): ``held`` or ``not held``; ``not testable here`` unless all five deep
    and three conventional methods ran. Never ``inconclusive``.
    """
    runs = _by_method(groups[group])
    deep_m = [m for m in ("dcca", "acmr", "drsl", "dscmr", "dacsl") if runs[m].ok]
    conv_m = [m for m in ("cca", "gma", "lcfs") if runs[m].ok]
    if len(deep_m) < 5 or len(conv_m) < 3:
        return "not testable here", "needs all 5 deep and 3 conventional methods; ran: " + ", ".join(deep_m + conv_m)
    mean = {m: runs[m].table["avg"].mean() for m in deep_m + conv_m}
    worst_deep, best_conv = min(deep_m, key=mean.get), max(conv_m, key=mean.get)
    st = "held" if mean[worst_deep] > mean[best_conv] else "not held"
    return st, (f"worst deep {worst_deep.upper()} {mean[worst_deep]:.3f} vs best conventional {best_conv.upper()} "
                f"{mean[best_conv]:.3f} (means)")


def _pr_dominates(groups: Groups, *, group: str) -> Verdict:
    """D4 (DACSL Sec. 4.3, Figs. 2-3): at equal recall DACSL's precision is above CCA's, ACMR's, DRSL's and DSCMR's.

    For each other method, the share of recall points (both tasks, recall 0.05-0.95) where DACSL's mean
    interpolated precision is at least the other's (:func:`xmr.study.stats.pr_dominance`). Held: every
    share ≥ :data:`PR_HELD`; not held: some share < :data:`PR_NOT_HELD`; else inconclusive. Not testable
    unless every method of the figure ran and has precision-recall points.
    """
    runs = groups[group]
    ok = [r for r in runs if r.ok and not r.pr.empty]
    dacsl = [r for r in ok if r.method == "dacsl"]
    if not dacsl or len(ok) < len(runs):
        return "not testable here", "ran: " + ", ".join(r.label for r in ok)
    shares = dominance_shares(ok, "dacsl")
    if not shares or any(math.isnan(v) for v in shares.values()):
        return "not testable here", "no common recall points: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
    low = min(shares.values())
    st = "held" if low >= PR_HELD else ("not held" if low < PR_NOT_HELD else "inconclusive")
    return st, ("share of recall points with DACSL ≥ other: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
                + f" (held ≥ {PR_HELD:g} for every method; not held < {PR_NOT_HELD:g} for one)")


def _full_beats_ablations(groups: Groups, *, group: str) -> Verdict:
    """D5 (DACSL Sec. 4.4, Tables 3-4): every term of Eq. 4 (L_pre, L_dis, L_tri) helps: the full objective beats
    each ablated variant on the average mAP."""
    full, variants = _split_ablation(groups[group])
    return combine_verdicts([_better(full, v, "avg") for v in variants], [v.label for v in variants])


def _label_loss_matters_most(groups: Groups, *, group: str) -> Verdict:
    """D6 (DACSL Sec. 4.4): "the label prediction loss [L_pre, Eq. 3] has the most impact on the model".

    Not held when removing another term gives the lowest mean average mAP; otherwise the verdict of
    "the next-lowest variant beats w/o L_pre" (paired, :func:`judge_better`): held when significant,
    inconclusive when not. Not testable unless every ablation ran.
    """
    _, variants = _split_ablation(groups[group])
    if not all(v.ok for v in variants):
        return "not testable here", "ablations not run"
    means = {v.label: v.table["avg"].mean() for v in variants}
    without_pre = next(v for v in variants if v.variant == "without_pre")
    worst = min(means, key=means.get)
    if worst != without_pre.label:
        return "not held", "lowest average mAP: " + worst + "; " + ", ".join(f"{k} {v:.3f}" for k, v in means.items())
    runner_up = sorted(variants, key=lambda v: means[v.label])[1]
    st, ev = _better(runner_up, without_pre, "avg")
    return st, f"{without_pre.label} lowest ({means[without_pre.label]:.3f}); vs next {runner_up.label}: {ev}"


def _loss_converges(groups: Groups, *, group: str) -> Verdict:
    """D7 (DACSL Sec. 4.5, Fig. 4): the total loss of Eq. 4 decreases and converges during training.

    On the per-epoch total loss (mean over units; :func:`xmr.study.stats.convergence_stats`): held when the
    last epoch's loss is below the first's, at least :data:`CONVERGENCE_MIN_SHARE_DECREASING` of the steps
    go down and the relative change over the last 10 % of epochs is below
    :data:`CONVERGENCE_MAX_TAIL_CHANGE`; not held otherwise. Not testable without a history or with fewer
    than :data:`CONVERGENCE_MIN_EPOCHS` epochs. Never ``inconclusive``.
    """
    r = groups[group][0]
    if not r.ok or r.history.empty or "loss" not in r.history:
        return "not testable here", "no training history"
    c = convergence_stats(r.history.groupby("epoch")["loss"].mean())
    if c["epochs"] < CONVERGENCE_MIN_EPOCHS:
        return "not testable here", f"only {c['epochs']} epochs at this scale"
    st = "held" if (c["last"] < c["first"] and c["relative_tail_change"] < CONVERGENCE_MAX_TAIL_CHANGE
                    and c["share_decreasing"] >= CONVERGENCE_MIN_SHARE_DECREASING) else "not held"
    return st, (f"total loss {c['first']:.4g} → {c['last']:.4g}; {c['share_decreasing']:.0%} of epochs decrease; "
                f"last-10% relative change {c['relative_tail_change']:.3f} (held: falls overall, "
                f"≥ {CONVERGENCE_MIN_SHARE_DECREASING:.0%} of epochs decrease, tail change < {CONVERGENCE_MAX_TAIL_CHANGE:g})")


def _published_conventional(groups: Groups) -> Verdict:
    """D8 (DACSL Table 2): our CCA, GMA and LCFS on Wikipedia's official split with the original features are
    within :data:`PUBLISHED_TOLERANCE` of the published Img2Txt and Txt2Img mAP (:mod:`xmr.study.published`).

    Held or not held per method (a distance to a number, no test); not testable when a method did not run.
    Never ``inconclusive``.
    """
    from . import published

    pub = published.load(paper="dacsl", table="Table 2")
    runs = _by_method(groups["official"])
    parts = []
    for m in ("cca", "gma", "lcfs"):
        r = runs[m]
        if not r.ok:
            parts.append(("not testable here", f"{m.upper()} not run"))
            continue
        diffs = {t: r.table[t].mean() - pub[(pub.method == m) & (pub.task == t)].value.item() for t in ("i2t", "t2i")}
        parts.append(("held" if all(abs(d) <= PUBLISHED_TOLERANCE for d in diffs.values()) else "not held",
                      ", ".join(f"{TASK_LABELS[t]} Δ {d:+.3f}" for t, d in diffs.items())))
    return combine_verdicts(parts, ["CCA", "GMA", "LCFS"])


def _published_pascal(groups: Groups) -> Verdict:
    """D9 (DACSL Table 1): not testable on the ``pascal100`` stand-in; with the real 800/100/100 protocol
    (``train_img.mat`` supplied) the comparison with the published numbers is left to the chapter page:
    inconclusive here. Never ``held`` or ``not held``."""
    from .standins import pascal_standin

    st = "not testable here" if pascal_standin().dataset != "pascal" else "inconclusive"
    return st, "the training image features of Pascal Sentence are not public; the 5-fold stand-in has 60 training pairs per fold"


# --------------------------------------------------------------------------- SMCR rules
def _beats_at_k(runs: dict[str, VariantRuns], a: str, others: Sequence[str]) -> Verdict:
    """``a`` beats each of ``others`` on the average of both tasks at every mAP@K of :data:`SMCR_METRICS`."""
    parts, labels = [], []
    for b in others:
        for k in SMCR_METRICS:
            parts.append(_better(runs[a], runs[b], f"avg@{k[4:]}"))
            labels.append(f"{b.upper()} {k}")
    return combine_verdicts(parts, labels)


def _smcr_beats(groups: Groups, *, group: str, others: tuple[str, ...]) -> Verdict:
    """S1 (SMCR Sec. 6.1 finding 1, Table 2: every baseline), S2 (finding 1: SSACR), S5 (finding 4: ACMR and
    DSCMR): SMCR beats each named method on the average of both tasks at mAP@5, @25 and @50."""
    return _beats_at_k(_by_method(groups[group]), "smcr", others)


def _beat_at_50(groups: Groups, *, group: str, methods: tuple[str, ...], baseline: str) -> Verdict:
    """S3 (SMCR Sec. 6.1 finding 2: every method beats CCA) and S4 (finding 3: the adversarial methods beat
    CMDN): each of ``methods`` beats ``baseline`` on the average mAP@50 of both tasks."""
    runs = _by_method(groups[group])
    return combine_verdicts([_better(runs[m], runs[baseline], "avg@50") for m in methods], [m.upper() for m in methods])


def _removing_term_hurts(groups: Groups, *, group: str, variant: str) -> Verdict:
    """S7 / S8 (SMCR Sec. 6.2 finding 1, Tables 3-4): the full objective of Eq. 8 beats SMCR without L_imi
    (Eq. 4) / without L_con (Eq. 7) on the average of both tasks at mAP@5, @25 and @50."""
    full, variants = _split_ablation(groups[group])
    ablated = next(v for v in variants if v.variant == variant)
    return combine_verdicts([_better(full, ablated, f"avg@{k[4:]}") for k in SMCR_METRICS], list(SMCR_METRICS))


def _consistent_ranking(groups: Groups) -> Verdict:
    """S6 (SMCR Sec. 6.1 finding 5): the methods rank consistently on both datasets.

    Kendall's τ between the methods' mean average mAP@50 on the two stand-ins (methods that ran on both):
    held when τ > 0 and p < :data:`RANK_TAU_ALPHA`; not held when τ ≤ 0; else inconclusive. Not testable
    with fewer than :data:`RANK_MIN_METHODS` methods on both.
    """
    from scipy import stats as sstats

    ranks = {key: {r.method: r.table["avg@50"].mean() for r in groups[key] if r.ok} for key in ("news", "wikipedia")}
    common = sorted(set(ranks["news"]) & set(ranks["wikipedia"]))
    if len(common) < RANK_MIN_METHODS:
        return "not testable here", f"only {len(common)} methods ran on both datasets"
    tau = sstats.kendalltau([ranks["news"][m] for m in common], [ranks["wikipedia"][m] for m in common])
    st = "held" if tau.statistic > 0 and tau.pvalue < RANK_TAU_ALPHA else ("not held" if tau.statistic <= 0 else "inconclusive")
    return st, (f"Kendall τ of the method rankings (average mAP@50) = {tau.statistic:.2f}, p = {tau.pvalue:.3g}, "
                f"{len(common)} methods")


def _insensitive(groups: Groups) -> Verdict:
    """S9 (SMCR Sec. 6.3, Fig. 2c): SMCR is insensitive to α and β of Eq. 8 over α ∈ {0.1, 1, 10}, any β.

    Held when the mean average mAP@50 of the cells in that region spreads (max − min) by at most
    :data:`SENSITIVITY_MAX_SPREAD` (:func:`xmr.study.stats.sensitivity_region`, the numbers the sensitivity
    chapter shows); not held otherwise. Not testable when a cell of the grid did not run. Never
    ``inconclusive``.
    """
    grid = sensitivity_grid(groups["grid"])
    if grid.empty:
        return "not testable here", "SMCR not run"
    region = sensitivity_region(grid, "avg@50")
    if region["cells_region"] == 0:
        return "not testable here", "no cell of the grid lies in the region"
    spread = region["spread_region"]
    st = "held" if spread <= SENSITIVITY_MAX_SPREAD else "not held"
    return st, (f"average mAP@50 spread over that region {spread:.4f} across {region['cells_region']} cells "
                f"(held: ≤ {SENSITIVITY_MAX_SPREAD:g}, i.e. {SENSITIVITY_MAX_SPREAD * 100:g} points)")


def _t2i_best_cell(groups: Groups) -> Verdict:
    """S10 (SMCR Sec. 6.3, Fig. 2a): txt2img mAP@50 (mean over units) is highest at α = β = 0.1
    (:data:`SMCR_T2I_BEST_CELL`). Held or not held (which cell is best; no test); not testable when a cell
    did not run. Never ``inconclusive``."""
    grid = sensitivity_grid(groups["grid"])
    if grid.empty:
        return "not testable here", "SMCR not run"
    t2i = sensitivity_region(grid, "t2i@50")
    best, means = (t2i["best_alpha"], t2i["best_beta"]), t2i["means"]
    st = "held" if best == SMCR_T2I_BEST_CELL else "not held"
    a0, b0 = SMCR_T2I_BEST_CELL
    return st, (f"best txt2img mAP@50 {t2i['best']:.4f} at α = {best[0]:g}, β = {best[1]:g}; "
                f"at ({a0:g}, {b0:g}): {means.get(SMCR_T2I_BEST_CELL, float('nan')):.4f}")


def _fixed(status: str, evidence: str, groups: Groups) -> Verdict:
    """A claim this study cannot test whatever the runs (the reason is the evidence)."""
    return status, evidence


# --------------------------------------------------------------------------- the claims
@dataclass(frozen=True)
class Claim:
    """One claim of a paper and the rule that judges it.

    ``chapter`` is the one chapter (:func:`xmr.study.chapters.names`) whose runs the rule reads and whose
    page shows the verdict; ``groups`` the groups of that chapter it reads (the rule gets exactly these,
    by name, see :func:`judge`); ``judge`` returns ``(status, evidence)``, status one of :data:`STATUSES`.
    """

    paper: str
    id: str
    text: str
    where: str
    chapter: str
    groups: tuple[str, ...]
    judge: Callable[[Groups], Verdict]


def _dacsl_comparison_claims(key: str, title: str) -> list[Claim]:
    """D1-D3 on one DACSL stand-in (Sec. 4.2): the comparison tables' claims."""
    chapter = "dacsl_table1_pascal" if key == "pascal" else "dacsl_table2_wikipedia"
    where = {"pascal": "Sec. 4.2, Table 1", "wikipedia": "Sec. 4.2, Table 2", "news": "Sec. 4.2 (third dataset)"}[key]
    return [
        Claim("DACSL", f"D1-{key}", f"DACSL beats DSCMR on both tasks ({title})", where, chapter, (key,),
              partial(_dacsl_beats_dscmr, group=key)),
        Claim("DACSL", f"D2-{key}", f"DACSL performs much better than the conventional methods CCA, GMA, LCFS "
              f"(average mAP; {title})", where, chapter, (key,), partial(_dacsl_beats_conventional, group=key)),
        Claim("DACSL", f"D3-{key}", f"Deep methods achieve higher mAP than conventional ones (every deep > every "
              f"conventional, average mAP; {title})", where, chapter, (key,), partial(_deep_beat_conventional, group=key)),
    ]


def _dacsl_ablation_claims(key: str, title: str) -> list[Claim]:
    """D5-D6 on one DACSL stand-in (Sec. 4.4, Tables 3-4)."""
    where = {"pascal": "Sec. 4.4, Table 3", "wikipedia": "Sec. 4.4, Table 4", "news": "Sec. 4.4 (third dataset)"}[key]
    ch = "dacsl_tables3_4_ablations"
    return [
        Claim("DACSL", f"D5-{key}", f"Each loss term helps: the full objective beats each ablation (average mAP; {title})",
              where, ch, (key,), partial(_full_beats_ablations, group=key)),
        Claim("DACSL", f"D6-{key}", f"The label-prediction loss L_pre has the most impact ({title})",
              where, ch, (key,), partial(_label_loss_matters_most, group=key)),
    ]


def _smcr_claims(key: str, title: str, paper_dataset: str | None) -> list[Claim]:
    """S1-S5 (Sec. 6.1, Table 2) and S7-S8 (Sec. 6.2, Tables 3-4) on one SMCR stand-in."""
    cmp, abl = "smcr_table2_comparison", "smcr_tables3_4_ablations"
    table = "Table 3" if paper_dataset == "scitechdaily" else "Table 4"
    g = (key,)
    return [
        Claim("SMCR", f"S1-{key}", f"SMCR outperforms every baseline (average of both tasks at mAP@5/25/50; {title})",
              "Sec. 6.1, Table 2", cmp, g,
              partial(_smcr_beats, group=key, others=("cca", "jfssl", "cmdn", "acmr", "dscmr", "ssacr"))),
        Claim("SMCR", f"S2-{key}", f"SMCR's mean mAP@5/25/50 is above SSACR's ({title})", "Sec. 6.1 finding 1", cmp, g,
              partial(_smcr_beats, group=key, others=("ssacr",))),
        Claim("SMCR", f"S3-{key}", f"Methods modelling intra- and inter-media similarity beat CCA (average mAP@50; {title})",
              "Sec. 6.1 finding 2", cmp, g,
              partial(_beat_at_50, group=key, methods=("jfssl", "cmdn", "acmr", "dscmr", "ssacr", "smcr"), baseline="cca")),
        Claim("SMCR", f"S4-{key}", f"Adversarial methods (SMCR, ACMR, DSCMR, SSACR) beat CMDN (average mAP@50; {title})",
              "Sec. 6.1 finding 3", cmp, g,
              partial(_beat_at_50, group=key, methods=("smcr", "acmr", "dscmr", "ssacr"), baseline="cmdn")),
        Claim("SMCR", f"S5-{key}", f"SMCR outperforms ACMR and DSCMR ({title})", "Sec. 6.1 finding 4", cmp, g,
              partial(_smcr_beats, group=key, others=("acmr", "dscmr"))),
        Claim("SMCR", f"S7-{key}", f"Removing L_imi lowers performance (average of both tasks; {title})",
              f"Sec. 6.2, {table}", abl, g, partial(_removing_term_hurts, group=key, variant="without_imi")),
        Claim("SMCR", f"S8-{key}", f"Removing L_con lowers performance (average of both tasks; {title})",
              f"Sec. 6.2, {table}", abl, g, partial(_removing_term_hurts, group=key, variant="without_con")),
    ]


@lru_cache(maxsize=1)
def _all_claims() -> tuple[Claim, ...]:
    from .standins import DACSL_STANDINS, SMCR_STANDINS, pascal_standin

    dacsl = {"pascal": pascal_standin(), "wikipedia": DACSL_STANDINS["wikipedia"], "news": DACSL_STANDINS["news"]}
    out: list[Claim] = []
    for key, s in dacsl.items():
        out += _dacsl_comparison_claims(key, s.title)
    for key in ("pascal", "wikipedia"):  # the datasets of Figs. 2 and 3
        fig = "Fig. 2" if key == "pascal" else "Fig. 3"
        out.append(Claim("DACSL", f"D4-{key}", f"At equal recall DACSL's precision is higher than CCA, ACMR, DRSL and "
                         f"DSCMR's ({dacsl[key].title})", f"Sec. 4.3, {fig}", "dacsl_fig2_fig3_pr_curves", (key,),
                         partial(_pr_dominates, group=key)))
    for key, s in dacsl.items():
        out += _dacsl_ablation_claims(key, s.title)
    for key in ("pascal", "wikipedia"):  # the datasets of Fig. 4
        out.append(Claim("DACSL", f"D7-{key}", f"The loss decreases and converges during training ({dacsl[key].title})",
                         "Sec. 4.5, Fig. 4", "dacsl_fig4_convergence", (key,), partial(_loss_converges, group=key)))
    out.append(Claim("DACSL", "D8", "The conventional baselines' published Wikipedia numbers (original SIFT/LDA features, "
                     f"official split) are reproduced within ±{PUBLISHED_TOLERANCE:g}", "Table 2", "dacsl_table2_wikipedia",
                     ("official",), _published_conventional))
    out.append(Claim("DACSL", "D9", "The published Pascal Sentence numbers (800/100/100 split) are reproduced", "Table 1",
                     "dacsl_table1_pascal", (), _published_pascal))
    for key, s in SMCR_STANDINS.items():
        out += _smcr_claims(key, s.title, s.paper_dataset)
    out += [
        Claim("SMCR", "S6", "Methods rank consistently on both datasets", "Sec. 6.1 finding 5", "smcr_table2_comparison",
              tuple(SMCR_STANDINS), _consistent_ranking),
        Claim("SMCR", "S9", "SMCR is insensitive to α and β (α ∈ {0.1, 1, 10}, any β)", "Sec. 6.3, Fig. 2",
              "smcr_fig2_sensitivity", ("grid",), _insensitive),
        Claim("SMCR", "S10", "txt2img is best at α = β = 0.1", "Sec. 6.3, Fig. 2", "smcr_fig2_sensitivity", ("grid",),
              _t2i_best_cell),
        Claim("SMCR", "S11", "img2txt is best at α = 1, β = \"−1\"; the average at α = β = \"−1\"", "Sec. 6.3",
              "smcr_fig2_sensitivity", (),
              partial(_fixed, "not testable here",
                      "the extracted text prints values outside the grid (−1); the intended values cannot be read")),
        Claim("SMCR", "S12", "The published SciTechDaily numbers are reproduced", "Tables 2, 3", "smcr_table2_comparison", (),
              partial(_fixed, "not testable here", "SciTechDaily is a private crawl; the web-news set stands in")),
    ]
    return tuple(out)


def __getattr__(name: str):
    # CLAIMS is built on first use: the Pascal claims' titles depend on whether the real Pascal protocol is
    # available (xmr.study.standins.pascal_standin reads the data directory), which importing must not do.
    if name == "CLAIMS":
        return _all_claims()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Every claim of both papers, in the ledger's order; built on first use (see ``__getattr__``), so this is
#: only its annotation.
CLAIMS: tuple[Claim, ...]


# --------------------------------------------------------------------------- judging
COLUMNS = ("paper", "id", "claim", "where", "status", "evidence", "chapter")


def judge(claim: Claim, groups: Groups) -> dict[str, str]:
    """One ledger row (paper, id, claim, where, status, evidence, chapter): ``claim`` judged on ``groups``.

    ``groups`` maps group name -> runs for ``claim.chapter``; the rule gets exactly the groups it declares
    (a group it declares but ``groups`` lacks is an error, not a silent "not testable").
    """
    missing = [g for g in claim.groups if g not in groups]
    if missing:
        raise KeyError(f"claim {claim.id} reads group(s) {', '.join(missing)} of chapter {claim.chapter}, "
                       f"which were not given (given: {', '.join(groups) or 'none'})")
    status, evidence = claim.judge({g: groups[g] for g in claim.groups})
    if status not in STATUSES:
        raise ValueError(f"claim {claim.id}: status must be one of {list(STATUSES)}, got {status!r}")
    return {"paper": claim.paper, "id": claim.id, "claim": claim.text, "where": claim.where, "status": status,
            "evidence": evidence, "chapter": claim.chapter}


def _frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def findings(ch: ChapterRuns) -> pd.DataFrame:
    """The claims a chapter page shows at its top: those whose ``chapter`` is ``ch``'s, judged on its groups."""
    return _frame([judge(c, ch.groups) for c in _all_claims() if c.chapter == ch.chapter.name])


def ledger(ch: ChapterRuns) -> pd.DataFrame:
    """Every claim, judged on the ``claims_ledger`` chapter's runs (groups keyed ``"source_chapter/group"``).

    Each claim gets its own chapter's groups under their plain names, so the verdicts are those its
    chapter page shows (:func:`findings`).
    """
    from .chapters import LEDGER_PAGES

    if ch.chapter.name not in LEDGER_PAGES:
        raise ValueError(f"ledger() judges the runs of a ledger page ({', '.join(LEDGER_PAGES)}, e.g. claims_ledger), "
                         f"got chapter {ch.chapter.name!r}")
    by_chapter: dict[str, dict[str, list[VariantRuns]]] = {}
    for key, runs in ch.groups.items():
        source, group = key.split("/", 1)
        by_chapter.setdefault(source, {})[group] = runs
    return _frame([judge(c, by_chapter.get(c.chapter, {})) for c in _all_claims()])


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """How many claims of each paper got each status (one row per paper, one column per status present)."""
    return frame.groupby(["paper", "status"]).size().unstack(fill_value=0)


#: How the headline names the stand-in a claim id ends with (``D1-news``).
_STAND_IN_NAMES = {"pascal": "Pascal Sentence", "wikipedia": "Wikipedia", "news": "the web news set"}


def headline(frame: pd.DataFrame) -> str:
    """The study's headline as Markdown bullets (the README quotes it): per paper, how many of the claims
    we could test held, and how each stand-in judged the paper's first claim (its central comparison), with
    how many verdicts depend on a reading when the ledger has the ``robustness`` column. Written from the rows."""
    out = []
    for paper, rows in frame.groupby("paper", sort=False):
        counts = rows["status"].value_counts()
        tested = len(rows) - int(counts.get("not testable here", 0))
        parts = [f"{int(counts.get(s, 0))} {s}" for s in STATUSES if s != "not testable here" and counts.get(s, 0)]
        line = f"- **{paper}**: of the {tested} claims we could test, {', '.join(parts)}."
        first = rows[rows["id"].str.split("-").str[0] == rows["id"].iloc[0].split("-")[0]]
        per = "; ".join(f"{status} on {', '.join(_STAND_IN_NAMES.get(i.partition('-')[2], i) for i in g['id'])}"
                        for status, g in first.groupby("status", sort=False))
        line += f" Its central claim, *{first['claim'].iloc[0].split(' (')[0]}*: {per}."
        if "robustness" in rows:
            depends = int(rows["robustness"].astype(str).str.startswith("depends").sum())
            line += f" {depends} verdict(s) depend on how an ambiguity of the paper is read."
        out.append(line)
    return "\n".join(out)


def takeaways(frame: pd.DataFrame) -> str:
    """What a reader should take away from a judged ledger (with ``robustness``, see
    :func:`xmr.study.multiverse.with_robustness`), as Markdown: per paper, the verdict counts, the
    claims that did not hold and the verdicts that depend on a reading. Written from the rows, so it
    says what the numbers say and nothing else."""

    def ids(rows: pd.DataFrame) -> str:
        return ", ".join(f"{i}" for i in rows["id"]) or "none"

    out = []
    for paper, rows in frame.groupby("paper", sort=False):
        n = len(rows)
        counts = rows["status"].value_counts()
        tested = n - int(counts.get("not testable here", 0))
        parts = [f"{int(counts.get(s, 0))} {s}" for s in STATUSES if counts.get(s, 0)]
        line = f"**{paper}**: of its {n} claims, {', '.join(parts)}."
        if tested:
            line += f" Of the {tested} we could test, {int(counts.get('held', 0))} held."
        not_held = rows[rows["status"] == "not held"]
        if len(not_held):
            line += f" Did not hold: {ids(not_held)}."
        if "robustness" in rows:
            depends = rows[rows["robustness"].astype(str).str.startswith("depends")]
            if len(depends):
                line += (f" {len(depends)} verdict(s) depend on how an ambiguity of the paper is read "
                         f"({ids(depends)}): a different reasonable reading flips them, so they are weak evidence "
                         f"either way.")
            else:
                line += " No verdict changes under any declared reading of the paper's ambiguities."
        out.append(line)
    return "\n\n".join(out)
