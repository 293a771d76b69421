"""The claims of both papers and the rules that judge them from runs: the claims ledger as library code.

Every claim is declared once, in :data:`CLAIMS`, as a :class:`Claim`: the paper, an id
(``D…`` for DACSL, ``S…`` for SMCR), the claim's text, where the paper makes it, the ONE
chapter whose runs it reads (and whose page shows it), the groups of that chapter it
reads, and the rule (``judge``) that turns those runs into a
:class:`~xmr.study.verdicts.Verdict`.

Verdicts
--------
The scheme is pre-registered in :mod:`xmr.study.verdicts` (and on the book's page *How a
verdict is reached*): a comparison claim is split into parts ("A beats B on task T"), each a
paired difference over independent units with its interval and the gain the paper claims for
it (:mod:`xmr.study.margins`); the claim is **held**, **refuted** (reversed, or its claimed
gain ruled out), **not shown**, **not assessable**, **descriptive** (a threshold on means with
no uncertainty) or **not testable here**. Thresholds are an argument
(:class:`~xmr.study.verdicts.Thresholds`) of every function that judges, never module state.

Use
---
A chapter page shows its own claims at its top with :func:`findings`; the ledger chapter judges
every claim with :func:`ledger` and counts them with :func:`summary`; :func:`judgements` gives
the typed records (``xmr claims --json``). Rows render with :func:`xmr.study.tables.ledger_html`.

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
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import pandas as pd

from .margins import Margin, Side, claimed_gain
from .group_refs import CampaignGroup, SourceGroup, parse
from .pooling import merged_groups
from .stats import TASK_LABELS, convergence_stats, dominance_shares, sensitivity_grid, sensitivity_region, unit_scores
from .verdicts import (PREREGISTERED, Part, Robustness, Status, Thresholds, Verdict, compare, decide, descriptive, not_testable,
                       gist, weakest)

if TYPE_CHECKING:
    from .pages import ChapterRuns
    from .runner import VariantRuns

__all__ = [
    "ORDER", "headline", "takeaways", "PR_HELD", "PR_NOT_HELD", "SENSITIVITY_MAX_SPREAD", "PUBLISHED_TOLERANCE",
    "CONVERGENCE_MAX_TAIL_CHANGE", "CONVERGENCE_MIN_SHARE_DECREASING", "CONVERGENCE_MIN_EPOCHS", "RANK_MIN_METHODS",
    "SMCR_T2I_BEST_CELL", "SMCR_METRICS", "Claim", "Judgement", "CLAIMS", "judge", "judgements", "findings", "ledger",
    "summary", "ledger_frame", "previous_labels", "with_previous", "parts_frame", "at_a_glance", "LEDGER_PAGES",
]

Groups = Mapping[str, "list[VariantRuns]"]

Rule = Callable[[Groups, Thresholds], Verdict]

#: The statuses in the order the ledger counts and explains them.
ORDER: tuple[Status, ...] = (Status.HELD, Status.REVERSED, Status.RULED_OUT, Status.NOT_SHOWN, Status.NOT_ASSESSABLE,
                             Status.DESCRIPTIVE, Status.NOT_TESTABLE)

# --------------------------------------------------------------------------- thresholds of the descriptive rules
# These rules carry no uncertainty: each is *descriptive* (xmr.study.verdicts), and its reason says what the
# threshold reads. The thresholds are those the previous edition judged by, so that reading is comparable.

#: DACSL Sec. 4.3 says that "when the recall is the same" DACSL's precision is higher (Figs. 2-3). The threshold
#: reads "above" when DACSL's mean interpolated precision is ≥ the other's on at least this share of the recall
#: points (about 4 crossings of the 38 compared allowed), against every other method.
PR_HELD = 0.9
#: ... and "below" when it is so on fewer than half the points against at least one method.
PR_NOT_HELD = 0.5

#: SMCR Sec. 6.3 calls SMCR "insensitive" to α and β over α ∈ {0.1, 1, 10}, any β (Fig. 2). The threshold reads
#: "insensitive" when the average mAP@50 moves by at most 2 points over that region: about the seed-to-seed spread
#: of one method, and smaller than most gaps between methods in SMCR Table 2.
SENSITIVITY_MAX_SPREAD = 0.02

#: DACSL Table 2 copies the conventional baselines' Wikipedia numbers (CCA, GMA, LCFS) from their own papers
#: (original SIFT/LDA features, official split); ±0.03 mAP is the largest gap we would still call the same number.
PUBLISHED_TOLERANCE = 0.03

#: DACSL Sec. 4.5 (Fig. 4): "the loss value decreases monotonically and converges". Converged: the mean loss over
#: the last 10 % of epochs differs from the 10 % before by less than 5 % (relative).
CONVERGENCE_MAX_TAIL_CHANGE = 0.05
#: "Decreases monotonically" with the paper's admitted "jitters": at least half of the epoch-to-epoch steps go down.
CONVERGENCE_MIN_SHARE_DECREASING = 0.5
#: Below 10 epochs a 10 % tail is a single epoch and "converges" cannot be judged: not testable.
CONVERGENCE_MIN_EPOCHS = 10

#: SMCR Sec. 6.1 finding 5: a rank correlation needs at least 3 methods on both datasets to mean anything.
RANK_MIN_METHODS = 3

#: SMCR Sec. 6.3: "on the task of using text to retrieve image, SMCR performs best when α = 0.1 and β = 0.1".
SMCR_T2I_BEST_CELL = (0.1, 0.1)

#: The cut-offs of SMCR's tables (mAP@K over the top K retrieved, SMCR Sec. 5.4, Table 2).
SMCR_METRICS = ("mAP@5", "mAP@25", "mAP@50")


# --------------------------------------------------------------------------- parts
def _part(label: str, a: VariantRuns, b: VariantRuns, column: str, margin: Margin, th: Thresholds) -> Part:
    """The part "a beats b" on one score column; not testable when either did not run."""
    if not (a.ok and b.ok):
        return Part(label, status=Status.NOT_TESTABLE, delta_claimed=margin.value, delta_source=margin.source,
                    note=f"{a.label if not a.ok else b.label} not run")
    return compare(label, unit_scores(a, column), unit_scores(b, column), delta_claimed=margin.value,
                   delta_source=margin.source, th=th)


def _metric(column: str) -> tuple[str, str]:
    """``"avg@50"`` -> (``"avg"``, ``"mAP@50"``); ``"t2i"`` -> (``"t2i"``, ``"mAP"``)."""
    task, _, k = column.partition("@")
    return task, f"mAP@{k}" if k else "mAP"


def _comparisons(pairs: Sequence[tuple[str, VariantRuns, VariantRuns, str]], paper: str, kind: str,
                 paper_dataset: str | None, th: Thresholds) -> Verdict:
    """A claim made of paired comparisons ``(label, a, b, column)``: each with the paper's claimed gain, then decided."""
    parts = []
    for label, a, b, column in pairs:
        task, metric = _metric(column)
        margin = claimed_gain(paper, kind, paper_dataset, Side(a.method, a.variant), Side(b.method, b.variant), task, metric)
        parts.append(_part(label, a, b, column, margin, th))
    return decide(parts, th)


