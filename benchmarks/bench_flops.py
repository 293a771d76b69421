"""Achieved GFLOP/s of a training step against this machine's measured matmul peak.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_flops.py [--methods dscmr dacsl] [--steps 30] [--threads N]

Peak: the best of several float32 ``torch.mm`` of 2048 x 2048 by 2048 x 2048 (2 n^3
FLOPs each). A training step is the engine's (xmr.engine.single): index mini-batch of the
Wikipedia training split at the method's default batch size, forward, loss terms,
backward, fused Adam; for DACSL also its discriminator step. FLOPs are counted,
not estimated, by ``torch.utils.flop_counter.FlopCounterMode`` over one such step
(the matrix products of forward and backward; elementwise work is not counted,
so the achieved rate is a lower bound). Printed: FLOPs per step, seconds per
step (median of ``--steps``), achieved GFLOP/s and its fraction of the peak
(goal >= 50%). Peak and steps are measured side by side in one run, so the
fraction is meaningful even when the machine is shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import xmr.data
from xmr.methods import get
from xmr.methods.base import Batch
from xmr.engine.single import _normalised_splits, _optimizer, _to_device, resolve_hparams


def timings(fn, reps: int) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU) seconds of ``reps`` calls."""
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), statistics.median(wall), statistics.median(cpu)


def matmul_peak(n: int = 2048, reps: int = 10) -> tuple[float, float, float]:
    """GFLOP/s of a float32 n^3 mm: best wall, median wall, median per CPU-second of all threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    flops = 2 * n**3
    best, med, cpu = timings(lambda: torch.mm(a, b), reps)
    return flops / best / 1e9, flops / med / 1e9, flops / cpu / 1e9


def make_step(name: str, ds):
    spec = get(name)
    hp = resolve_hparams(spec, {})
    torch.manual_seed(0)
    model = spec.cls(*ds.dims, ds.num_classes, hp, frozenset())
    splits = _normalised_splits(ds, hp["input_norm"])
    train = _to_device(splits["train"], ds.num_classes, torch.device("cpu"))
    use_d = model.adversarial == "alternating" and model.uses_discriminator()
    opt = _optimizer(model.mapper_parameters() if model.adversarial == "alternating" else list(model.parameters()), hp)
    d_params = model.discriminator_parameters() if use_d else []
    d_opt = _optimizer(d_params, hp, discriminator=True) if use_d else None
    weights, active = model.term_weights(), model.active_terms()
    bsz, n = int(hp["batch_size"]), len(train.labels)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(n, (bsz,), generator=gen)
        batch = Batch(train.image[idx], train.text[idx], train.labels[idx], train.onehot[idx])
        out = model(batch)
        if use_d:
            detached = {k: v.detach() for k, v in out.items()}
            d_opt.zero_grad(set_to_none=True)
            model.discriminator_loss(batch, detached).backward()
            d_opt.step()
            for p in d_params:
                p.requires_grad_(False)
        terms = model.losses(batch, out)
        total = sum(weights[t] * terms[t] for t in active)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        for p in d_params:
            p.requires_grad_(True)

    return step, bsz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["dscmr", "dacsl"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = xmr.data.load("wikipedia")
    print(f"{torch.get_num_threads()} torch thread(s); load average {os.getloadavg()[0]:.1f}")
    peak = matmul_peak()
    print(f"matmul peak (2048^3 float32 mm): best {peak[0]:.1f} GFLOP/s, median {peak[1]:.1f} GFLOP/s, "
          f"per CPU-second {peak[2]:.1f} GFLOP/s")
    for name in args.methods:
        step, bsz = make_step(name, ds)
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
        for _ in range(3):
            step()
        best, med, cpu = timings(step, args.steps)
        rates = (flops / best / 1e9, flops / med / 1e9, flops / cpu / 1e9)
        print(f"{name:6s} batch {bsz}: {flops / 1e9:.3f} GFLOP/step; {best * 1e3:.1f} ms best, {med * 1e3:.1f} ms median; "
              + ", ".join(f"{kind} {r:.1f} GFLOP/s = {100 * r / p:.0f}% of peak"
                          for kind, r, p in zip(("best", "median", "per CPU-second"), rates, peak))
              + " (goal >= 50%)")
    again = matmul_peak()
    print(f"matmul peak again: best {again[0]:.1f}, median {again[1]:.1f}, per CPU-second {again[2]:.1f} GFLOP/s; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
