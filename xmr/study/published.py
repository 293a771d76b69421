"""The papers' published numbers, as data (``xmr/study/published/published.csv``; see the README there).

>>> from xmr.study import published
>>> published.load(paper="dacsl", table="Table 2")     # one row per number
>>> published.table("dacsl", "Table 2")                 # the table as printed (methods x tasks)
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load", "table", "COLUMNS", "TASKS", "DATASET_NAMES"]

COLUMNS = ("paper", "table", "dataset", "method", "variant", "label", "task", "metric", "value")
TASKS = ("i2t", "t2i", "avg")

# The papers' datasets and the dataset of this study that stands in for each.
DATASET_NAMES = {
    "pascal_sentence": "Pascal Sentence",
    "wikipedia": "Wikipedia",
    "scitechdaily": "SciTechDaily",
}


def load(**filters: str) -> pd.DataFrame:
    """Every published number, one row each, optionally filtered by column value.

    ``load(paper="smcr", table="Table 2", metric="mAP@50")``. Unknown column names
    in ``filters`` raise ``ValueError``; a filter that matches nothing returns an
    empty frame (with the same columns).
    """
    with resources.files("xmr.study").joinpath("published", "published.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={c: str for c in COLUMNS if c != "value"}, keep_default_na=False)
    df["value"] = df["value"].astype(float)
    for key, value in filters.items():
        if key not in df.columns:
            raise ValueError(f"unknown column {key!r} to filter on; columns: {', '.join(df.columns)}")
        df = df[df[key] == value]
    return df.reset_index(drop=True)


def table(paper: str, table_name: str, *, metric: str | None = None) -> pd.DataFrame:
    """A published table in its printed shape: one row per (dataset, method, variant), one column per (metric, task)."""
    df = load(paper=paper, table=table_name)
    if df.empty:
        raise ValueError(f"no published numbers for paper={paper!r} table={table_name!r}")
    if metric is not None:
        df = df[df.metric == metric]
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(df.dataset, df.method, df.variant)))}
    out = df.pivot_table(index=["dataset", "method", "variant", "label"], columns=["metric", "task"], values="value", sort=False)
    return out.loc[sorted(out.index, key=lambda k: order[k[:3]])]
