"""The news set's bag of words through a sparse first layer against the dense one, side by side.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_sparse.py [--methods dscmr cmdn] [--epochs 3] [--threads 1]

For each method, in one process on the same threads: the same seed trained dense
(``sparse=False``) and sparse (``sparse=True``) for ``--epochs``; prints the wall time
per epoch of each, their ratio, and the largest difference of the per-epoch history and
of the test mAP (float summation order only).
"""

from __future__ import annotations

import argparse
import time

import torch

import xmr.data
from xmr.engine import resolve_hparams, train_deep
from xmr.engine.sparse import density
from xmr.methods import get


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["dscmr", "cmdn"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = xmr.data.load("web_news_cn", text_features="bow")
    print(f"web_news_cn BoW: text {ds.dims[1]}-d, {density(ds.train.text):.2%} nonzero; {args.epochs} epochs, "
          f"{args.threads} thread(s)")
    for name in args.methods:
        spec = get(name)
        hp = resolve_hparams(spec, {"epochs": args.epochs}, features="web_news_cn/bow")  # the book's news-BoW defaults
        out = {}
        for sparse in (False, True):
            t0 = time.perf_counter()
            out[sparse] = train_deep(spec, ds, hp, seed=0, sparse=sparse, device="cpu")[0]
            out[sparse]["wall"] = (time.perf_counter() - t0) / args.epochs
        d, s = out[False], out[True]
        diff = max(abs(a[k] - b[k]) for a, b in zip(d["history"], s["history"]) for k in a if a[k] is not None)
        print(f"{name:6} input_norm {hp['input_norm']:11} dense {d['wall']:7.2f} s/epoch | sparse {s['wall']:7.2f} s/epoch "
              f"| dense/sparse {d['wall'] / s['wall']:5.1f}x | history max |diff| {diff:.1e}, "
              f"test avg mAP {d['avg']:.6f} vs {s['avg']:.6f}")


if __name__ == "__main__":
    main()