def _by_method(runs: list[VariantRuns]) -> dict[str, VariantRuns]:
    return {r.method: r for r in runs}


def _split_ablation(runs: list[VariantRuns]) -> tuple[VariantRuns, list[VariantRuns]]:
    """The full objective and the ablated variants (in declaration order) of an ablation group."""
    full = [r for r in runs if r.variant == "full"]
    if len(full) != 1:
        raise ValueError(f"an ablation group needs exactly one full variant, got {len(full)}")
    return full[0], [r for r in runs if r.variant != "full"]


# --------------------------------------------------------------------------- DACSL rules
DEEP = ("dcca", "acmr", "drsl", "dscmr", "dacsl")
CONVENTIONAL = ("cca", "gma", "lcfs")


def _dacsl_beats_dscmr(groups: Groups, th: Thresholds, *, group: str, paper_dataset: str | None) -> Verdict:
    """D1 (DACSL Sec. 4.2, Tables 1-2): DACSL beats DSCMR on Img2Txt and on Txt2Img (mAP, Eqs. 5-6); two parts."""
    runs = _by_method(groups[group])
    return _comparisons([(TASK_LABELS[t], runs["dacsl"], runs["dscmr"], t) for t in ("i2t", "t2i")],
                        "dacsl", "comparison", paper_dataset, th)


def _dacsl_beats_conventional(groups: Groups, th: Thresholds, *, group: str, paper_dataset: str | None) -> Verdict:
    """D2 (DACSL Sec. 4.2): "our method performs much better than conventional methods": DACSL beats each of CCA,
    GMA and LCFS on the average mAP; "much" is the paper's own margin, δ of each part."""
    runs = _by_method(groups[group])
    return _comparisons([(m.upper(), runs["dacsl"], runs[m], "avg") for m in CONVENTIONAL],
                        "dacsl", "comparison", paper_dataset, th)


def _deep_beat_conventional(groups: Groups, th: Thresholds, *, group: str, paper_dataset: str | None) -> Verdict:
    """D3 (DACSL Sec. 4.2): "the deep learning-based method can achieve higher mAP scores compared with conventional
    methods": every deep method beats every conventional one on the average mAP: all 15 pairs are parts (an
    intersection-union test; no pair is chosen by its test mean)."""
    runs = _by_method(groups[group])
    return _comparisons([(f"{d.upper()} − {c.upper()}", runs[d], runs[c], "avg") for d in DEEP for c in CONVENTIONAL],
                        "dacsl", "comparison", paper_dataset, th)


def _pr_dominates(groups: Groups, th: Thresholds, *, group: str) -> Verdict:
    """D4 (DACSL Sec. 4.3, Figs. 2-3): at equal recall DACSL's precision is above CCA's, ACMR's, DRSL's and DSCMR's.

    Descriptive: for each other method, the share of recall points (both tasks, recall 0.05-0.95) where DACSL's
    mean interpolated precision is at least the other's (:func:`xmr.study.stats.pr_dominance`), read against
    :data:`PR_HELD` and :data:`PR_NOT_HELD`. Not testable unless every method of the figure has curves.
    """
    runs = groups[group]
    ok = [r for r in runs if r.ok and not r.pr.empty]
    if not any(r.method == "dacsl" for r in ok) or len(ok) < len(runs):
        return not_testable("ran: " + ", ".join(r.label for r in ok))
    shares = dominance_shares(ok, "dacsl")
    listed = ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
    if not shares or any(math.isnan(v) for v in shares.values()):
        return not_testable("no common recall points: " + listed)
    low = min(shares.values())
    reads = ("above every method" if low >= PR_HELD else "below at least one method" if low < PR_NOT_HELD
             else "crossing")
    return descriptive(f"share of recall points with DACSL ≥ other: {listed}; the threshold reads {reads} "
                       f"(above: ≥ {PR_HELD:g} for every method; below: < {PR_NOT_HELD:g} for one); no uncertainty attached")


