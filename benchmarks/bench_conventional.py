"""The conventional baselines on Wikipedia's original features: mAP next to the published numbers, and fit time.

Run: ``XMR_DATA_DIR=../shared/data python benchmarks/bench_conventional.py [--methods gma lcfs jfssl cca]
[--repeats 5] [--threads 1]``.

Protocol ``official``: fit on the 2173 official training pairs (train + val, as the
engine does for closed-form methods), evaluate on the 693 test pairs, mAP over the
whole ranking with cosine similarity. ``fit s`` is the median wall time of ``fit``
alone over ``--repeats`` runs with BLAS limited to ``--threads`` threads (on a busy
machine unlimited BLAS threads can be tens of times slower than one).
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
from threadpoolctl import threadpool_limits

from xmr.study import published
from xmr.data import load
from xmr.methods import get, names
from xmr.metrics import mean_average_precision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["cca", "gma", "lcfs", "jfssl"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="METHOD.KEY=VALUE", help="e.g. gma.alpha=10")
    args = ap.parse_args()

    overrides: dict[str, dict] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        method, name = key.split(".", 1)
        try:
            parsed = ast.literal_eval(value)  # numbers, None, True/False, quoted strings
        except (ValueError, SyntaxError):
            parsed = value
        overrides.setdefault(method, {})[name] = parsed

    ds = load("wikipedia", protocol="official")
    fit_i = np.concatenate([ds.train.image, ds.val.image])
    fit_t = np.concatenate([ds.train.text, ds.val.text])
    fit_y = np.concatenate([ds.train.labels, ds.val.labels])
    te = ds.test
    pub = published.load(paper="dacsl", table="Table 2")

    print(f"wikipedia / official: fit on {len(fit_y)} pairs, test {len(te)}; mAP (whole ranking, cosine)")
    print(f"{'method':<7} {'i2t':>6} {'t2i':>6} {'avg':>6}   {'pub i2t':>7} {'pub t2i':>7}   {'fit s':>7}  hyperparameters")
    for name in args.methods:
        if name not in names():
            print(f"{name:<7} (not registered)")
            continue
        spec = get(name)
        hp = overrides.get(name, {})
        times = []
        with threadpool_limits(args.threads):
            for _ in range(max(1, args.repeats)):
                started = time.perf_counter()
                model = spec.cls(**hp).fit(fit_i, fit_t, fit_y)
                times.append(time.perf_counter() - started)
        zi, zt = model.transform(te.image, te.text)
        i2t = mean_average_precision(zi, zt, te.labels, te.labels)
        t2i = mean_average_precision(zt, zi, te.labels, te.labels)
        rows = pub[pub.method == name]
        ref = {t: float(rows[rows.task == t].value.iloc[0]) for t in ("i2t", "t2i")} if len(rows) else {}
        pub_cols = f"{ref['i2t']:>7.3f} {ref['t2i']:>7.3f}" if ref else f"{'-':>7} {'-':>7}"
        shown = {**spec.defaults, **hp}
        print(f"{name:<7} {i2t:6.4f} {t2i:6.4f} {(i2t + t2i) / 2:6.4f}   {pub_cols}   {np.median(times):7.3f}  {shown}")


if __name__ == "__main__":
    main()
