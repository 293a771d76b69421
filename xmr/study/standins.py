"""Our datasets standing in for the papers' (a *stand-in*): which data, which split, and why it differs.

The papers' own features (VGG19, Doc2Vec) and two of their datasets cannot be had, so each
chapter runs on a stand-in and says so; :attr:`StandIn.note` is that sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["StandIn", "DACSL_STANDINS", "SMCR_STANDINS", "OFFICIAL_WIKIPEDIA", "pascal_standin"]


@dataclass(frozen=True)
class StandIn:
    """One of our datasets standing in for one of a paper's.

    ``paper_dataset`` is the paper's dataset name in :mod:`xmr.study.published` (``None``:
    a dataset the paper did not use, e.g. the news set in the DACSL chapters); ``folds``
    says whether results pool the 5 cross-validation folds of the scale.
    """

    key: str
    dataset: str
    protocol: str | None
    title: str
    paper_dataset: str | None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    folds: bool = False
    note: str = ""

    def __hash__(self) -> int:  # options is a dict: hash what identifies the data
        return hash((self.key, self.dataset, self.protocol, tuple(sorted(self.options.items())), self.folds))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StandIn) and (self.key, self.dataset, self.protocol, self.options, self.folds) == (
            other.key, other.dataset, other.protocol, other.options, other.folds)


DACSL_STANDINS: dict[str, StandIn] = {
    "pascal": StandIn(
        "pascal", "pascal100", "cv5", "Pascal Sentence (100 pairs, 5-fold CV)", "pascal_sentence", folds=True,
        note="5-fold cross-validation on the 100 Pascal pairs whose image features are public (60 train / 20 val / 20 test "
        "per fold), not the paper's 800/100/100 split: compare trends, not values.",
    ),
    "wikipedia": StandIn(
        "wikipedia", "wikipedia", "dscmr", "Wikipedia (2173/231/462)", "wikipedia",
        note="The paper's split; the dataset's original 128-d SIFT / 10-d LDA features instead of 4096-d VGG19 / 300-d Doc2Vec.",
    ),
    "news": StandIn(
        "news", "web_news_cn", None, "Web news (Doc2Vec text features)", None, {"text_features": "doc2vec"},
        note="A third dataset the paper did not use: 1280-d EfficientNet-Lite0 image and 300-d Doc2Vec text features.",
    ),
}

SMCR_STANDINS: dict[str, StandIn] = {
    "news": StandIn(
        "news", "web_news_cn", None, "Web news (stand-in for SciTechDaily)", "scitechdaily", {"text_features": "bow"},
        note="Public Chinese web news (10 classes, 2193 pairs) instead of the private SciTechDaily crawl (8 classes, "
        "5217 pairs); 1280-d EfficientNet-Lite0 and 6500-d bag-of-words features.",
    ),
    "wikipedia": StandIn(
        "wikipedia", "wikipedia", "smcr", "Wikipedia (2292/574)", "wikipedia",
        note="SMCR's split sizes (seeded draw; the paper's split is unpublished); original SIFT/LDA features instead of "
        "4096-d VGG / 5000-d BoW.",
    ),
}

#: The split and features of the conventional baselines' published Wikipedia numbers (DACSL Table 2 copies them).
OFFICIAL_WIKIPEDIA = StandIn(
    "official", "wikipedia", "official", "Wikipedia, official split (2173/693)", "wikipedia",
    note="The official 2173/693 split and the original SIFT/LDA features: the setting the published CCA, GMA and LCFS "
    "numbers were computed in.",
)


def pascal_standin() -> StandIn:
    """The real Pascal Sentence protocol when ``train_img.mat`` is present, else the 5-fold ``pascal100`` stand-in
    (also with no data directory at all: a book rendered from the archive alone)."""
    from .. import data

    try:
        data.load("pascal")
    except (data.DataUnavailableError, data.DataNotFoundError):
        return DACSL_STANDINS["pascal"]
    return StandIn("pascal", "pascal", None, "Pascal Sentence (800/100/100)", "pascal_sentence",
                   note="The paper's split and the DSCMR release's features (with your train_img.mat).")
