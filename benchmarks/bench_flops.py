"""Real training runs against their FLOP floor: the wall-to-floor ratio that ``xmr.orchestrate.cost`` estimates with.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_flops.py [--methods dscmr dacsl] [--epochs 5]
        [--dataset wikipedia] [--option text_features=bow] [--threads N] [--seeds 0]

Counting and peak are the library's (:mod:`xmr.orchestrate.cost`), nothing here has its own copy:

* the matmul peak is :func:`xmr.orchestrate.cost.matmul_peak` measured afresh (``refresh=True``: side by side
  with the runs, and remembered for the planner); its median is printed too;
* a run's FLOPs are :func:`xmr.orchestrate.cost.run_flops` (one step per stage counted by
  ``FlopCounterMode``: forward, loss terms, backward, the discriminator's update where there is one;
  the per-epoch validation encode and ranking; the final test encodes and rankings). Only matrix
  products are counted, so the achieved rate is a lower bound.

Each method is then trained for ``--epochs`` epochs (deep) or fitted (closed-form) with the method's
defaults for the dataset, through the engine (``xmr.engine.train``, seed by seed, nothing stored in
the results cache). Printed per run: GFLOP per step, the engine's ``seconds`` (what the results cache
stores), the floor (all FLOPs / peak), their ratio (the inefficiency factor :func:`xmr.orchestrate.cost.estimate`
multiplies the floor by), and the achieved GFLOP/s with its fraction of the peak. The load average
is printed before and after: on a shared machine the ratio also measures the neighbours, so the
ratio is also given by CPU time (the run's CPU seconds against the floor at the matmul rate per
CPU-second), which a loaded machine inflates far less (use ``--threads 1`` there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import xmr.data
from xmr import engine
from xmr.orchestrate import cost
from xmr.methods import get
from xmr.methods.readings import feature_set


def _option(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    return key, int(value) if value.isdigit() else value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["dscmr", "dacsl"])
    ap.add_argument("--epochs", type=int, default=5, help="epochs of each deep run (default 5)")
    ap.add_argument("--dataset", default="wikipedia")
    ap.add_argument("--protocol", default=None)
    ap.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                    help="a dataset option, e.g. text_features=bow (repeatable)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = dict(args.option)
    ds = xmr.data.load(args.dataset, protocol=args.protocol, **options)
    dims = cost.dims_of(ds)
    print(f"{torch.get_num_threads()} torch thread(s); load average {os.getloadavg()[0]:.1f}; "
          f"{args.dataset}/{ds.protocol} {dims}")
    peak = cost.matmul_peak(refresh=True)
    c0 = time.process_time()
    median = cost.measure_matmul_rate(reps=5)["median"]
    peak_cpu = 6 * 2.0 * 2048**3 / (time.process_time() - c0)  # warm-up + 5 products, per CPU-second of all threads
    print(f"matmul peak (2048^3 float32 mm, xmr.orchestrate.cost.matmul_peak): {peak / 1e9:.1f} GFLOP/s "
          f"(a second measurement's median {median / 1e9:.1f}; per CPU-second {peak_cpu / 1e9:.1f}); "
          f"machine: {cost.machine_id()}")
    ratios: dict[str, list[float]] = {}
    for name in args.methods:
        spec = get(name)
        epochs = args.epochs if spec.kind == "deep" else None
        hp = engine.resolve_hparams(spec, {}, epochs, features=feature_set(args.dataset, options))
        flops = cost.run_flops(spec, dims, hp)
        total = flops["train_flops"] + flops["eval_flops"]
        floor = total / peak
        step = ""
        if spec.kind == "deep":
            c = cost.step_flops(spec, dims, hp)
            step = f"batch {c['batch_size']}, {c['step'] / 1e9:.3f} GFLOP/step, {flops['steps']} steps; "
        for seed in args.seeds:
            t0, c0 = time.perf_counter(), time.process_time()
            ((result, _),) = engine.train(spec, ds, hp, seeds=[seed], device="cpu", batched=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            seconds = float(result["seconds"])
            ratio = seconds / floor
            ratios.setdefault(name, []).append(ratio)
            rate = total / seconds
            print(f"{name:6s} seed {seed} {'%d epochs' % epochs if epochs else 'fit'}: {step}"
                  f"{total / 1e12:.3f} TFLOP (train {flops['train_flops'] / 1e12:.3f}, eval {flops['eval_flops'] / 1e12:.3f}); "
                  f"run {seconds:.2f} s (wall {wall:.2f} s, CPU {cpu:.2f} s); floor {floor:.2f} s; ratio {ratio:.2f} "
                  f"(by CPU time {cpu / (total / peak_cpu):.2f}); "
                  f"achieved {rate / 1e9:.1f} GFLOP/s = {100 * rate / peak:.0f}% of peak", flush=True)
    for name, r in ratios.items():
        print(f"{name:6s} median ratio (seconds / floor) over {len(r)} run(s): {statistics.median(r):.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
