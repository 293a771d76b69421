"""Training the runs a build needs before its notebooks execute, several at a time.

The plan (:func:`xmr.orchestrate.plan.plan`, from the chapters' declarations) lists the distinct
cache entries; :func:`train_missing` trains each uncached one by
:func:`xmr.experiments.run` on ``jobs`` workers (:mod:`xmr.orchestrate.executors`: a local process
pool, or Dask), each with ``cpu_count // jobs`` torch threads (at least one), longest first.
Workers return each finished run's entry and this process stores it in the results cache,
so the notebooks that follow only read it, and an interrupted prefill keeps what it finished.
These small models leave cores idle in one process, so runs side by side finish more work per minute (2 cores: 1.3x for DSCMR and DACSL,
``benchmarks/bench_parallel_runs.py``).

A run that fails is reported and skipped; its chapter then meets the same error and shows
it. Numbers are those of the same run trained alone with the same thread count; a different
thread count may change the last float digits of some kernels (up to about 5e-5 in mAP);
the torch threads are stored with each entry.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..study.scale import Scale

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["prefill", "train_missing"]


def prefill(scale: Scale | str = "full", *, jobs: int = 2, only: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, epochs: int | None = None, device: str | None = None,
            executor: str = "local", scheduler: str | None = None) -> pd.DataFrame:
    """Train every uncached run the chapters (all, or ``only``) need at ``scale``, ``jobs`` runs at a time
    (on ``executor`` / ``scheduler``, see :func:`train_missing`)."""
    from .plan import plan

    runs = plan(scale, seeds=seeds, epochs=epochs, device=device, only=only, cost=False)
    return train_missing(runs, jobs=jobs, device=device, executor=executor, scheduler=scheduler)


def train_missing(runs: pd.DataFrame, *, jobs: int = 2, device: str | None = None,
                  batch_seeds: bool | None = None, executor: str = "local",
                  scheduler: str | None = None) -> pd.DataFrame:
    """Train the uncached rows of a plan ``jobs`` at a time; returns ``runs`` with ``status`` ("cached",
    "trained", "data not available: ..." or the error) and ``seconds``.

    ``batch_seeds`` sends the seeds of one run to one worker, trained as one batched model
    (:func:`xmr.engine.train`); default: on a CUDA device only, as the engine decides.
    ``executor`` (``local`` or ``dask``) and ``scheduler`` (a Dask scheduler's address) pick where
    the runs train (:mod:`xmr.orchestrate.executors`); workers return their entries and this process
    stores them, so a run finished anywhere is stored once and never trained again.
    """
    from concurrent.futures import as_completed

    from tqdm.auto import tqdm

    from ..results import write_entry
    from .executors import open_executor, running_labels

    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    runs = runs.copy()
    runs["status"], runs["seconds"] = ["cached" if c else "" for c in runs["cached"]], 0.0
    todo = runs[~runs["cached"].astype(bool)].copy()
    # Longest first (estimated seconds, else epochs as the proxy; closed-form fits last), so no long run starts at the end.
    cost = todo["est_seconds"] if "est_seconds" in todo else todo["epochs"].fillna(0).astype(float)
    todo = todo.assign(_cost=cost).sort_values("_cost", ascending=False, kind="stable")
    where = f"Dask at {scheduler}" if scheduler else f"{jobs} {'Dask' if executor == 'dask' else 'local'} worker(s)"
    print(f"prefill: {len(runs)} distinct runs, {len(runs) - len(todo)} cached, {len(todo)} to train on {where}",
          file=sys.stderr, flush=True)
    # Load each dataset once here: feature caches get built by one process, not several at once.
    missing = _unavailable_datasets(todo["call"])
    for idx, call in todo["call"].items():
        if _dataset_ident(call) in missing:
            runs.loc[idx, "status"] = f"data not available: {missing[_dataset_ident(call)]}"
    todo = todo[[_dataset_ident(c) not in missing for c in todo["call"]]]
    if len(todo) == 0:
        return runs
    threads = max(1, (os.cpu_count() or 1) // jobs)
    groups = _seed_groups(todo["call"], _batches_seeds(device) if batch_seeds is None else batch_seeds)
    started = time.perf_counter()
    with open_executor(executor, jobs=jobs, threads=threads, scheduler=scheduler) as (pool, processing), \
            tqdm(total=len(todo), unit="run", file=sys.stderr, dynamic_ncols=True, mininterval=1.0) as bar:
        futures = {pool.submit(_train_one, {**call, "kwargs": {**call["kwargs"], "device": device}}): idxs
                   for call, idxs in groups}
        labels = {f: _label(runs, idxs) for f, idxs in futures.items()}
        pending = set(futures)
        for fut in as_completed(futures):
            idxs = futures[fut]
            pending.discard(fut)
            try:
                status, seconds, entries = fut.result()
                for entry in entries:  # the driver stores, atomically: no shared filesystem needed
                    write_entry(entry)
                planned = {runs.loc[i, "key"] for i in idxs} if "key" in runs else set()
                foreign = sorted(str(e["key"]) for e in entries if planned and e["key"] not in planned)
                if foreign:  # a worker imports the sources afresh: code edited since this process planned
                    status = f"FAILED ({SOURCES_CHANGED}: stored under {foreign[0]}, planned {sorted(planned)[0]})"
            except Exception as exc:  # a worker died (e.g. killed for memory): its chapter trains the run itself
                status, seconds = f"FAILED (worker: {type(exc).__name__}: {exc})", 0.0
            for idx in idxs:  # seeds trained together share the time
                runs.loc[idx, "status"], runs.loc[idx, "seconds"] = status, seconds / len(idxs)
            bar.update(len(idxs))
            bar.write(f"[prefill {bar.n}/{len(todo)}] {labels[fut]}: {status} in {seconds:.0f} s "
                      f"({(time.perf_counter() - started) / 60:.1f} min elapsed)")
            now = running_labels({f: labels[f] for f in pending}, processing)
            bar.set_postfix_str("; ".join(now)[:200] if now else "", refresh=False)
    return runs


#: A worker's run stored under another key than the plan's: the sources changed under a running prefill.
SOURCES_CHANGED = "the sources changed since this process planned: restart it"


def _label(runs: pd.DataFrame, idxs: list[Any]) -> str:
    row = runs.loc[idxs[0]]
    seeds = ",".join(str(runs.loc[i, "seed"]) for i in idxs)
    return (f"{row['method']} {row['dataset']} seed{'s' * (len(idxs) > 1)} {seeds}"
            f"{' without ' + row['without'] if row['without'] else ''}")


def _batches_seeds(device: str | None) -> bool:
    """Whether several seeds of one run go to one worker as one batched model: on a CUDA device (the
    engine's own default, :func:`xmr.engine.train`), where a small model leaves the GPU mostly idle."""
    import torch

    return (torch.device(device).type == "cuda") if device else torch.cuda.is_available()


def _seed_groups(calls: "pd.Series", together: bool) -> list[tuple[dict[str, Any], list[Any]]]:
    """The calls as ``(call, plan rows)`` to submit: one per row, or with ``together`` one per run whose
    rows differ only in the seed (their seeds then train as one batched model), in the given order."""
    if not together:
        return [(call, [idx]) for idx, call in calls.items()]
    groups: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for idx, call in calls.items():
        rest = {**call, "kwargs": {k: v for k, v in call["kwargs"].items() if k != "seeds"}}
        key = json.dumps(rest, sort_keys=True, default=str)
        if key not in groups:
            groups[key] = (rest, [])
        groups[key][1].append(idx)
    return [({**rest, "kwargs": {**rest["kwargs"], "seeds": [int(s) for i in idxs for s in calls[i]["kwargs"]["seeds"]]}},
             idxs) for rest, idxs in groups.values()]


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


def _train_one(call: Mapping[str, Any]) -> tuple[str, float, list[dict[str, Any]]]:
    """On a worker: train one prefill run; returns ("trained", seconds, its cache entries) or (the error,
    seconds, the entries of the seeds that finished before it)."""
    from .. import experiments

    entries: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        # cache=False: the driver found the run missing; what a worker may hold locally is not the driver's
        experiments.run(call["method"], call["dataset"], sink=entries.append, cache=False, **call["kwargs"])
    except Exception as exc:  # reported by the parent; the chapter shows it in full
        return f"FAILED ({type(exc).__name__}: {exc})", time.perf_counter() - t0, entries
    return "trained", time.perf_counter() - t0, entries
