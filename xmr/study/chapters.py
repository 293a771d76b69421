"""The book's chapters as declarations: each is a function from a scale to named groups of requests.

A chapter notebook opens its chapter in one call and only formats and plots what comes back::

    ch = chapters.open_chapter("dacsl_table2_wikipedia", scale)
    ch["wikipedia"]            # one VariantRuns per method of DACSL Table 2, in the table's order
    ch.standin("wikipedia")    # the stand-in dataset and why it differs from the paper's

The planner and the prefill (:mod:`xmr.orchestrate`) read the same declarations
(:func:`declared`) and never execute a notebook; the runner refuses a run that its chapter
does not declare, so plan and build cannot drift apart. :data:`CHAPTERS` is the one list
of chapters, in the book's reading order.
"""

from __future__ import annotations

import pandas as pd

from .campaign import groups as campaign_groups, requests_by_claim
from .claims import LEDGER_PAGES  # noqa: F401 - re-exported: the pages that re-read every chapter
from .group_refs import SourceGroup
from .pages import Chapter, ChapterRuns, Groups
from .runner import Request, Runner, VariantRuns  # noqa: F401 - VariantRuns: what a group holds, for readers
from .scale import Scale, scale as make_scale
from .standins import DACSL_STANDINS, OFFICIAL_WIKIPEDIA, SMCR_STANDINS, StandIn, dacsl_standins, pascal_standin

__all__ = [
    "DACSL_METHODS", "SMCR_METHODS", "DEEP_DACSL_PR_METHODS", "CONVENTIONAL", "Chapter", "ChapterRuns", "CHAPTERS",
    "chapter", "names", "declared", "open_chapter", "comparison", "dacsl_ablation", "smcr_ablation", "loss_columns",
    "campaign_claims",
]

# (registry name, row label) in the order of the papers' tables.
DACSL_METHODS: tuple[tuple[str, str], ...] = (
    ("cca", "CCA"), ("gma", "GMA"), ("lcfs", "LCFS"), ("dcca", "DCCA"),
    ("acmr", "ACMR"), ("drsl", "DRSL"), ("dscmr", "DSCMR"), ("dacsl", "DACSL"),
)
SMCR_METHODS: tuple[tuple[str, str], ...] = (
    ("cca", "CCA"), ("jfssl", "JFSSL"), ("cmdn", "CMDN"), ("acmr", "ACMR"),
    ("dscmr", "DSCMR"), ("ssacr", "SSACR"), ("smcr", "SMCR"),
)
# The methods drawn in DACSL Figs. 2 and 3.
DEEP_DACSL_PR_METHODS: tuple[tuple[str, str], ...] = (("cca", "CCA"), ("acmr", "ACMR"), ("drsl", "DRSL"), ("dscmr", "DSCMR"), ("dacsl", "DACSL"))
CONVENTIONAL = frozenset({"cca", "gma", "lcfs", "jfssl"})


# --------------------------------------------------------------------------- request builders
def comparison(standin: StandIn, methods: tuple[tuple[str, str], ...], **kw) -> list[Request]:
    """Every method of a comparison table on one stand-in, in the table's order."""
    return [Request.make(m, standin, label, **kw) for m, label in methods]


def dacsl_ablation(standin: StandIn) -> list[Request]:
    """DACSL Tables 3-4: each term of Eq. 4 removed (L_pre, L_dis, L_tri), then the full objective (last)."""
    return [Request.make("dacsl", standin, "w/o L_pre", variant="without_pre", without=("pre",)),
            Request.make("dacsl", standin, "w/o L_dis", variant="without_dis", without=("dis",)),
            Request.make("dacsl", standin, "w/o L_tri", variant="without_tri", without=("tri",)),
            Request.make("dacsl", standin, "Full")]


def smcr_ablation(standin: StandIn) -> list[Request]:
    """SMCR Tables 3-4: without L_imi, without L_con, then the full objective of Eq. 8 (last)."""
    return [Request.make("smcr", standin, "SMCR (without L_imi)", variant="without_imi", without=("imi",)),
            Request.make("smcr", standin, "SMCR (without L_con)", variant="without_con", without=("con",)),
            Request.make("smcr", standin, "SMCR")]


# --------------------------------------------------------------------------- the declarations
def _datasets(scale: Scale) -> Groups:
    return {}  # SMCR Table 1 describes the datasets: no training


def _dacsl_table1(scale: Scale) -> Groups:
    return {"pascal": comparison(pascal_standin(), DACSL_METHODS)}


def _dacsl_table2(scale: Scale) -> Groups:
    return {"wikipedia": comparison(DACSL_STANDINS["wikipedia"], DACSL_METHODS),
            "official": comparison(OFFICIAL_WIKIPEDIA, tuple(m for m in DACSL_METHODS if m[0] in CONVENTIONAL)),
            "news": comparison(DACSL_STANDINS["news"], DACSL_METHODS)}


def _dacsl_pr(scale: Scale) -> Groups:
    return {key: comparison(s, DEEP_DACSL_PR_METHODS) for key, s in dacsl_standins().items()}


def _dacsl_ablations(scale: Scale) -> Groups:
    return {key: dacsl_ablation(s) for key, s in dacsl_standins().items()}


def _dacsl_convergence(scale: Scale) -> Groups:
    return {key: [Request.make("dacsl", s, "DACSL")] for key, s in dacsl_standins().items()}


def _smcr_table2(scale: Scale) -> Groups:
    return {key: comparison(s, SMCR_METHODS) for key, s in SMCR_STANDINS.items()}


def _smcr_ablations(scale: Scale) -> Groups:
    return {key: smcr_ablation(s) for key, s in SMCR_STANDINS.items()}


