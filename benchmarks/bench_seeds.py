"""Time S seeds trained together (xmr.engine.batched) against one seed (xmr.engine.single), side by side.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_seeds.py [--methods dscmr dacsl] [--seeds 5]
        [--epochs 5] [--threads N] [--sequential]

For each method, in one process and on the same threads: one seed with the
engine's ``train_deep``, then ``--seeds`` seeds with ``train_deep_batched``
(optionally also the S seeds one after the other, ``--sequential``). Prints wall
and CPU seconds and the ratio batched(S) / single(1) -- the goal is <= 2 for 5
seeds -- and, for the seed both paths trained, the largest difference of the
per-epoch history and of the test mAP between the batched and the plain run.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import xmr.data
from xmr.methods import get
from xmr.engine import resolve_hparams, train_deep, train_deep_batched


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def history_diff(a: dict, b: dict) -> float:
    ha = np.array([[v for v in r.values()] for r in a["history"]], dtype=float)
    hb = np.array([[v for v in r.values()] for r in b["history"]], dtype=float)
    return float(np.abs(ha - hb).max()) if ha.shape == hb.shape else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["dscmr", "dacsl"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sequential", action="store_true", help="also time the S seeds one after the other")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = xmr.data.load("wikipedia")
    print(f"Wikipedia ({len(ds.train.labels)} training pairs), {args.epochs} epochs, "
          f"{torch.get_num_threads()} torch thread(s); load average {os.getloadavg()[0]:.1f}")
    seeds = list(range(args.seeds))
    for name in args.methods:
        spec = get(name)
        hp = resolve_hparams(spec, {"epochs": args.epochs})
        train_deep(spec, ds, resolve_hparams(spec, {"epochs": 1}), seed=0)  # warm-up (allocator, kernels)
        (one, _), t1, c1 = timed(lambda: train_deep(spec, ds, hp, seed=0))
        batched, tb, cb = timed(lambda: train_deep_batched(spec, ds, hp, seeds=seeds))
        line = (f"{name:6s} 1 seed: wall {t1:7.1f} s cpu {c1:7.1f} s | {args.seeds} seeds batched: wall {tb:7.1f} s "
                f"cpu {cb:7.1f} s | ratio batched/single wall {tb / t1:.2f} cpu {cb / c1:.2f} (goal <= 2)")
        if args.sequential:
            _, ts, cs = timed(lambda: [train_deep(spec, ds, hp, seed=s) for s in seeds])
            line += f" | sequential {args.seeds} seeds wall {ts:7.1f} s, batched/sequential {tb / ts:.2f}"
        print(line)
        b0 = batched[0][0]
        print(f"       seed 0 batched vs plain: history max |diff| {history_diff(b0, one):.2e}, "
              f"test avg mAP {b0['avg']:.6f} vs {one['avg']:.6f}, best epoch {b0['best_epoch']} vs {one['best_epoch']}; "
              f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
