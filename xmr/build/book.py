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
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..paths import repo_root

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHAPTERS", "ChapterResult", "chapters", "scale_parameters", "execute_chapter", "build_html", "build_book",
           "plan", "plan_summary", "prefill"]

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
        raise ValueError(f"notebooks not listed in xmr.build.book.CHAPTERS (add them there and to book/_toc.yml): {', '.join(sorted(unknown))}")
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
    jobs: int = 1,
    root: Path | None = None,
) -> int:
    """Execute the chapters (all, or ``only``) and build the HTML; returns the process exit status (0 = all ok).

    With ``jobs`` > 1 the missing training runs are first trained ``jobs`` at a time
    (:func:`prefill`); the notebooks then read them from the cache.
    """
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
    if execute and jobs > 1:
        prefill(scale, jobs=jobs, only=names_to_run, seeds=seeds, epochs=epochs, device=device, root=root)
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


def _requests(params: Mapping[str, Any], names: Sequence[str], root: Path) -> list[dict[str, Any]]:
    """The :func:`xmr.experiments.run` calls the chapters ``names`` make with ``params``, recorded in plan mode
    (each notebook executed into a temporary folder with :data:`xmr.study.report.PLAN_FILE_ENV` set; nothing trains)."""
    from ..study.report import PLAN_CHAPTER_ENV, PLAN_FILE_ENV

    saved = {k: os.environ.get(k) for k in (PLAN_FILE_ENV, PLAN_CHAPTER_ENV)}
    with tempfile.TemporaryDirectory(prefix="xmr-plan-") as tmp:
        plan_file = Path(tmp) / "plan.jsonl"
        plan_file.touch()
        try:
            os.environ[PLAN_FILE_ENV] = str(plan_file)
            for name in names:
                os.environ[PLAN_CHAPTER_ENV] = name
                res = execute_chapter(name, dict(params), root=root, dest_dir=Path(tmp))
                print(f"planned {name}{'' if res.ok else ' (FAILED: ' + res.error + ')'}", file=sys.stderr, flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return [json.loads(line) for line in plan_file.read_text().splitlines() if line.strip()]


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
    alone) with its runners in plan mode (:data:`xmr.study.report.PLAN_FILE_ENV`): they record
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
    root = root or repo_root()
    params = scale_parameters(scale, seeds=seeds, epochs=epochs, device=device)
    started = time.perf_counter()
    requests = _requests(params, _execution_order(chapters(root)), root)
    notebook_seconds = time.perf_counter() - started
    runs = _distinct_runs(requests)
    if probe and len(runs):
        _probe_costs(runs, device)
    runs.attrs["notebook_seconds"] = notebook_seconds
    return runs