def _smcr_sensitivity(scale: Scale) -> Groups:
    s = SMCR_STANDINS["wikipedia"]
    return {"grid": [Request.make("smcr", s, f"α={a:g}, β={b:g}", alpha=a, beta=b) for a in scale.grid for b in scale.grid]}


def _model_selection(scale: Scale) -> Groups:
    dacsl_deep = tuple(m for m in DACSL_METHODS if m[0] not in CONVENTIONAL)
    smcr_deep = tuple(m for m in SMCR_METHODS if m[0] not in CONVENTIONAL)
    return {"pascal": comparison(pascal_standin(), dacsl_deep, track_test=True),
            "wikipedia": comparison(DACSL_STANDINS["wikipedia"], dacsl_deep, track_test=True),
            "smcr_wikipedia": comparison(SMCR_STANDINS["wikipedia"], smcr_deep, track_test=True)}


#: The chapters whose runs the claims ledger judges (each claim reads one of them).
LEDGER_SOURCES = ("dacsl_table1_pascal", "dacsl_table2_wikipedia", "dacsl_fig2_fig3_pr_curves", "dacsl_tables3_4_ablations",
                  "dacsl_fig4_convergence", "smcr_table2_comparison", "smcr_tables3_4_ablations", "smcr_fig2_sensitivity")


def _sources(scale: Scale) -> Groups:
    return {str(SourceGroup(name, group)): reqs for name in LEDGER_SOURCES for group, reqs in chapter(name).declare(scale).items()}


def _multiverse(scale: Scale) -> Groups:
    """Each claim judged again under every declared reading (:mod:`xmr.study.multiverse`): the readings' runs
    (``"reading/<method>/<stand-in>"``) and the ledger's sources, whose other runs stay unchanged."""
    from .multiverse import reading_groups

    return {**reading_groups(scale), **_sources(scale)}


def _campaign(scale: Scale) -> Groups:
    """The power plan's extra seeds and re-drawn splits (:mod:`xmr.study.campaign`): served when archived, never
    trained by a book build."""
    return campaign_groups(scale, declared)


def campaign_claims(scale: Scale) -> dict[str, list[tuple[str, str, Request]]]:
    """Claim id -> ``(source chapter, campaign group, request)`` of the campaign runs it reads
    (:func:`xmr.study.campaign.requests_by_claim` over the declared chapters)."""
    return requests_by_claim(scale, declared)


def _ledger(scale: Scale) -> Groups:
    # the robustness column reads the multiverse; claims the campaign re-ran are judged on all its splits too
    return {**_multiverse(scale), **_campaign(scale)}


def _variance(scale: Scale) -> Groups:
    return {**_sources(scale), **_campaign(scale)}


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("findings", "Findings first: what held, what did not, and how robustly", "both", _ledger),
    Chapter("smcr_table1_datasets", "SMCR Table 1: the datasets", "both", _datasets),
    Chapter("dacsl_table1_pascal", "DACSL Table 1: Pascal Sentence", "DACSL", _dacsl_table1),
    Chapter("dacsl_table2_wikipedia", "DACSL Table 2: Wikipedia", "DACSL", _dacsl_table2),
    Chapter("dacsl_fig2_fig3_pr_curves", "DACSL Figs. 2-3: precision-recall curves", "DACSL", _dacsl_pr),
    Chapter("dacsl_tables3_4_ablations", "DACSL Tables 3-4: ablations", "DACSL", _dacsl_ablations),
    Chapter("dacsl_fig4_convergence", "DACSL Fig. 4: convergence", "DACSL", _dacsl_convergence),
    Chapter("smcr_table2_comparison", "SMCR Table 2: comparison", "SMCR", _smcr_table2),
    Chapter("smcr_tables3_4_ablations", "SMCR Tables 3-4: ablations", "SMCR", _smcr_ablations),
    Chapter("smcr_fig2_sensitivity", "SMCR Fig. 2: α/β sensitivity", "SMCR", _smcr_sensitivity),
    Chapter("model_selection", "Model selection: validation versus test", "both", _model_selection),
    Chapter("multiverse", "Interpretation multiverse: does each verdict survive every reading?", "both", _multiverse),
    Chapter("variance", "Seeds and splits: how much each verdict owes to one draw", "both", _variance),
    Chapter("claims_ledger", "Claims ledger", "both", _ledger),
)


def names() -> list[str]:
    """The chapter names in the book's reading order."""
    return [c.name for c in CHAPTERS]


def chapter(name: str) -> Chapter:
    for c in CHAPTERS:
        if c.name == name:
            return c
    raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(names())}")


def declared(name: str, scale: Scale) -> Groups:
    """The named groups of requests chapter ``name`` declares at ``scale``."""
    return chapter(name).declare(scale)


def open_chapter(name: str, scale: Scale | str = "full", *, seeds=None, epochs: int | None = None,
                 device: str | None = None) -> ChapterRuns:
    """Run (or fetch from the cache) every request chapter ``name`` declares at ``scale``."""
    sc = make_scale(scale, seeds=seeds, epochs=epochs, device=device)
    ch = chapter(name)
    groups = ch.declare(sc)
    runner = Runner(sc, [r for reqs in groups.values() for r in reqs])
    runs = {g: [runner.run(r) for r in reqs] for g, reqs in groups.items()}
    standins = {g: reqs[0].standin for g, reqs in groups.items() if reqs}
    return ChapterRuns(ch, sc, runs, standins, runner)


def loss_columns(history: pd.DataFrame) -> list[str]:
    """The loss-term columns of a history frame (everything but identifiers and validation scores)."""
    skip = {"seed", "epoch", "fold", "split", "dataset", "method", "label", "seconds", "best_epoch", "epochs"}
    return [c for c in history.columns if c not in skip and not c.startswith("val_") and pd.api.types.is_numeric_dtype(history[c])]
