"""Throughput of runs side by side (``xmr book --jobs``) against one run after another, on the same cores.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_parallel_runs.py [--methods dscmr dacsl] [--runs 2]
        [--epochs 20] [--jobs 2]

For each method, ``--runs`` seeds trained (nothing cached) (a) one after another in
one process using every core (torch's default thread count), and (b) ``--jobs`` at a
time in worker processes with ``cores // jobs`` threads each, the way
:func:`xmr.publish.book.prefill` runs them. Prints both wall times and their ratio
(sequential / parallel: above 1 means the parallel prefill finishes sooner), and the
largest difference in test mAP between the two (different thread counts may change
the last float digits).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import torch

import xmr.data
from xmr.methods import get
from xmr.engine import resolve_hparams, train_deep


def _init(threads: int) -> None:
    torch.set_num_threads(threads)


def _one(method: str, epochs: int, seed: int) -> tuple[float, float]:
    spec = get(method)
    result, _ = train_deep(spec, xmr.data.load("wikipedia"), resolve_hparams(spec, {"epochs": epochs}), seed=seed)
    return result["i2t"], result["t2i"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["dscmr", "dacsl"])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.jobs)
    print(f"Wikipedia, {args.epochs} epochs, {args.runs} runs per method, {cores} cores; sequential with "
          f"{torch.get_num_threads()} torch threads vs {args.jobs} jobs x {threads} thread(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'method':8s} {'sequential s':>13s} {'parallel s':>11s} {'ratio':>6s} {'max |d mAP|':>12s}")
    ctx = multiprocessing.get_context("spawn")
    for method in args.methods:
        _one(method, 1, 0)  # warm-up: imports, allocator
        t0 = time.perf_counter()
        seq = [_one(method, args.epochs, s) for s in range(args.runs)]
        t_seq = time.perf_counter() - t0
        with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_init, initargs=(threads,)) as pool:
            list(pool.map(_one, [method] * args.jobs, [1] * args.jobs, range(args.jobs)))  # start the workers first
            t0 = time.perf_counter()
            par = list(pool.map(_one, [method] * args.runs, [args.epochs] * args.runs, range(args.runs)))
            t_par = time.perf_counter() - t0
        diff = max(abs(a - b) for s, p in zip(seq, par) for a, b in zip(s, p))
        print(f"{method:8s} {t_seq:13.1f} {t_par:11.1f} {t_seq / t_par:6.2f} {diff:12.2e}")


if __name__ == "__main__":
    main()
