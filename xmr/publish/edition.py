"""What this edition of the book is made of: where each planned run's record comes from, and what it cost.

The intro's cost figures used to be written by hand and went stale with every change of the
plan. Here they are read from the records themselves, at build time, so the findings page
describes exactly the runs it renders: :func:`sources` finds each planned run's record (the
committed archive first, as a fresh clone sees it, then this machine's results cache) under the
checks that serve it (:func:`xmr.results.judge`), :func:`summary` totals them per method, and
:func:`describe` says it in a few sentences.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SOURCES", "sources", "summary", "describe", "by_chapter", "environment"]

#: Where a planned run's record is served from; "missing" runs would be trained by ``make book``.
SOURCES = ("archive", "cache", "missing")

_FIELDS = ["method", "dataset", "seed", "key", "source", "seconds", "device", "device_name", "cpu", "threads", "date"]


def _current(entry: Any) -> bool:
    from ..results import judge

    return entry is not None and judge(entry)[0] == "current"


def _cache_entry(method: str, key: str) -> dict[str, Any] | None:
    from ..paths import results_dir

    try:
        return json.loads((results_dir() / method / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def sources(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a plan (:func:`xmr.orchestrate.plan.plan`, needs ``method``, ``dataset``, ``seed``,
    ``key``): its ``source`` (:data:`SOURCES`; the archive wins when both hold a current record, as on a
    fresh clone) and, from that record, the training ``seconds`` and provenance (device, GPU name, CPU,
    torch threads, date)."""
    import pandas as pd

    from .. import archive

    rows = []
    for method, dataset, seed, key in zip(runs["method"], runs["dataset"], runs["seed"], runs["key"]):
        row: dict[str, Any] = {"method": method, "dataset": dataset, "seed": int(seed), "key": key, "source": "missing"}
        for source, entry in (("archive", archive.lookup(method, key) if archive.enabled() else None),
                              ("cache", _cache_entry(method, key))):
            if _current(entry):
                prov = entry.get("provenance", {})
                row.update(source=source, seconds=float(entry["run"].get("seconds") or 0.0),
                           **{f: prov.get(f) for f in ("device", "device_name", "cpu", "threads", "date")})
                break
        rows.append(row)
    return pd.DataFrame(rows, columns=_FIELDS)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method (and a total row): runs planned, how many each source serves, and the recorded training hours."""
    import pandas as pd

    counts = pd.crosstab(rows["method"], pd.Categorical(rows["source"], categories=SOURCES), dropna=False)
    counts.columns = list(SOURCES)
    hours = rows.groupby("method")["seconds"].sum().reindex(counts.index).fillna(0.0) / 3600
    out = counts.assign(runs=counts.sum(axis=1), train_hours=hours)
    out = out[["runs", *SOURCES, "train_hours"]].sort_values("train_hours", ascending=False)
    out.loc["total"] = out.sum()
    out["train_hours"] = out["train_hours"].round(2)
    return out.astype({c: int for c in ("runs", *SOURCES)})


def _where(kind: str, group: pd.DataFrame) -> str:
    if kind == "cuda":
        names = sorted({str(n) for n in group["device_name"].dropna()})
        return ", ".join(names) or "a CUDA GPU"
    cpus = sorted({str(c) for c in group["cpu"].dropna()})
    threads = sorted({int(t) for t in group["threads"].dropna()})
    where = f"CPU ({', '.join(cpus)})" if cpus else "CPU"
    if threads:
        where += f", {'/'.join(map(str, threads))} torch thread{'s' if threads != [1] else ''} per run"
    return where


def describe(rows: pd.DataFrame) -> str:
    """A few sentences on the edition: how many of the planned runs each source serves, the recorded
    training time per device, and when the runs were trained."""
    n = len(rows)
    by = rows["source"].value_counts()
    served = rows[rows["source"] != "missing"]
    parts = [f"This book needs **{n}** training runs: **{int(by.get('archive', 0))}** come from the results "
             f"archive committed with the code (current for it), {int(by.get('cache', 0))} from this machine's "
             f"results cache, and **{int(by.get('missing', 0))}** are missing (a build trains them first)."]
    if len(served):
        from ..results import device_type

        per = [f"{g['seconds'].sum() / 3600:.1f} h for {len(g)} runs on {_where(str(kind), g)}"
               for kind, g in served.groupby(served["device"].map(device_type))]
        dates = sorted(str(d)[:10] for d in served["date"].dropna())
        when = "" if not dates else (f", trained on {dates[0]}" if dates[0] == dates[-1]
                                     else f", trained between {dates[0]} and {dates[-1]}")
        parts.append(f"Their recorded training time: {'; '.join(per)}{when}. Reading them back takes seconds.")
    return " ".join(parts)


#: The lines around the headline in README.md; between them, the text :func:`headline` writes.
README_START = "<!-- headline: written by `xmr archive headline --write` from the archived runs; do not edit -->"
README_END = "<!-- /headline -->"


def headline(scale: str = "full") -> str | None:
    """The findings page's headline (:func:`xmr.study.claims.headline` of the ledger with its robustness
    column), or ``None`` when some run of the book at ``scale`` is neither archived nor cached: the headline
    would then need training first, and a README must not quote a half-built book."""
    from ..study import chapters, claims, multiverse
    from ..orchestrate.plan import plan

    if (sources(plan(scale, cost=False))["source"] == "missing").any():
        return None
    ch = chapters.open_chapter("findings", scale)
    return claims.headline(multiverse.with_robustness(claims.ledger(ch), ch))


def _block(readme: str) -> tuple[int, int] | None:
    """Where the headline's text lies in ``readme`` (between the markers), or ``None`` without them."""
    start, end = readme.find(README_START), readme.find(README_END)
    return (start + len(README_START), end) if 0 <= start < end else None


def readme_with_headline(readme: str, text: str) -> str:
    """``readme`` with the text between :data:`README_START` and :data:`README_END` replaced by ``text``."""
    block = _block(readme)
    if block is None:
        raise ValueError(f"the README has no headline block: put the lines {README_START!r} and {README_END!r} "
                         "where the headline goes")
    return readme[: block[0]] + "\n" + text.strip() + "\n" + readme[block[1]:]


def readme_headline(readme: str) -> str:
    """The headline the README quotes now (the text between the markers; empty without them)."""
    block = _block(readme)
    return readme[block[0]: block[1]].strip() if block else ""


def by_chapter(runs: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The compute behind each chapter: the runs it adds to the book (:func:`xmr.orchestrate.plan.plan`'s ``adds``, each
    run counted where it is first needed) and their recorded training hours (``rows``: :func:`sources`)."""
    merged = rows.merge(runs[["key", "adds"]].drop_duplicates("key"), on="key", how="left")
    out = merged.groupby("adds", sort=False).agg(runs=("key", "size"), train_hours=("seconds", "sum"))
    out["train_hours"] = (out["train_hours"] / 3600).round(2)
    out.index.name = "chapter"
    return out


def environment() -> str:
    """The software versions and the machine this page was rendered with, as Markdown (the training machines
    of the runs are in :func:`describe`, from their records)."""
    import os
    import platform
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    from ..results import cpu_model

    packages = ("torch", "numpy", "scipy", "scikit-learn", "statsmodels", "pandas", "jupyter-book", "papermill")
    soft = ", ".join(f"{p} {version(p)}" for p in packages)
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = "unknown memory"
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # noqa: BLE001 - a page must render without torch's CUDA
        gpu = "no GPU"
    return (f"Rendered with Python {platform.python_version()}, {soft}; on {cpu_model()}, {os.cpu_count()} cores, "
            f"{memory}, {gpu}.")