def _full_beats_ablations(groups: Groups, th: Thresholds, *, group: str, paper_dataset: str | None) -> Verdict:
    """D5 (DACSL Sec. 4.4, Tables 3-4): every term of Eq. 4 (L_pre, L_dis, L_tri) helps: the full objective beats each
    ablated variant on the average mAP; one part per variant."""
    full, variants = _split_ablation(groups[group])
    return _comparisons([(v.label, full, v, "avg") for v in variants], "dacsl", "ablation", paper_dataset, th)


def _label_loss_matters_most(groups: Groups, th: Thresholds, *, group: str, paper_dataset: str | None) -> Verdict:
    """D6 (DACSL Sec. 4.4): "the label prediction loss [L_pre, Eq. 3] has the most impact on the model": removing
    L_pre lowers the average mAP more than removing any other term, i.e. each other ablation beats w/o L_pre
    (one part each, intersection-union; no variant is chosen by its test mean)."""
    _, variants = _split_ablation(groups[group])
    without_pre = next(v for v in variants if v.variant == "without_pre")
    return _comparisons([(f"{v.label} − {without_pre.label}", v, without_pre, "avg") for v in variants
                         if v is not without_pre], "dacsl", "ablation", paper_dataset, th)


def _loss_converges(groups: Groups, th: Thresholds, *, group: str) -> Verdict:
    """D7 (DACSL Sec. 4.5, Fig. 4): the total loss of Eq. 4 decreases and converges during training.

    Descriptive: on the per-epoch total loss (mean over units; :func:`xmr.study.stats.convergence_stats`), the
    threshold reads "converges" when the last epoch's loss is below the first's, at least
    :data:`CONVERGENCE_MIN_SHARE_DECREASING` of the steps go down and the relative change over the last 10 % of
    epochs is below :data:`CONVERGENCE_MAX_TAIL_CHANGE`. Not testable without a history or with fewer than
    :data:`CONVERGENCE_MIN_EPOCHS` epochs.
    """
    r = groups[group][0]
    if not r.ok or r.history.empty or "loss" not in r.history:
        return not_testable("no training history")
    c = convergence_stats(r.history.groupby("epoch")["loss"].mean())
    if c["epochs"] < CONVERGENCE_MIN_EPOCHS:
        return not_testable(f"only {c['epochs']} epochs at this scale")
    ok = (c["last"] < c["first"] and c["relative_tail_change"] < CONVERGENCE_MAX_TAIL_CHANGE
          and c["share_decreasing"] >= CONVERGENCE_MIN_SHARE_DECREASING)
    return descriptive(f"total loss {c['first']:.4g} → {c['last']:.4g}; {c['share_decreasing']:.0%} of epochs decrease; "
                       f"last-10% relative change {c['relative_tail_change']:.3f}: the threshold reads "
                       f"{'converges' if ok else 'does not converge'} (falls overall, ≥ "
                       f"{CONVERGENCE_MIN_SHARE_DECREASING:.0%} of epochs decrease, tail change < "
                       f"{CONVERGENCE_MAX_TAIL_CHANGE:g})")


def _published_conventional(groups: Groups, th: Thresholds) -> Verdict:
    """D8 (DACSL Table 2): our CCA, GMA and LCFS on Wikipedia's official split with the original features against the
    published Img2Txt and Txt2Img mAP (:mod:`xmr.study.published`). Descriptive: deterministic methods on one split
    have no uncertainty here; the threshold :data:`PUBLISHED_TOLERANCE` is read per method."""
    from . import published

    pub = published.load(paper="dacsl", table="Table 2")
    runs = _by_method(groups["official"])
    out = []
    for m in CONVENTIONAL:
        r = runs[m]
        if not r.ok:
            return not_testable(f"{m.upper()} not run")
        diffs = {t: r.table[t].mean() - pub[(pub.method == m) & (pub.task == t)].value.item() for t in ("i2t", "t2i")}
        within = all(abs(d) <= PUBLISHED_TOLERANCE for d in diffs.values())
        out.append(f"{m.upper()} " + ", ".join(f"{TASK_LABELS[t]} Δ {d:+.3f}" for t, d in diffs.items())
                   + (" (within)" if within else " (outside)"))
    return descriptive("ours − published: " + "; ".join(out) + f" (threshold ±{PUBLISHED_TOLERANCE:g})")


def _published_pascal(groups: Groups, th: Thresholds) -> Verdict:
    """D9 (DACSL Table 1): not testable on the ``pascal100`` stand-in; with the real 800/100/100 protocol
    (``train_img.mat`` supplied) the comparison with the published numbers is descriptive, on the chapter page."""
    from .standins import pascal_standin

    why = "the training image features of Pascal Sentence are not public; the 5-fold stand-in has 60 training pairs per fold"
    if pascal_standin().dataset != "pascal":
        return not_testable(why)
    return descriptive("the real protocol ran: the chapter page sets our numbers beside the published ones")


