"""The experiments of each book chapter, defined once so that chapters and the claims ledger run the same calls.

A chapter notebook asks for, say, ``dacsl_comparison(runner, DACSL_SETTINGS["wikipedia"])``;
the claims ledger asks for the same thing and gets the cached runs back instantly.
Nothing here trains by itself: it only names methods, datasets and options and
calls :class:`xmr.study.report.Runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .report import Runner, Runs

__all__ = [
    "Setting", "DACSL_METHODS", "SMCR_METHODS", "DEEP_DACSL_PR_METHODS", "DACSL_SETTINGS", "SMCR_SETTINGS",
    "pascal_setting", "run_setting", "comparison", "dacsl_ablation", "smcr_ablation", "sensitivity",
    "loss_columns",
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


@dataclass(frozen=True)
class Setting:
    """One of our datasets standing in for one of a paper's.

    ``paper_dataset`` is the paper's dataset name in :mod:`xmr.study.published`
    (``None``: a dataset the paper did not use, e.g. the news set in the DACSL
    chapters); ``folds`` says whether results pool the 5 cross-validation folds.
    """

    key: str
    dataset: str
    protocol: str | None
    title: str
    paper_dataset: str | None
    options: dict[str, Any] = field(default_factory=dict)
    folds: bool = False
    note: str = ""


DACSL_SETTINGS: dict[str, Setting] = {
    "pascal": Setting(
        "pascal", "pascal100", None, "Pascal Sentence (100 pairs, 5-fold CV)", "pascal_sentence", folds=True,
        note="5-fold cross-validation on the 100 Pascal pairs whose image features are public (60 train / 20 val / 20 test "
        "per fold), not the paper's 800/100/100 split: compare trends, not values.",
    ),
    "wikipedia": Setting(
        "wikipedia", "wikipedia", "dscmr", "Wikipedia (2173/231/462)", "wikipedia",
        note="The paper's split; the dataset's original 128-d SIFT / 10-d LDA features instead of 4096-d VGG19 / 300-d Doc2Vec.",
    ),
    "news": Setting(
        "news", "web_news_cn", None, "Web news (Doc2Vec text features)", None, {"text_features": "doc2vec"},
        note="A third dataset the paper did not use: 1280-d EfficientNet-Lite0 image and 300-d Doc2Vec text features.",
    ),
}

SMCR_SETTINGS: dict[str, Setting] = {
    "news": Setting(
        "news", "web_news_cn", None, "Web news (stand-in for SciTechDaily)", "scitechdaily", {"text_features": "bow"},
        note="Public Chinese web news (10 classes, 2193 pairs) instead of the private SciTechDaily crawl (8 classes, "
        "5217 pairs); 1280-d EfficientNet-Lite0 and 6500-d bag-of-words features.",
    ),
    "wikipedia": Setting(
        "wikipedia", "wikipedia", "smcr", "Wikipedia (2292/574)", "wikipedia",
        note="SMCR's split sizes (seeded draw; the paper's split is unpublished); original SIFT/LDA features instead of "
        "4096-d VGG / 5000-d BoW.",
    ),
}


def pascal_setting() -> Setting:
    """The real Pascal Sentence protocol when ``train_img.mat`` is present, else the 5-fold ``pascal100`` stand-in."""
    from .. import data

    try:
        data.load("pascal")
    except data.DataUnavailableError:
        return DACSL_SETTINGS["pascal"]
    return Setting("pascal", "pascal", None, "Pascal Sentence (800/100/100)", "pascal_sentence",
                   note="The paper's split and the DSCMR release's features (with your train_img.mat).")


def run_setting(runner: Runner, setting: Setting, method: str, label: str | None = None, *, variant: str = "full",
                without: tuple[str, ...] = (), **hparams: Any) -> Runs:
    """``runner.run`` with the setting's dataset, protocol, options and folds."""
    return runner.run(
        method, setting.dataset, label=label, variant=variant, protocol=setting.protocol,
        folds=runner.settings.folds if setting.folds else None, dataset_options=setting.options or None,
        without=without, **hparams,
    )


def comparison(runner: Runner, setting: Setting, methods: tuple[tuple[str, str], ...]) -> list[Runs]:
    """Every method of a comparison table on one setting (missing methods come back as "not run")."""
    return [run_setting(runner, setting, m, label) for m, label in methods]


def dacsl_ablation(runner: Runner, setting: Setting) -> list[Runs]:
    """DACSL Tables 3-4: the full objective and each term removed (Eq. 4 without L_pre, L_dis, L_tri)."""
    runs = [run_setting(runner, setting, "dacsl", "w/o L_pre", variant="without_pre", without=("pre",)),
            run_setting(runner, setting, "dacsl", "w/o L_dis", variant="without_dis", without=("dis",)),
            run_setting(runner, setting, "dacsl", "w/o L_tri", variant="without_tri", without=("tri",)),
            run_setting(runner, setting, "dacsl", "Full")]
    return runs


def smcr_ablation(runner: Runner, setting: Setting) -> list[Runs]:
    """SMCR Tables 3-4: without L_imi, without L_con, full (Eq. 8)."""
    return [run_setting(runner, setting, "smcr", "SMCR (without L_imi)", variant="without_imi", without=("imi",)),
            run_setting(runner, setting, "smcr", "SMCR (without L_con)", variant="without_con", without=("con",)),
            run_setting(runner, setting, "smcr", "SMCR")]


def sensitivity(runner: Runner, setting: Setting | None = None) -> pd.DataFrame:
    """SMCR Fig. 2: every (α, β) of the scale's grid, one row per combination and seed (empty if SMCR is missing)."""
    setting = setting or SMCR_SETTINGS["wikipedia"]
    frames, complete = [], True
    for a in runner.settings.grid:
        for b in runner.settings.grid:
            r = run_setting(runner, setting, "smcr", f"α={a:g}, β={b:g}", alpha=a, beta=b)
            complete &= r.ok  # ask for every cell anyway: a plan (xmr book --plan) must see the whole grid
            if r.ok:
                frames.append(r.table.assign(alpha=a, beta=b))
    return pd.concat(frames, ignore_index=True) if complete else pd.DataFrame()


def loss_columns(history: pd.DataFrame) -> list[str]:
    """The loss-term columns of a history frame (everything but identifiers and validation scores)."""
    skip = {"seed", "epoch", "fold", "dataset", "method", "label", "seconds", "best_epoch", "epochs"}
    return [c for c in history.columns if c not in skip and not c.startswith("val_") and pd.api.types.is_numeric_dtype(history[c])]
