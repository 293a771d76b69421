"""Build the book: train what is missing, execute every chapter notebook with papermill, build the HTML.

``xmr book [--scale full|smoke] [--only NAME ...] [--jobs N]`` calls :func:`build_book`:

1. with ``jobs`` > 1, the runs the chapters declare and the cache lacks are trained
   ``jobs`` at a time first (:func:`xmr.orchestrate.prefill.prefill`);
2. each chapter notebook is executed into ``book/chapters/`` with the scale's parameters
   (:func:`xmr.publish.notebooks.execute_chapter`); a failing chapter does not stop the
   others; progress goes to standard error, one line per chapter;
3. the archive's runs are written as one tidy file the book offers for download (:data:`RUNS_DOWNLOAD`);
4. Jupyter Book builds ``_build/html`` with warnings as errors (:func:`xmr.publish.html.build_html`).

The chapter list is :data:`xmr.study.chapters.CHAPTERS` (book order); ``book/_toc.yml``
lists the same pages.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

from ..export import export_runs
from ..paths import repo_root
from ..study import chapters as study_chapters
from ..study.scale import scale as make_scale
from .html import build_html
from .notebooks import ChapterResult, execute_chapter, placeholder
from ..orchestrate.plan import execution_order
from ..orchestrate.prefill import prefill

__all__ = ["chapters", "build_book", "RUNS_DOWNLOAD"]


def chapters(root: Path | None = None) -> list[str]:
    """The chapter names in book order; every ``notebooks/*.ipynb`` must be a declared chapter and vice versa."""
    root = root or repo_root()
    present = {p.stem for p in (root / "notebooks").glob("*.ipynb")}
    names = study_chapters.names()
    unknown, absent = present - set(names), set(names) - present
    if unknown:
        raise ValueError(f"notebooks without a chapter declaration (add them to xmr.study.chapters.CHAPTERS and "
                         f"book/_toc.yml): {', '.join(sorted(unknown))}")
    if absent:
        raise ValueError(f"declared chapters without a notebook in notebooks/: {', '.join(sorted(absent))}")
    return names


#: Where the book offers every archived run as one tidy file (``xmr results export``), relative to the repository.
RUNS_DOWNLOAD = Path("book") / "_static" / "xmr-runs.csv.gz"


def _export_runs(root: Path) -> None:
    """Write the archive's runs as the book's download (:data:`RUNS_DOWNLOAD`); an empty archive leaves none."""
    try:
        rows = export_runs(root / RUNS_DOWNLOAD)
    except ValueError as exc:  # no archived runs (a fresh archive, or a test's): the page says the file is absent
        print(f"no runs file for the book: {exc}", file=sys.stderr)
        (root / RUNS_DOWNLOAD).unlink(missing_ok=True)
        return
    print(f"wrote {rows} rows of archived runs to {RUNS_DOWNLOAD}", file=sys.stderr)


def build_book(
    scale: str = "full",
    *,
    only: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    execute: bool = True,
    build: bool = True,
    strict: bool = True,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    root: Path | None = None,
) -> int:
    """Execute the chapters (all, or ``only``) and build the HTML; returns the process exit status (0 = all ok).

    With ``jobs > 1``, a Dask ``executor`` or a ``scheduler``, the missing runs are trained first
    (:func:`xmr.orchestrate.prefill.prefill`) where those say."""
    root = root or repo_root()
    names = chapters(root)
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"unknown chapter(s) {', '.join(unknown)}; chapters: {', '.join(names)}")
    names_to_run = execution_order([n for n in names if not only or n in only])
    sc = make_scale(scale, seeds=seeds, epochs=epochs, device=device)
    results: list[ChapterResult] = []
    total = time.perf_counter()
    if execute and (jobs > 1 or executor != "local" or scheduler):
        prefill(sc, jobs=jobs, only=names_to_run, device=device, executor=executor, scheduler=scheduler)
    if execute:
        for i, name in enumerate(names_to_run, 1):
            print(f"[{i}/{len(names_to_run)}] {name} ...", file=sys.stderr, flush=True)
            res = execute_chapter(name, sc.parameters(), root=root)
            status = "ok" if res.ok else f"FAILED ({res.error})"
            print(f"[{i}/{len(names_to_run)}] {name}: {status} in {res.seconds:.1f} s", file=sys.stderr, flush=True)
            results.append(res)
    for name in names:  # keep the toc complete when only some chapters were executed
        dest = root / "book" / "chapters" / f"{name}.ipynb"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            placeholder(name, dest)
    build_ok = True
    if build:
        _export_runs(root)
        print("building the HTML with jupyter-book ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        build_ok, tail = build_html(root=root, strict=strict)
        print(f"jupyter-book build: {'ok' if build_ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if not build_ok:
            print(tail, file=sys.stderr)
    failed = [r for r in results if not r.ok]
    print(f"book ({sc.name}): {len(results) - len(failed)}/{len(results)} chapters ok, "
          f"build {'ok' if build_ok else 'failed'}, {time.perf_counter() - total:.0f} s in all", file=sys.stderr)
    for r in failed:
        print(f"  FAILED {r.name}: {r.error}  (see book/chapters/{r.name}.ipynb)", file=sys.stderr)
    if build and build_ok:
        print(f"open {root / '_build' / 'html' / 'index.html'}", file=sys.stderr)
    return 0 if not failed and build_ok else 1