# --------------------------------------------------------------------------- SMCR rules
def _beats_at_k(runs: dict[str, VariantRuns], a: str, others: Sequence[str], paper_dataset: str | None,
                th: Thresholds) -> Verdict:
    """``a`` beats each of ``others`` on the average of both tasks at every mAP@K of :data:`SMCR_METRICS`."""
    return _comparisons([(f"{b.upper()} {k}", runs[a], runs[b], f"avg@{k[4:]}") for b in others for k in SMCR_METRICS],
                        "smcr", "comparison", paper_dataset, th)


def _smcr_beats(groups: Groups, th: Thresholds, *, group: str, others: tuple[str, ...], paper_dataset: str | None) -> Verdict:
    """S1 (SMCR Sec. 6.1 finding 1, Table 2: every baseline), S2 (finding 1: SSACR), S5 (finding 4: ACMR and DSCMR):
    SMCR beats each named method on the average of both tasks at mAP@5, @25 and @50; one part per (method, K)."""
    return _beats_at_k(_by_method(groups[group]), "smcr", others, paper_dataset, th)


def _beat_at_50(groups: Groups, th: Thresholds, *, group: str, methods: tuple[str, ...], baseline: str,
                paper_dataset: str | None) -> Verdict:
    """S3 (SMCR Sec. 6.1 finding 2: every method beats CCA) and S4 (finding 3: the adversarial methods beat CMDN):
    each of ``methods`` beats ``baseline`` on the average mAP@50 of both tasks; one part per method."""
    runs = _by_method(groups[group])
    return _comparisons([(m.upper(), runs[m], runs[baseline], "avg@50") for m in methods], "smcr", "comparison",
                        paper_dataset, th)


def _removing_term_hurts(groups: Groups, th: Thresholds, *, group: str, variant: str, paper_dataset: str | None) -> Verdict:
    """S7 / S8 (SMCR Sec. 6.2 finding 1, Tables 3-4): the full objective of Eq. 8 beats SMCR without L_imi (Eq. 4) /
    without L_con (Eq. 7) on the average of both tasks at mAP@5, @25 and @50; one part per K."""
    full, variants = _split_ablation(groups[group])
    ablated = next(v for v in variants if v.variant == variant)
    return _comparisons([(k, full, ablated, f"avg@{k[4:]}") for k in SMCR_METRICS], "smcr", "ablation", paper_dataset, th)


def _consistent_ranking(groups: Groups, th: Thresholds) -> Verdict:
    """S6 (SMCR Sec. 6.1 finding 5): the methods rank consistently on both datasets.

    Kendall's τ between the methods' mean average mAP@50 on the two stand-ins (methods that ran on both; the
    methods are the units): held when τ > 0 at p < α, refuted (reversed) when τ < 0 at p < α, else not shown.
    Not testable with fewer than :data:`RANK_MIN_METHODS` methods on both.
    """
    from scipy import stats as sstats

    ranks = {key: {r.method: r.table["avg@50"].mean() for r in groups[key] if r.ok} for key in ("news", "wikipedia")}
    common = sorted(set(ranks["news"]) & set(ranks["wikipedia"]))
    if len(common) < RANK_MIN_METHODS:
        return not_testable(f"only {len(common)} methods ran on both datasets")
    tau = sstats.kendalltau([ranks["news"][m] for m in common], [ranks["wikipedia"][m] for m in common])
    significant = tau.pvalue < th.alpha
    st = (Status.HELD if significant and tau.statistic > 0 else Status.REVERSED if significant and tau.statistic < 0
          else Status.NOT_SHOWN)
    return Verdict(st, f"Kendall τ of the method rankings (average mAP@50) = {tau.statistic:.2f}, p = {tau.pvalue:.3g}, "
                       f"{len(common)} methods")


def _insensitive(groups: Groups, th: Thresholds) -> Verdict:
    """S9 (SMCR Sec. 6.3, Fig. 2c): SMCR is insensitive to α and β of Eq. 8 over α ∈ {0.1, 1, 10}, any β.

    Descriptive: the spread (max − min) of the cells' mean average mAP@50 over that region
    (:func:`xmr.study.stats.sensitivity_region`), read against :data:`SENSITIVITY_MAX_SPREAD`, beside the
    seed-to-seed sd within a cell (how much of the spread noise alone could make).
    """
    grid = sensitivity_grid(groups["grid"])
    if grid.empty:
        return not_testable("SMCR not run")
    region = sensitivity_region(grid, "avg@50")
    if region["cells_region"] == 0:
        return not_testable("no cell of the grid lies in the region")
    spread = region["spread_region"]
    seed_sd = float(grid.groupby(["alpha", "beta"])["avg@50"].std(ddof=1).mean())
    reads = "insensitive" if spread <= SENSITIVITY_MAX_SPREAD else "sensitive"
    return descriptive(f"average mAP@50 spread over that region {spread:.4f} across {region['cells_region']} cells, "
                       f"{spread / seed_sd:.1f}× the mean seed sd within a cell ({seed_sd:.4f}); the threshold reads "
                       f"{reads} (≤ {SENSITIVITY_MAX_SPREAD:g})" if math.isfinite(seed_sd) and seed_sd > 0 else
                       f"average mAP@50 spread over that region {spread:.4f} across {region['cells_region']} cells; the "
                       f"threshold reads {reads} (≤ {SENSITIVITY_MAX_SPREAD:g})")


