"""Build the book: execute every chapter notebook with papermill, then build the HTML with Jupyter Book 1.

``xmr book [--scale full|smoke] [--only NAME ...]`` calls :func:`build_book`:

1. each source notebook ``notebooks/<name>.ipynb`` (stored without outputs) is
   executed by papermill into ``book/chapters/<name>.ipynb`` with the scale's
   parameters (``scale``, and ``seeds`` / ``epochs`` / ``device`` when given).
   A chapter that fails is written anyway (with its traceback, so the page shows
   what went wrong), reported, and does not stop the others. Progress goes to
   standard error, one line per chapter.
2. ``jupyter-book build book --config _config.yml
   --path-output . --all -W --keep-going`` (toc: ``book/_toc.yml``) builds ``_build/html``. Jupyter Book
   does not execute notebooks (``execute_notebooks: "off"``). ``-W`` makes every
   Sphinx warning an error; ``--all`` rebuilds every page, so a warning of an
   unchanged page cannot be hidden by an incremental build. Warnings that are
   deliberately accepted are silenced by name in ``_config.yml``
   (``suppress_warnings``), never by lowering the check.

The configuration is at the top level (``_config.yml``) while the book's sources
are in ``book/``; Jupyter Book 1 looks for ``PATH_SOURCE/_config.yml`` by
default, so both files are passed explicitly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .paths import repo_root

__all__ = ["CHAPTERS", "ChapterResult", "chapters", "scale_parameters", "execute_chapter", "build_html", "build_book"]

# Reading order of the toc. Execution follows it, except for EXECUTED_FIRST.
CHAPTERS: tuple[str, ...] = (
    "smcr_table1_datasets",
    "dacsl_table1_pascal",
    "dacsl_table2_wikipedia",
    "dacsl_fig2_fig3_pr_curves",
    "dacsl_tables3_4_ablations",
    "dacsl_fig4_convergence",
    "smcr_table2_comparison",
    "smcr_tables3_4_ablations",
    "smcr_fig2_sensitivity",
    "model_selection",
    "claims_ledger",
)
# The model-selection chapter trains the deep methods of the comparison tables with the
# per-epoch test record (``track_test``; same cache keys, same reported numbers). Run
# first, its runs are then served from the cache to the comparison chapters; run last,
# it would train them all a second time. The claims ledger, last, reuses everyone's runs.
EXECUTED_FIRST: tuple[str, ...] = ("model_selection",)


@dataclass
class ChapterResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def chapters(root: Path | None = None) -> list[str]:
    """Names of the chapter notebooks, in book order (every ``notebooks/*.ipynb`` must be listed in :data:`CHAPTERS`)."""
    root = root or repo_root()
    present = {p.stem for p in (root / "notebooks").glob("*.ipynb")}
    unknown = present - set(CHAPTERS)
    if unknown:
        raise ValueError(f"notebooks not listed in xmr.book.CHAPTERS (add them there and to book/_toc.yml): {', '.join(sorted(unknown))}")
    return [c for c in CHAPTERS if c in present]


def scale_parameters(scale: str, *, seeds: Sequence[int] | None = None, epochs: int | None = None, device: str | None = None) -> dict[str, Any]:
    """The papermill parameters for a scale; the notebooks derive every other default from ``scale``."""
    if scale not in ("full", "smoke"):
        raise ValueError(f"unknown scale {scale!r}; use 'full' or 'smoke'")
    params: dict[str, Any] = {"scale": scale}
    if seeds is not None:
        params["seeds"] = [int(s) for s in seeds]
    if epochs is not None:
        params["epochs"] = int(epochs)
    if device is not None:
        params["device"] = device
    return params


def _placeholder(name: str, dest: Path) -> None:
    """A one-cell notebook for a chapter that was not executed in this build, so the toc stays complete."""
    nb = {
        "cells": [{
            "cell_type": "markdown", "metadata": {}, "id": "not-executed",
            "source": [f"# {name}\n", "\n", "This chapter was not executed in this build. ",
                       f"Run `xmr book --only {name}` (or `make book`) to produce it.\n"],
        }],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def execute_chapter(name: str, parameters: dict[str, Any], *, root: Path | None = None, kernel: str = "python3") -> ChapterResult:
    """Execute ``notebooks/<name>.ipynb`` into ``book/chapters/<name>.ipynb``; errors are caught and returned."""
    import papermill as pm

    root = root or repo_root()
    src = root / "notebooks" / f"{name}.ipynb"
    dest_dir = root / "book" / "chapters"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{name}.ipynb"
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(src), str(dest), parameters=parameters, kernel_name=kernel, progress_bar=False, cwd=str(root),
                            log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no kernel chatter on stderr
    except Exception as exc:  # a failing chapter must not stop the others; the output notebook keeps the traceback
        msg = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        if not dest.exists():
            _placeholder(name, dest)
        return ChapterResult(name, False, time.perf_counter() - start, msg)
    return ChapterResult(name, True, time.perf_counter() - start)


def build_html(*, root: Path | None = None, strict: bool = True) -> tuple[bool, str]:
    """Run ``jupyter-book build`` on ``book/`` into ``_build/html``; returns (ok, the last lines of its log)."""
    root = root or repo_root()
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise FileNotFoundError("jupyter-book is not installed; install the book extras: pip install -e '.[book]'")
    cmd = [exe, "build", "book", "--config", "_config.yml", "--path-output", ".", "--all"]
    if strict:
        cmd += ["-W", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    ok = proc.returncode == 0 and (not strict or not warnings)
    tail = "\n".join(warnings[-40:]) if warnings else "\n".join(log.splitlines()[-15:])
    return ok, tail


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
    root: Path | None = None,
) -> int:
    """Execute the chapters (all, or ``only``) and build the HTML; returns the process exit status (0 = all ok)."""
    root = root or repo_root()
    names = chapters(root)
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"unknown chapter(s) {', '.join(unknown)}; chapters: {', '.join(names)}")
        names_to_run = [n for n in names if n in only]
    else:
        names_to_run = names
    names_to_run = sorted(names_to_run, key=lambda n: n not in EXECUTED_FIRST)  # stable: otherwise toc order
    params = scale_parameters(scale, seeds=seeds, epochs=epochs, device=device)
    results: list[ChapterResult] = []
    total = time.perf_counter()
    if execute:
        for i, name in enumerate(names_to_run, 1):
            print(f"[{i}/{len(names_to_run)}] {name} ...", file=sys.stderr, flush=True)
            res = execute_chapter(name, params, root=root)
            status = "ok" if res.ok else f"FAILED ({res.error})"
            print(f"[{i}/{len(names_to_run)}] {name}: {status} in {res.seconds:.1f} s", file=sys.stderr, flush=True)
            results.append(res)
    for name in names:  # keep the toc complete when only some chapters were executed
        dest = root / "book" / "chapters" / f"{name}.ipynb"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            _placeholder(name, dest)
    build_ok = True
    if build:
        print("building the HTML with jupyter-book ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        build_ok, tail = build_html(root=root, strict=strict)
        print(f"jupyter-book build: {'ok' if build_ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if not build_ok:
            print(tail, file=sys.stderr)
    failed = [r for r in results if not r.ok]
    print(f"book ({scale}): {len(results) - len(failed)}/{len(results)} chapters ok, "
          f"build {'ok' if build_ok else 'failed'}, {time.perf_counter() - total:.0f} s in all", file=sys.stderr)
    for r in failed:
        print(f"  FAILED {r.name}: {r.error}  (see book/chapters/{r.name}.ipynb)", file=sys.stderr)
    if build and build_ok:
        print(f"open {root / '_build' / 'html' / 'index.html'}", file=sys.stderr)
    return 0 if not failed and build_ok else 1
