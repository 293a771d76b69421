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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .paths import repo_root

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHAPTERS", "ChapterResult", "chapters", "scale_parameters", "execute_chapter", "build_html", "build_book",
           "plan", "plan_summary"]

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


def execute_chapter(name: str, parameters: dict[str, Any], *, root: Path | None = None, kernel: str = "python3",
                    dest_dir: Path | None = None) -> ChapterResult:
    """Execute ``notebooks/<name>.ipynb`` into ``book/chapters/<name>.ipynb`` (or ``dest_dir``); errors are caught and returned."""
    import papermill as pm

    root = root or repo_root()
    src = root / "notebooks" / f"{name}.ipynb"
    dest_dir = dest_dir or root / "book" / "chapters"
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
    names_to_run = _execution_order(names_to_run)
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


# --------------------------------------------------------------------------- planning
def _execution_order(names: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda n: n not in EXECUTED_FIRST)  # stable: otherwise toc order


def plan(
    scale: str = "full",
    *,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    probe: bool = True,
    root: Path | None = None,
) -> pd.DataFrame:
    """Every training run a build at ``scale`` would do, whether it is cached, and what it would cost; trains nothing.

    Each chapter notebook is executed (into a temporary folder, ``book/chapters`` is left
    alone) with its runners in plan mode (:data:`xmr.report.PLAN_FILE_ENV`): they record
    each requested run instead of training. Returns one row per distinct run (cache key)
    with the first chapter that asks for it, ``cached``, and ``est_seconds`` (0 when cached).

    With ``probe``, each distinct cost configuration that is not cached (method, dataset,
    protocol, dataset options but the fold, ablation, epochs, ``track_test``) is trained
    once for 2 and once for 4 epochs (seed 0, nothing stored; 8 and 16 for a method whose
    schedule needs more), and a run of E epochs is estimated as ``t2 + (E - 2) * (t4 - t2) / 2``;
    a closed-form method is fitted once.
    Hyperparameter values (SMCR's α and β) are assumed not to change the cost; early
    stopping (``patience``) would only shorten a run. The plan's
    ``attrs["notebook_seconds"]`` is the time the notebooks took without training: about
    what a build from a warm cache costs, besides the HTML build.
    """
    import pandas as pd

    from . import experiments
    from .report import PLAN_CHAPTER_ENV, PLAN_FILE_ENV

    root = root or repo_root()
    params = scale_parameters(scale, seeds=seeds, epochs=epochs, device=device)
    saved = {k: os.environ.get(k) for k in (PLAN_FILE_ENV, PLAN_CHAPTER_ENV)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xmr-plan-") as tmp:
        plan_file = Path(tmp) / "plan.jsonl"
        plan_file.touch()
        try:
            os.environ[PLAN_FILE_ENV] = str(plan_file)
            for name in _execution_order(chapters(root)):
                os.environ[PLAN_CHAPTER_ENV] = name
                res = execute_chapter(name, params, root=root, dest_dir=Path(tmp))
                print(f"planned {name}{'' if res.ok else ' (FAILED: ' + res.error + ')'}", file=sys.stderr, flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        requests: list[dict[str, Any]] = [json.loads(line) for line in plan_file.read_text().splitlines() if line.strip()]
    notebook_seconds = time.perf_counter() - started
    frames = []
    for req in requests:
        frame = experiments.planned_runs(req["method"], req["dataset"], **req["kwargs"])
        frames.append(frame.assign(chapter=req["chapter"]))
    if not frames:
        runs = pd.DataFrame(columns=["chapter", "method", "dataset", "protocol", "options", "without", "epochs", "seed",
                                     "track_test", "key", "cached", "est_seconds"])
    else:
        runs = pd.concat(frames, ignore_index=True)
        # One row per cache entry: the first chapter asking for it; track_test if any request wants it.
        tracked = runs.groupby("key")["track_test"].transform("any")
        runs = runs.assign(track_test=tracked).drop_duplicates("key").reset_index(drop=True)
        runs["est_seconds"] = 0.0
        if probe:
            _probe_costs(runs, device)
    runs.attrs["notebook_seconds"] = notebook_seconds
    return runs[["chapter", *[c for c in runs.columns if c != "chapter"]]]


def _cost_config(row: Mapping[str, Any]) -> str:
    options = {k: v for k, v in dict(row["options"]).items() if k != "fold"}
    return json.dumps([row["method"], row["dataset"], row["protocol"], options, row["without"], row["epochs"],
                       bool(row["track_test"])], sort_keys=True)


def _probe_costs(runs: pd.DataFrame, device: str | None) -> None:
    """Fill ``runs["est_seconds"]`` for the uncached rows by timing short runs (see :func:`plan`)."""
    from . import data
    from .methods import registry
    from .train import run_method

    todo = runs[~runs["cached"]]
    configs = {}
    for idx, row in todo.iterrows():
        configs.setdefault(_cost_config(row), []).append(idx)
    for i, rows in enumerate(configs.values(), 1):
        row = runs.loc[rows[0]]
        spec = registry.get(row["method"])
        ds = data.load(row["dataset"], protocol=row["protocol"], **dict(row["options"]))
        without = [t for t in row["without"].split(",") if t]
        hp = dict(row["hparams"])
        if spec.kind == "deep":
            def timed(epochs: int) -> float:
                t0 = time.perf_counter()
                run_method(spec, ds, {**hp, "epochs": epochs, "patience": None}, seed=0, without=without, device=device,
                           track_test=bool(row["track_test"]))
                return time.perf_counter() - t0

            try:
                a, b = 2, 4
                t_a, t_b = timed(a), timed(b)
            except ValueError:  # e.g. CMDN's stage schedule needs more epochs than a tiny probe has
                a, b = 8, 16
                t_a, t_b = timed(a), timed(b)
            per_epoch = max(t_b - t_a, 0.0) / (b - a)
            est = {idx: t_a + (int(runs.loc[idx, "epochs"]) - a) * per_epoch for idx in rows}
        else:
            t0 = time.perf_counter()
            run_method(spec, ds, hp, seed=0)
            est = {idx: time.perf_counter() - t0 for idx in rows}
        for idx, seconds in est.items():
            runs.loc[idx, "est_seconds"] = seconds
        print(f"probed {i}/{len(configs)} {row['method']} on {row['dataset']}/{row['protocol']}: "
              f"~{next(iter(est.values())):.0f} s per run, {len(rows)} run(s)", file=sys.stderr, flush=True)


def plan_summary(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables of a :func:`plan`: by chapter (in execution order) and by method, runs / cached / estimated minutes."""
    import pandas as pd

    def agg(by: str) -> pd.DataFrame:
        g = runs.groupby(by, sort=False)
        out = pd.DataFrame({"runs": g.size(), "cached": g["cached"].sum(), "to_train": g.size() - g["cached"].sum(),
                            "est_minutes": g["est_seconds"].sum() / 60})
        return out.sort_values("est_minutes", ascending=False) if by == "method" else out

    return {"chapter": agg("chapter"), "method": agg("method")}