def _t2i_best_cell(groups: Groups, th: Thresholds) -> Verdict:
    """S10 (SMCR Sec. 6.3, Fig. 2a): txt2img mAP@50 is highest at α = β = 0.1 (:data:`SMCR_T2I_BEST_CELL`).

    The named cell against each other cell, one part each (no cell is chosen by its test mean): held when it
    significantly beats every other cell (it alone is in the confidence set for the best cell), refuted when
    some cell significantly beats it after Holm (it is outside that set). Fig. 2 prints no numbers, so δ is the
    smallest effect of interest.
    """
    runs = groups["grid"]
    if not runs or not all(r.ok for r in runs):
        return not_testable("SMCR not run")
    cell = {(float(r.hparams["alpha"]), float(r.hparams["beta"])): r for r in runs}
    named = cell.get(SMCR_T2I_BEST_CELL)
    if named is None:
        return not_testable(f"the grid has no cell α = {SMCR_T2I_BEST_CELL[0]:g}, β = {SMCR_T2I_BEST_CELL[1]:g}")
    none = Margin(None, "SMCR Fig. 2 prints no numbers")
    parts = [_part(f"vs α={a:g}, β={b:g}", named, r, "t2i@50", none, th) for (a, b), r in cell.items() if r is not named]
    return decide(parts, th)


def _fixed(reason: str, groups: Groups, th: Thresholds) -> Verdict:
    """A claim this study cannot test whatever the runs (the reason says why)."""
    return not_testable(reason)


# --------------------------------------------------------------------------- the claims
@dataclass(frozen=True)
class Claim:
    """One claim of a paper and the rule that judges it.

    ``chapter`` is the one chapter (:func:`xmr.study.chapters.names`) whose runs the rule reads and whose
    page shows the verdict; ``groups`` the groups of that chapter it reads (the rule gets exactly these,
    by name, see :func:`judge`); ``judge(groups, thresholds)`` returns a :class:`~xmr.study.verdicts.Verdict`;
    ``reads`` the methods (or ablation variants) of those groups that the rule compares.
    """

    paper: str
    id: str
    text: str
    where: str
    chapter: str
    groups: tuple[str, ...]
    judge: Rule
    reads: tuple[str, ...] = ()

    def reads_run(self, method: str, variant: str) -> bool:
        """Whether the rule reads the runs of ``method``'s ``variant`` in its groups: ``reads`` names the methods of a
        comparison or the variants of an ablation (what a campaign must re-run for it); empty means every run."""
        return not self.reads or method in self.reads or variant in self.reads


def _dacsl_comparison_claims(key: str, title: str, paper_dataset: str | None) -> list[Claim]:
    """D1-D3 on one DACSL stand-in (Sec. 4.2): the comparison tables' claims."""
    chapter = "dacsl_table1_pascal" if key == "pascal" else "dacsl_table2_wikipedia"
    where = {"pascal": "Sec. 4.2, Table 1", "wikipedia": "Sec. 4.2, Table 2", "news": "Sec. 4.2 (third dataset)"}[key]
    kw = {"group": key, "paper_dataset": paper_dataset}
    return [
        Claim("DACSL", f"D1-{key}", f"DACSL beats DSCMR on both tasks ({title})", where, chapter, (key,),
              partial(_dacsl_beats_dscmr, **kw), ("dacsl", "dscmr")),
        Claim("DACSL", f"D2-{key}", f"DACSL performs much better than the conventional methods CCA, GMA, LCFS "
              f"(average mAP; {title})", where, chapter, (key,), partial(_dacsl_beats_conventional, **kw),
              ("dacsl", *CONVENTIONAL)),
        Claim("DACSL", f"D3-{key}", f"Deep methods achieve higher mAP than conventional ones (every deep > every "
              f"conventional, average mAP; {title})", where, chapter, (key,), partial(_deep_beat_conventional, **kw),
              DEEP + CONVENTIONAL),
    ]


def _dacsl_ablation_claims(key: str, title: str, paper_dataset: str | None) -> list[Claim]:
    """D5-D6 on one DACSL stand-in (Sec. 4.4, Tables 3-4)."""
    where = {"pascal": "Sec. 4.4, Table 3", "wikipedia": "Sec. 4.4, Table 4", "news": "Sec. 4.4 (third dataset)"}[key]
    ch = "dacsl_tables3_4_ablations"
    kw = {"group": key, "paper_dataset": paper_dataset}
    return [
        Claim("DACSL", f"D5-{key}", f"Each loss term helps: the full objective beats each ablation (average mAP; {title})",
              where, ch, (key,), partial(_full_beats_ablations, **kw)),
        Claim("DACSL", f"D6-{key}", f"The label-prediction loss L_pre has the most impact ({title})",
              where, ch, (key,), partial(_label_loss_matters_most, **kw)),
    ]