def _distinct_runs(requests: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per cache entry the recorded ``requests`` ask for (:func:`xmr.experiments.planned_runs`), with the
    first chapter asking, ``track_test`` if any request wants it (``cached`` only if stored as such), ``est_seconds``
    0, and ``call``: the single-seed :func:`xmr.experiments.run` arguments that produce the entry."""
    import pandas as pd

    from .. import data, experiments

    frames = []
    for req in requests:
        try:
            frame = experiments.planned_runs(req["method"], req["dataset"], **req["kwargs"])
        except data.DataUnavailableError as exc:  # a dataset whose protocol is only known once loaded
            print(f"not planned: {req['method']} on {req['dataset']}: {str(exc).splitlines()[0]}", file=sys.stderr)
            continue
        calls = [{"method": req["method"], "dataset": req["dataset"], "kwargs": {**req["kwargs"], "seeds": [int(seed)]}}
                 for seed in frame["seed"]]
        frames.append(frame.assign(chapter=req["chapter"], call=calls))
    if not frames:
        return pd.DataFrame(columns=["chapter", "method", "kind", "dataset", "protocol", "options", "without", "epochs",
                                     "hparams", "seed", "track_test", "key", "cached", "est_seconds", "call"])
    runs = pd.concat(frames, ignore_index=True)
    by_key = runs.groupby("key")
    runs = runs.assign(track_test=by_key["track_test"].transform("any"), cached=by_key["cached"].transform("all"))
    runs = runs.drop_duplicates("key").reset_index(drop=True)
    runs["call"] = [{**c, "kwargs": {**c["kwargs"], "track_test": bool(t)}} for c, t in zip(runs["call"], runs["track_test"])]
    runs["est_seconds"] = 0.0
    return runs[["chapter", *[c for c in runs.columns if c != "chapter"]]]


def _cost_config(row: Mapping[str, Any]) -> str:
    options = {k: v for k, v in dict(row["options"]).items() if k != "fold"}
    return json.dumps([row["method"], row["dataset"], row["protocol"], options, row["without"], row["epochs"],
                       bool(row["track_test"])], sort_keys=True)


def _probe_costs(runs: pd.DataFrame, device: str | None) -> None:
    """Fill ``runs["est_seconds"]`` for the uncached rows by timing short runs (see :func:`plan`)."""
    from .. import data
    from ..methods import registry
    from ..engine.single import run_method

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


# --------------------------------------------------------------------------- parallel prefill
def prefill(
    scale: str = "full",
    *,
    jobs: int = 2,
    only: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    root: Path | None = None,
) -> pd.DataFrame:
    """Train every uncached run the chapters need, ``jobs`` runs at a time, before the notebooks execute.

    The chapters' requests are recorded in plan mode (as :func:`plan` does, without
    probes), reduced to distinct cache entries, and each missing one is trained by
    :func:`xmr.experiments.run` with a single seed in a pool of ``jobs`` processes,
    each with ``cpu_count // jobs`` torch threads (at least one), longest first. Every
    finished run is stored in the results cache, so the notebooks that follow only read
    it, and an interrupted prefill keeps what it finished. These small models leave
    cores idle in one process, so runs side by side finish more work per minute (2 cores:
    1.3x for DSCMR and DACSL, ``benchmarks/bench_parallel_runs.py``).

    A run that fails is reported and skipped; its chapter then meets the same error and
    shows it. Numbers are those of the same run trained alone with the same thread
    count; a different thread count may change the last float digits of some kernels
    (up to about 5e-5 in mAP); the torch threads are stored with each entry.
    Returns the distinct runs with ``status`` ("cached", "trained" or the error) and ``seconds``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    root = root or repo_root()
    params = scale_parameters(scale, seeds=seeds, epochs=epochs, device=device)
    names = _execution_order([n for n in chapters(root) if not only or n in only])
    runs = _distinct_runs(_requests(params, names, root))
    runs["status"], runs["seconds"] = ["cached" if c else "" for c in runs["cached"]], 0.0
    todo = runs[~runs["cached"]].copy()
    # Longest first (epochs as the proxy; closed-form fits last), so no long run starts at the end.
    todo = todo.assign(_cost=todo["epochs"].fillna(0).astype(float)).sort_values("_cost", ascending=False, kind="stable")
    print(f"prefill: {len(runs)} distinct runs, {len(runs) - len(todo)} cached, {len(todo)} to train "
          f"with {jobs} worker(s)", file=sys.stderr, flush=True)
    # Load each dataset once here: feature caches get built by one process, not several at once.
    missing = _unavailable_datasets(todo["call"])
    for idx, call in todo["call"].items():
        if _dataset_ident(call) in missing:
            runs.loc[idx, "status"] = f"data not available: {missing[_dataset_ident(call)]}"
    todo = todo[[_dataset_ident(c) not in missing for c in todo["call"]]]
    if len(todo) == 0:
        return runs
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
        futures = {pool.submit(_train_one, call): idx for idx, call in todo["call"].items()}
        try:
            for done, fut in enumerate(as_completed(futures), 1):
                idx = futures[fut]
                try:
                    status, seconds = fut.result()
                except Exception as exc:  # a worker died (e.g. killed for memory): its chapter trains the run itself
                    status, seconds = f"FAILED (worker: {type(exc).__name__}: {exc})", 0.0
                runs.loc[idx, "status"], runs.loc[idx, "seconds"] = status, seconds
                row = runs.loc[idx]
                print(f"[prefill {done}/{len(todo)}] {row['method']} {row['dataset']} seed {row['seed']}"
                      f"{' without ' + row['without'] if row['without'] else ''}: {status} in {seconds:.0f} s "
                      f"({(time.perf_counter() - started) / 60:.1f} min elapsed)", file=sys.stderr, flush=True)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # finished runs are stored; the running ones finish
            raise
    return runs


def _dataset_ident(call: Mapping[str, Any]) -> str:
    kw = call["kwargs"]
    return json.dumps([call["dataset"], kw.get("protocol"), kw.get("dataset_options")], sort_keys=True)


def _unavailable_datasets(calls: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Load every dataset the calls use once; those that raise DataUnavailableError, with the reason."""
    from .. import data

    seen: set[str] = set()
    missing: dict[str, str] = {}
    for call in calls:
        ident = _dataset_ident(call)
        if ident in seen:
            continue
        seen.add(ident)
        kw = call["kwargs"]
        try:
            data.load(call["dataset"], protocol=kw.get("protocol"), **(kw.get("dataset_options") or {}))
        except data.DataUnavailableError as exc:  # the chapter lists it as not run, with the same reason
            missing[ident] = str(exc).splitlines()[0]
    return missing


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_one(call: Mapping[str, Any]) -> tuple[str, float]:
    """Train (and store) one prefill run; returns ("trained", seconds) or (the error, seconds)."""
    from .. import experiments

    t0 = time.perf_counter()
    try:
        experiments.run(call["method"], call["dataset"], **call["kwargs"])
    except Exception as exc:  # reported by the parent; the chapter shows it in full
        return f"FAILED ({type(exc).__name__}: {exc})", time.perf_counter() - t0
    return "trained", time.perf_counter() - t0
