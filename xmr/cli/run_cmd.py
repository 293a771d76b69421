"""``xmr run METHOD DATASET``: train / fit a method, print test mAP (``--json``: one JSON object, last line)."""

from __future__ import annotations

import argparse
import json
import sys

from .data_cmd import parse_options


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"`` -> [0, 3, 7]; ranges and lists may mix."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                seeds.extend(range(lo_i, hi_i + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 0-4 or 0,1,2, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train a method on a dataset and report test mAP (cached)")
    p.add_argument("method", help="method name, e.g. dacsl, dscmr, cca (all: python -c \"import xmr.methods; print(xmr.methods.names())\")")
    p.add_argument("dataset", help="dataset name, e.g. wikipedia")
    p.add_argument("--protocol", help="split protocol (the dataset's default when omitted)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed (default 0)")
    seeds.add_argument("--seeds", type=parse_seeds, help="several seeds, e.g. 0-4 or 0,2,5")
    p.add_argument("--epochs", type=int, help="override the method's number of epochs")
    p.add_argument("--without", nargs="+", default=[], metavar="TERM", help="ablate loss terms, e.g. --without dis tri")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override (repeatable)")
    p.add_argument("--data-set", dest="data_set", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset loader option, e.g. fold=2 (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--no-cache", action="store_true", help="recompute even when a stored run exists")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of standard output")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress on standard error")
    p.add_argument("--track-test", dest="track_test", action="store_true",
                   help="diagnostic: also record each epoch's test mAP and what selecting the epoch on test would report "
                        "(never used for selection; reported numbers are unchanged)")
    p.set_defaults(func=_run)


def _hparams(pairs: list[str]) -> dict:
    """KEY=VALUE overrides; values may also be JSON (lists such as betas=[0.5,0.999], null)."""
    out = {}
    for key, value in parse_options(pairs).items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def _run(args: argparse.Namespace) -> int:
    from .. import experiments

    seeds = args.seeds if args.seeds is not None else [args.seed if args.seed is not None else 0]
    res = experiments.run(
        args.method,
        args.dataset,
        protocol=args.protocol,
        seeds=seeds,
        epochs=args.epochs,
        without=args.without,
        device=args.device,
        cache=not args.no_cache,
        dataset_options=parse_options(args.data_set),
        progress=not args.quiet,
        track_test=args.track_test,
        **_hparams(args.set),
    )
    summary = experiments.cli_summary(res)
    if args.json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
        return 0
    table = res.table
    cols = ["seed", "i2t", "t2i", "avg", "avg@5", "avg@25", "avg@50", "best_epoch", "epochs", "last_avg",
            "test_best_epoch", "test_best_avg", "seconds", "cached"]
    print(f"{summary['method']} on {summary['dataset']} (protocol {summary['protocol']}), test mAP")
    print(table[[c for c in cols if c in table]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if len(table) > 1:
        s = res.summary()
        print(f"mean ± std  i2t {s.loc['i2t', 'mean']:.4f} ± {s.loc['i2t', 'std']:.4f}  "
              f"t2i {s.loc['t2i', 'mean']:.4f} ± {s.loc['t2i', 'std']:.4f}  avg {s.loc['avg', 'mean']:.4f} ± {s.loc['avg', 'std']:.4f}")
    return 0