def _smcr_claims(key: str, title: str, paper_dataset: str | None) -> list[Claim]:
    """S1-S5 (Sec. 6.1, Table 2) and S7-S8 (Sec. 6.2, Tables 3-4) on one SMCR stand-in."""
    cmp, abl = "smcr_table2_comparison", "smcr_tables3_4_ablations"
    table = "Table 3" if paper_dataset == "scitechdaily" else "Table 4"
    g = (key,)
    kw = {"group": key, "paper_dataset": paper_dataset}
    return [
        Claim("SMCR", f"S1-{key}", f"SMCR outperforms every baseline (average of both tasks at mAP@5/25/50; {title})",
              "Sec. 6.1, Table 2", cmp, g,
              partial(_smcr_beats, others=("cca", "jfssl", "cmdn", "acmr", "dscmr", "ssacr"), **kw),
              ("smcr", "cca", "jfssl", "cmdn", "acmr", "dscmr", "ssacr")),
        Claim("SMCR", f"S2-{key}", f"SMCR's mean mAP@5/25/50 is above SSACR's ({title})", "Sec. 6.1 finding 1", cmp, g,
              partial(_smcr_beats, others=("ssacr",), **kw), ("smcr", "ssacr")),
        Claim("SMCR", f"S3-{key}", f"Methods modelling intra- and inter-media similarity beat CCA (average mAP@50; {title})",
              "Sec. 6.1 finding 2", cmp, g,
              partial(_beat_at_50, methods=("jfssl", "cmdn", "acmr", "dscmr", "ssacr", "smcr"), baseline="cca", **kw),
              ("jfssl", "cmdn", "acmr", "dscmr", "ssacr", "smcr", "cca")),
        Claim("SMCR", f"S4-{key}", f"Adversarial methods (SMCR, ACMR, DSCMR, SSACR) beat CMDN (average mAP@50; {title})",
              "Sec. 6.1 finding 3", cmp, g,
              partial(_beat_at_50, methods=("smcr", "acmr", "dscmr", "ssacr"), baseline="cmdn", **kw),
              ("smcr", "acmr", "dscmr", "ssacr", "cmdn")),
        Claim("SMCR", f"S5-{key}", f"SMCR outperforms ACMR and DSCMR ({title})", "Sec. 6.1 finding 4", cmp, g,
              partial(_smcr_beats, others=("acmr", "dscmr"), **kw), ("smcr", "acmr", "dscmr")),
        Claim("SMCR", f"S7-{key}", f"Removing L_imi lowers performance (average of both tasks; {title})",
              f"Sec. 6.2, {table}", abl, g, partial(_removing_term_hurts, variant="without_imi", **kw),
              ("full", "without_imi")),
        Claim("SMCR", f"S8-{key}", f"Removing L_con lowers performance (average of both tasks; {title})",
              f"Sec. 6.2, {table}", abl, g, partial(_removing_term_hurts, variant="without_con", **kw),
              ("full", "without_con")),
    ]


