"""The datasets the book describes (SMCR Table 1's chapter), as summaries that need no features to show.

A summary (:func:`summarise`) is what the datasets chapter shows of a loaded dataset: split sizes,
dimensions, classes, pairs per class and split, and its card. Computing one loads the dataset,
which on a fresh machine means extracting the news set's features (a CNN over its images: about a
minute on two cores), so the summaries of the book's datasets (:data:`BOOK_DATASETS`) are
committed with the run records (``archive/datasets.json``, written by ``xmr archive add``) and
:func:`summaries` serves them, like a run, only while the code that loads the dataset is the code
that made them (:func:`xmr.fingerprint.data_fingerprint`) and its data the bytes that made them
(:func:`xmr.results.data_digest`): otherwise it loads the data again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple

from .. import __version__, data
from ..fingerprint import data_fingerprint
from ..io import stable_hash, write_json_atomic
from ..results import data_digest
from ..paths import archive_dir

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BOOK_DATASETS", "FILE", "Described", "Found", "summarise", "summaries", "archived", "check", "table",
           "class_counts", "archive_summaries"]

FILE = "datasets.json"


class Described(NamedTuple):
    """One dataset the book describes: the title it is shown under and how it is loaded."""

    title: str
    dataset: str
    protocol: str | None
    options: Mapping[str, Any]


#: The datasets the book uses, as the datasets chapter shows them (each loaded as the runs load it).
BOOK_DATASETS: tuple[Described, ...] = (
    Described("SMCR: SciTechDaily stand-in", "web_news_cn", None, {"text_features": "bow"}),
    Described("SMCR: Wikipedia", "wikipedia", "smcr", {}),
    Described("DACSL: Wikipedia", "wikipedia", "dscmr", {}),
    Described("DACSL: Pascal Sentence stand-in (fold 0 of 5)", "pascal100", "cv5", {"fold": 0}),
    Described("DACSL: web news (third dataset)", "web_news_cn", None, {"text_features": "doc2vec"}),
)


def summarise(ds: data.Dataset) -> dict[str, Any]:
    """What the datasets chapter shows of ``ds``: protocol, labels, dimensions, class names, each split's
    pairs and pairs per class (a list, in the dataset's split order), and the card (:meth:`xmr.data.Dataset.card`)."""
    return {
        "protocol": ds.protocol,
        "labels": ds.num_classes,
        "image_dim": int(ds.dims[0]),
        "text_dim": int(ds.dims[1]),
        "classes": list(ds.classes),
        "splits": [{"split": name, "pairs": len(s), "per_class": [int((s.labels == i).sum()) for i in range(ds.num_classes)]}
                   for name, s in ds.splits.items()],
        "card": ds.card(),
    }


#: What :func:`summaries` returns: each described dataset with its summary, or the reason it is not available.
Found = list[tuple[Described, "dict[str, Any] | str"]]


def table(found: Found) -> pd.DataFrame:
    """One row per described dataset (:func:`summaries`): protocol, pairs per split, labels, dimensions,
    or the reason it is not available."""
    import pandas as pd

    rows = []
    for d, s in found:
        if isinstance(s, str):
            rows.append({"used for": d.title, "dataset": d.dataset, "note": s})
            continue
        rows.append({"used for": d.title, "dataset": d.dataset, "protocol": s["protocol"],
                     **{sp["split"]: sp["pairs"] for sp in s["splits"]}, "labels": s["labels"],
                     "image_dim": s["image_dim"], "text_dim": s["text_dim"]})
    out = pd.DataFrame(rows)
    counts = [c for c in out.columns if c not in ("used for", "dataset", "protocol", "note")]
    return out.astype({c: "Int64" for c in counts})  # integers even beside a row that is not available


def class_counts(found: Found) -> pd.DataFrame:
    """Pairs per (dataset, split, class) of the available summaries, long form (for a bar chart)."""
    import pandas as pd

    return pd.DataFrame([{"dataset": d.title, "split": sp["split"], "class": s["classes"][i], "pairs": n}
                         for d, s in found if not isinstance(s, str)
                         for sp in s["splits"] for i, n in enumerate(sp["per_class"])],
                        columns=["dataset", "split", "class", "pairs"])


def _identity(d: Described) -> dict[str, Any]:
    return {"dataset": d.dataset, "protocol": d.protocol, "options": dict(d.options), "version": __version__,
            "code": data_fingerprint(d.dataset), "data": data_digest(d.dataset)}


def _stored() -> dict[str, Any]:
    try:
        stored = json.loads((archive_dir() / FILE).read_text())
    except (OSError, ValueError):  # none yet, or damaged: load the data instead
        return {}
    return stored if isinstance(stored, dict) else {}


def _load(d: Described) -> dict[str, Any]:
    return summarise(data.load(d.dataset, protocol=d.protocol, **dict(d.options)))


def _archived(stored: Mapping[str, Any], d: Described) -> dict[str, Any] | None:
    """``d``'s summary in ``stored`` (the archive file) when it was made by this code, else ``None``."""
    ident = _identity(d)
    record = stored.get(stable_hash(ident))
    if isinstance(record, dict) and record.get("identity") == ident and isinstance(record.get("summary"), dict):
        return record["summary"]
    return None


def archived(described: Iterable[Described] = BOOK_DATASETS) -> int:
    """How many of ``described`` have a summary in the archive that is current for this code."""
    stored = _stored()
    return sum(_archived(stored, d) is not None for d in described)


def summaries(described: Iterable[Described] = BOOK_DATASETS) -> Found:
    """Each of ``described`` with its summary: the archived one while it is current for this code, else
    one computed from the data; a dataset that cannot be had comes with the reason (a str) instead."""
    from .. import archive

    stored = _stored() if archive.enabled() else {}
    out: Found = []
    for d in described:
        summary = _archived(stored, d)
        if summary is not None:
            out.append((d, summary))
            continue
        try:
            out.append((d, _load(d)))
        except (data.DataUnavailableError, ValueError) as exc:
            out.append((d, f"not available: {exc}"))
    return out


def check(described: Iterable[Described] = BOOK_DATASETS) -> list[tuple[Described, bool | None, str]]:
    """Each archived summary against one computed from the data now (``xmr verify --datasets``):
    ``(described, True / False, why)`` when they are equal / differ, ``None`` when there is nothing to
    compare (no current archived summary, or the data is not here)."""
    stored = _stored()
    out: list[tuple[Described, bool | None, str]] = []
    for d in described:
        archived_summary = _archived(stored, d)
        if archived_summary is None:
            out.append((d, None, "no current summary in the archive"))
            continue
        try:
            fresh = json.loads(json.dumps(_load(d)))
        except data.DataUnavailableError as exc:
            out.append((d, None, f"the data is not here ({type(exc).__name__})"))
            continue
        differ = sorted(k for k in set(fresh) | set(archived_summary) if fresh.get(k) != archived_summary.get(k))
        out.append((d, not differ, "identical" if not differ else f"differs in {', '.join(differ)}"))
    return out


def archive_summaries(described: Iterable[Described] = BOOK_DATASETS) -> int:
    """Write the current summary of each of ``described`` whose data is here into ``archive/datasets.json``
    (one record per identity; records of older code dropped); returns how many were (re)computed."""
    stored = _stored()
    wanted = {}
    computed = 0
    for d in described:
        ident = _identity(d)
        key = stable_hash(ident)
        if _archived(stored, d) is not None:
            wanted[key] = stored[key]
            continue
        try:
            wanted[key] = {"identity": ident, "summary": _load(d)}
            computed += 1
        except data.DataUnavailableError:
            continue
    if wanted != stored:
        write_json_atomic(archive_dir() / FILE, dict(sorted(wanted.items())))
    return computed
