"""Readings: every place a method's source is ambiguous or departed from, declared as data.

A paper leaves much unsaid, and a reproduction has to choose. Each choice is a
:class:`Reading` of one hyperparameter (an option of the method): the paper text or
equation it interprets, the default, the alternatives, which value is closest to the
paper's text (``literal``), and the evidence for the default.

The evidence rule (the study's honesty rule, checked by ``tests/test_readings.py``):
a default rests either on an a-priori reason (``basis="a priori"``: the paper's or
the authors' code's text, a property of the data known before training, a
convention) or on validation numbers (``basis="validation"``: the validation
split's mAP over several seeds, recorded in :data:`EVIDENCE_FILE`), never on a
test number.

Some readings depend on the features (``per_features``): input normalisation was
decided per method and feature set, because a z-score that helps 128-bin SIFT
histograms is not needed by VGG19 activations. :func:`feature_set` names the
feature set of a dataset request without loading it; :func:`resolved_defaults`
applies the per-feature defaults before the user's overrides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

__all__ = ["Reading", "feature_set", "resolved_defaults", "readings_table", "most_literal", "EVIDENCE_FILE",
           "validation_evidence"]

#: The validation runs behind every ``basis="validation"`` default: JSON lines of
#: (method, feature set, option, value, seed, fold, validation avg mAP), no test numbers.
EVIDENCE_FILE = Path(__file__).with_name("validation_evidence.jsonl")

Basis = Literal["a priori", "validation"]


@dataclass(frozen=True)
class Reading:
    """One declared interpretation: option ``option`` of a method reads ``interprets``."""

    option: str
    interprets: str
    default: Any
    alternatives: tuple[Any, ...]
    basis: Basis
    evidence: str
    #: The value closest to the paper's text (the multiverse's "most literal" combination).
    literal: Any = None
    #: Feature set (:func:`feature_set`) -> default where the evidence differs per feature set.
    per_features: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.basis not in ("a priori", "validation"):
            raise ValueError(f"reading {self.option!r}: basis must be 'a priori' or 'validation', got {self.basis!r}")

    @property
    def values(self) -> tuple[Any, ...]:
        """The default followed by every alternative."""
        return (self.default, *self.alternatives)

    def default_for(self, features: str | None) -> Any:
        """The default for a feature set (the generic ``default`` when none is declared for it)."""
        return self.per_features.get(features, self.default) if features is not None else self.default


def feature_set(dataset: str, options: Mapping[str, Any] | None = None) -> str:
    """The name of the features a dataset request trains on: ``wikipedia``, ``pascal`` (also
    ``pascal100``: the same DSCMR release's features), ``web_news_cn/doc2vec`` or
    ``web_news_cn/bow``; any other dataset keeps its own name (user arrays: generic defaults)."""
    options = dict(options or {})
    if dataset in ("pascal", "pascal100"):
        return "pascal"
    if dataset == "web_news_cn":
        return f"web_news_cn/{options.get('text_features', 'doc2vec')}"
    return dataset


def resolved_defaults(cls: type, defaults: Mapping[str, Any], features: str | None) -> dict[str, Any]:
    """``defaults`` with every per-feature-set reading of ``cls`` applied for ``features``."""
    out = dict(defaults)
    for r in getattr(cls, "readings", ()):
        if r.per_features and r.option in out:
            out[r.option] = r.default_for(features)
    return out


def most_literal(cls: type) -> dict[str, Any]:
    """Every declared option at the reading closest to the paper's text (where one is declared)."""
    return {r.option: r.literal for r in getattr(cls, "readings", ()) if r.literal is not None}


def _fmt(value: Any) -> str:
    return "None" if value is None else json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)


def readings_table(method: str | None = None) -> "Any":
    """Every method's readings as a pandas DataFrame (one row per option), for the fidelity page."""
    import pandas as pd

    from .registry import get, names

    rows = []
    for name in [method] if method else names():
        cls = get(name).cls
        for r in getattr(cls, "readings", ()):
            default = _fmt(r.default)
            if r.per_features:
                default += " (" + ", ".join(f"{k}: {_fmt(v)}" for k, v in sorted(r.per_features.items())) + ")"
            rows.append({"method": name, "option": r.option, "interprets": r.interprets, "default": default,
                         "alternatives": ", ".join(_fmt(a) for a in r.alternatives),
                         "most literal": "" if r.literal is None else _fmt(r.literal),
                         "basis": r.basis, "evidence": r.evidence})
    return pd.DataFrame(rows, columns=["method", "option", "interprets", "default", "alternatives", "most literal",
                                       "basis", "evidence"])


def validation_evidence(path: Path | None = None) -> "Any":
    """The recorded validation runs (:data:`EVIDENCE_FILE`) as a DataFrame, one row per run."""
    import pandas as pd

    path = path or EVIDENCE_FILE
    if not path.is_file():
        return pd.DataFrame(columns=["method", "features", "option", "value", "seed", "fold", "val_avg"])
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def summarise_evidence(frame: "Any", keys: Iterable[str] = ("method", "features", "option", "value")) -> "Any":
    """Mean, std and count of validation avg mAP per (method, features, option, value)."""
    keys = list(keys)
    return frame.groupby(keys, dropna=False)["val_avg"].agg(["mean", "std", "count"]).reset_index()