@lru_cache(maxsize=1)
def _all_claims() -> tuple[Claim, ...]:
    from .standins import SMCR_STANDINS, dacsl_standins

    dacsl = dacsl_standins()
    out: list[Claim] = []
    for key, s in dacsl.items():
        out += _dacsl_comparison_claims(key, s.title, s.paper_dataset)
    for key in ("pascal", "wikipedia"):  # the datasets of Figs. 2 and 3
        fig = "Fig. 2" if key == "pascal" else "Fig. 3"
        out.append(Claim("DACSL", f"D4-{key}", f"At equal recall DACSL's precision is higher than CCA, ACMR, DRSL and "
                         f"DSCMR's ({dacsl[key].title})", f"Sec. 4.3, {fig}", "dacsl_fig2_fig3_pr_curves", (key,),
                         partial(_pr_dominates, group=key)))
    for key, s in dacsl.items():
        out += _dacsl_ablation_claims(key, s.title, s.paper_dataset)
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
              partial(_fixed, "the extracted text prints values outside the grid (−1); the intended values cannot be read")),
        Claim("SMCR", "S12", "The published SciTechDaily numbers are reproduced", "Tables 2, 3", "smcr_table2_comparison", (),
              partial(_fixed, "SciTechDaily is a private crawl; the web-news set stands in")),
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
@dataclass(frozen=True)
class Judgement:
    """A claim and its verdict under some thresholds.

    ``verdict`` is the one the ledger and the headline use: on every split the power plan's campaign trained where
    it trained any (pre-registered with the plan), else on the published split; ``published`` is the verdict on the
    published split alone when the two differ in what they read (``None`` otherwise).
    """

    claim: Claim
    verdict: Verdict
    published: Verdict | None = None

    @property
    def status(self) -> Status:
        return self.verdict.status

    @property
    def basis(self) -> str:
        """What the verdict reads: the published split, or the campaign's pooled runs (as many splits as its parts
        could pair; the campaign grows over sessions)."""
        if self.published is None:
            return "published split"
        splits = max((p.splits for p in self.verdict.parts), default=1)
        return f"the power plan's runs: {splits} split(s)" if splits > 1 else "the power plan's seeds, published split"

    def row(self) -> dict[str, Any]:
        """One ledger row: paper, id, claim, where, status, reason, chapter, the parts (a tuple of Part), the basis and
        the published split's status (the same as ``status`` when nothing more was run)."""
        c = self.claim
        pub = self.published or self.verdict
        return {"paper": c.paper, "id": c.id, "claim": c.text, "where": c.where, "status": self.verdict.status,
                "reason": self.verdict.reason, "chapter": c.chapter, "parts": self.verdict.parts, "basis": self.basis,
                "published_status": pub.status}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``xmr claims --json`` prints: id, paper, claim, where, chapter, basis, status, reason, parts,
        and ``published`` (the published split's verdict) when more was run."""
        c = self.claim
        out = {"id": c.id, "paper": c.paper, "claim": c.text, "where": c.where, "chapter": c.chapter,
               "basis": self.basis} | self.verdict.to_dict()
        if self.published is not None:
            out["published"] = self.published.to_dict()
        return out


COLUMNS = ("paper", "id", "claim", "where", "status", "reason", "chapter", "parts", "basis", "published_status")


def judge(claim: Claim, groups: Groups, thresholds: Thresholds = PREREGISTERED) -> Judgement:
    """``claim`` judged on ``groups`` (group name -> runs of ``claim.chapter``) under ``thresholds``.

    The rule gets exactly the groups it declares (a group it declares but ``groups`` lacks is an error, not a
    silent "not testable").
    """
    missing = [g for g in claim.groups if g not in groups]
    if missing:
        raise KeyError(f"claim {claim.id} reads group(s) {', '.join(missing)} of chapter {claim.chapter}, "
                       f"which were not given (given: {', '.join(groups) or 'none'})")
    verdict = claim.judge({g: groups[g] for g in claim.groups}, thresholds)
    if not isinstance(verdict, Verdict):
        raise TypeError(f"claim {claim.id}: its rule must return a Verdict, got {type(verdict).__name__}")
    return Judgement(claim, verdict)


def ledger_frame(judged: Sequence[Judgement]) -> pd.DataFrame:
    """Judgements as a ledger frame, one row per claim (:data:`COLUMNS`)."""
    return pd.DataFrame([j.row() for j in judged], columns=list(COLUMNS))


def findings(ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """The claims a chapter page shows at its top: those whose ``chapter`` is ``ch``'s, judged on its groups."""
    return ledger_frame([judge(c, ch.groups, thresholds) for c in _all_claims() if c.chapter == ch.chapter.name])


#: The pages that judge every claim (the findings page and the ledger), on the same declared runs.
LEDGER_PAGES = ("findings", "claims_ledger")


def _by_chapter(ch: ChapterRuns) -> dict[str, dict[str, list[VariantRuns]]]:
    if ch.chapter.name not in LEDGER_PAGES:
        raise ValueError(f"the ledger judges the runs of a ledger page ({', '.join(LEDGER_PAGES)}, e.g. claims_ledger), "
                         f"got chapter {ch.chapter.name!r}")
    by_chapter: dict[str, dict[str, list[VariantRuns]]] = {}
    for key, runs in ch.groups.items():
        ref = parse(key)
        if isinstance(ref, SourceGroup):  # the multiverse's and the campaign's runs are not the claims' sources
            by_chapter.setdefault(ref.chapter, {})[ref.group] = runs
    return by_chapter


def judgements(ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> list[Judgement]:
    """Every claim judged on the runs of a ledger page (groups keyed ``"source_chapter/group"``): each claim gets its
    own chapter's groups under their plain names, so the verdicts are those its chapter page shows; where the page
    also holds the power plan's campaign (``"campaign/..."`` groups) and it trained runs the claim reads, the claim is
    judged again on all of them (:func:`xmr.study.pooling.merged_groups`), and that verdict leads."""
    by_chapter = _by_chapter(ch)
    pooled = any(isinstance(parse(k), CampaignGroup) for k in ch.groups)
    out = []
    for c in _all_claims():
        j = judge(c, by_chapter.get(c.chapter, {}), thresholds)
        merged = merged_groups(ch.groups, c) if pooled and c.groups else None
        if merged is not None:
            pooled_verdict = judge(c, merged, thresholds).verdict
            units = [(p.n_units, p.splits) for p in pooled_verdict.parts]
            if units != [(p.n_units, p.splits) for p in j.verdict.parts]:  # more units than the published split's
                j = Judgement(c, pooled_verdict, j.verdict)
        out.append(j)
    return out


def ledger(ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """:func:`judgements` as a frame, one row per claim (:data:`COLUMNS`)."""
    return ledger_frame(judgements(ch, thresholds))


def previous_labels() -> pd.DataFrame:
    """The previous rule's label of each claim on this edition's runs (``previous_rule.csv``, kept as data beside
    the new verdicts for this edition only): columns id, old_status, old_robustness."""
    with resources.files("xmr.study").joinpath("previous_rule.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#")[["id", "old_status", "old_robustness"]]


def with_previous(frame: pd.DataFrame) -> pd.DataFrame:
    """A ledger frame with the previous rule's labels beside the new verdicts (``old_status``, ``old_robustness``;
    :func:`previous_labels`), for this edition's ledger page."""
    return frame.merge(previous_labels(), on="id", how="left")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """How many claims of each paper got each status (one row per paper, one column per status present, in
    :data:`ORDER`)."""
    counts = frame.assign(status=frame["status"].map(str)).groupby(["paper", "status"]).size().unstack(fill_value=0)
    return counts[[s.value for s in ORDER if s.value in counts.columns]]


def at_a_glance(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per claim for a first screen: id, the claim (without its stand-in, which the id names), the gain the
    paper claims and ours (Δ [95 % CI]) on the claim's weakest part (the one nearest to failing "held", named), the
    verdict and the gist of its reason (:attr:`xmr.study.verdicts.Verdict.gist`)."""
    rows = []
    for r in frame.itertuples():
        w = weakest(r.parts)
        ours = "—" if w is None else (f"{w.label}: {w.delta:+.3f} [{w.ci_low:+.3f}, {w.ci_high:+.3f}]"
                                      if math.isfinite(w.ci_low) else f"{w.label}: {w.delta:+.3f} (one unit)")
        rows.append({"id": r.id, "claim": r.claim.partition(" (")[0],
                     "paper's gain": "—" if w is None or w.delta_claimed is None else f"{w.delta_claimed:+.3f}",
                     "ours: Δ [95 % CI]": ours, "verdict": str(r.status), "why": gist(str(r.reason))})
    return pd.DataFrame(rows)


def parts_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every part of every claim of a ledger frame, one row each: id, paper, claim status and the part's fields
    (:class:`xmr.study.verdicts.Part`); what the forest plot draws."""
    rows = [{"id": r.id, "paper": r.paper, "claim_status": str(r.status)} | p.to_dict()
            for r in frame.itertuples() for p in r.parts]
    return pd.DataFrame(rows)


#: How the headline names the stand-in a claim id ends with (``D1-news``).
_STAND_IN_NAMES = {"pascal": "Pascal Sentence", "wikipedia": "Wikipedia", "news": "the web news set"}


def _counts(rows: pd.DataFrame) -> str:
    """"3 held, 2 refuted (1 reversed, 1 claimed gain ruled out), 4 not shown, 1 not assessable"."""
    c = rows["status"].map(str).value_counts()
    n = {s: int(c.get(s.value, 0)) for s in ORDER}
    out = [f"{n[Status.HELD]} held"]
    refuted = n[Status.REVERSED] + n[Status.RULED_OUT]
    if refuted:
        out.append(f"{refuted} refuted ({n[Status.REVERSED]} reversed, {n[Status.RULED_OUT]} claimed gain ruled out)")
    else:
        out.append("0 refuted")
    out.append(f"{n[Status.NOT_SHOWN]} not shown")
    if n[Status.NOT_ASSESSABLE]:
        out.append(f"{n[Status.NOT_ASSESSABLE]} not assessable")
    return ", ".join(out)


def _judged(rows: pd.DataFrame) -> pd.DataFrame:
    """The claims a test can decide: neither descriptive nor untestable."""
    return rows[~rows["status"].map(str).isin([Status.DESCRIPTIVE.value, Status.NOT_TESTABLE.value])]


def _depends(rows: pd.DataFrame) -> pd.Series:
    return rows["robustness"].map(str) == Robustness.DEPENDS.value


def headline(frame: pd.DataFrame) -> str:
    """The study's headline as Markdown bullets (the README quotes it): per paper, the verdicts of the claims a test
    can decide, how each stand-in judged the paper's first claim (its central comparison), and how many verdicts
    depend on a reading when the ledger has the ``robustness`` column. Written from the rows."""
    out = []
    for paper, rows in frame.groupby("paper", sort=False):
        judged = _judged(rows)
        descr = int((rows["status"].map(str) == Status.DESCRIPTIVE.value).sum())
        line = f"- **{paper}**: of the {len(judged)} claims a test could decide, {_counts(judged)}"
        line += f" ({descr} more descriptive)." if descr else "."
        first = rows[rows["id"].str.split("-").str[0] == rows["id"].iloc[0].split("-")[0]]
        per = "; ".join(f"{status} on {', '.join(_STAND_IN_NAMES.get(i.partition('-')[2], i) for i in g['id'])}"
                        for status, g in first.groupby(first["status"].map(str), sort=False))
        line += f" Its central claim, *{first['claim'].iloc[0].split(' (')[0]}*: {per}."
        if "robustness" in rows:
            line += f" {int(_depends(rows).sum())} verdict(s) depend on how an ambiguity of the paper is read."
        out.append(line)
    return "\n".join(out)


def takeaways(frame: pd.DataFrame) -> str:
    """What a reader should take away from a judged ledger (with ``robustness``, see
    :func:`xmr.study.multiverse.with_robustness`), as Markdown: per paper, the verdict counts, then one bullet each
    for the claims held, refuted (one line each, with why), not shown, and the verdicts that depend on a reading.
    Written from the rows."""
    out = []
    for paper, rows in frame.groupby("paper", sort=False):
        status = rows["status"].map(str)
        judged = _judged(rows)
        lines = [f"**{paper}**: of the {len(judged)} claims a test could decide, {_counts(judged)}.", ""]
        held = rows[status == Status.HELD.value]
        if len(held):
            lines.append(f"- **Held**: {', '.join(held['id'])}.")
        refuted = rows[status.isin([Status.REVERSED.value, Status.RULED_OUT.value])]
        if len(refuted):
            lines.append("- **Refuted**:")
            lines += [f"  - {r.id}: {r.reason}." for r in refuted.itertuples()]
        open_ = rows[status == Status.NOT_SHOWN.value]
        if len(open_):
            lines.append(f"- **Not shown** (more seeds could decide them): {', '.join(open_['id'])}.")
        if "robustness" in rows:
            depends = rows[_depends(rows)]
            if len(depends):
                lines.append(f"- **Depends on the reading** ({', '.join(depends['id'])}): one reasonable reading of the "
                             "paper holds the claim, another refutes it.")
            else:
                lines.append("- No verdict is held under one declared reading and refuted under another.")
        out.append("\n".join(lines))
    return "\n\n".join(out)
