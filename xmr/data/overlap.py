"""Test items whose image or text is identical to a train or val item (leakage across splits).

Identity is exact: the raw files' bytes (sha256) where a dataset has raw files
(``web_news_cn``), the feature rows (all values equal) where it ships features.
:func:`xmr.data.duplicates` is the entry point; the loaders' ``dedupe=True`` option
drops every test *pair* whose image or text is such a duplicate (:func:`drop_test_pairs`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

import numpy as np

from .dataset import Dataset

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["COLUMNS", "MODALITIES", "match", "feature_duplicates", "drop_test_pairs", "check_dedupe", "summary"]

#: One row per (test item, modality, identical train/val item).
COLUMNS = ["split", "id", "modality", "match_split", "match_id"]
MODALITIES = ("image", "text")
REFERENCE = ("train", "val")


def match(
    ids: Mapping[str, Sequence[Any]], keys: Mapping[str, Mapping[str, Sequence[Hashable]]], basis: str
) -> "pd.DataFrame":
    """Test items whose key equals a train/val item's key.

    ``ids[split]`` are the items' ids; ``keys[modality][split]`` one hashable key per
    item (a file digest, a feature row's bytes). ``basis`` (what "identical" means)
    is kept in ``attrs["basis"]`` of the returned frame.
    """
    import pandas as pd

    rows = []
    for modality, by_split in keys.items():
        index: dict[Hashable, list[tuple[str, str]]] = defaultdict(list)
        for ref in REFERENCE:
            for pid, key in zip(ids[ref], by_split[ref], strict=True):
                index[key].append((ref, str(pid)))
        for pid, key in zip(ids["test"], by_split["test"], strict=True):
            rows += [("test", str(pid), modality, ref, other) for ref, other in index.get(key, ())]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["basis"] = basis
    return df


def _row_keys(arr: np.ndarray) -> list[bytes]:
    arr = np.ascontiguousarray(arr + arr.dtype.type(0))  # -0.0 -> 0.0, so keys follow ==
    return [row.tobytes() for row in arr]


def feature_duplicates(ds: Dataset) -> "pd.DataFrame":
    """Test items of ``ds`` whose image or text feature row equals a train or val row exactly."""
    ids = {k: s.ids for k, s in ds.splits.items()}
    keys = {m: {k: _row_keys(getattr(s, m)) for k, s in ds.splits.items()} for m in MODALITIES}
    return match(ids, keys, "identical feature rows")


def check_dedupe(value: Any, dataset: str) -> bool:
    """``dedupe`` must be a bool (on the command line: ``dedupe=true`` / ``dedupe=false``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{dataset}: dedupe must be True or False (command line: dedupe=true), "
            f"got {value!r} ({type(value).__name__})"
        )
    return bool(value)


def drop_test_pairs(ds: Dataset, dups: "pd.DataFrame") -> Dataset:
    """``ds`` without the test pairs listed in ``dups``; options gain ``dedupe=True``, ``dropped`` their ids."""
    drop = set(dups["id"])
    keep = np.array([str(i) not in drop for i in ds.test.ids], dtype=bool)
    dropped = tuple(str(i) for i in ds.test.ids[~keep])
    test = ds.test.subset(np.flatnonzero(keep))
    return replace(ds, test=test, options={**ds.options, "dedupe": True}, dropped=dropped)


def summary(dups: "pd.DataFrame", indent: str = "  ") -> str:
    """The "test items duplicated in train/val" report: counts per modality, then each item and its match(es)."""
    basis = dups.attrs.get("basis", "identical")
    counts = {m: dups.loc[dups["modality"] == m, "id"].nunique() for m in MODALITIES}
    pairs = dups["id"].nunique()
    lines = [
        f"test items duplicated in train/val ({basis}): "
        + ", ".join(f"{m} {n}" for m, n in counts.items())
        + f"; {pairs} test pair{'s' * (pairs != 1)} affected"
    ]
    for (modality, pid), grp in dups.groupby(["modality", "id"], sort=True):
        others = ", ".join(f"{s} {o}" for s, o in zip(grp["match_split"], grp["match_id"]))
        lines.append(f"{indent}{modality:<5}  {pid}  = {others}")
    if pairs:
        lines.append(f"{indent}(dedupe=True drops these test pairs)")
    return "\n".join(lines)
