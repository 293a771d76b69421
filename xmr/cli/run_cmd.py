"""``xmr run METHOD DATASET``: train / fit a method, print test mAP (``--json``: one JSON object, last line)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .data_cmd import parse_dataset_options, parse_typed, split_pairs, unknown_key
from .methods_cmd import hparam_type, spec_of


def _seeds(text: str) -> list[int]:
    """``--seeds`` through :func:`xmr.study.scale.parse_seeds` (its ``ValueError`` as argparse's error)."""
    from ..study.scale import parse_seeds

    try:
        seeds = parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given; write e.g. 0-4 or 0,1,2")
    return seeds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train a method on a dataset and report test mAP (cached)")
    p.add_argument("method", help="method name, e.g. dacsl, dscmr, cca (all of them: xmr methods; "
                                  "one's hyperparameters and readings: xmr methods NAME)")
    p.add_argument("dataset", help="dataset name, e.g. wikipedia")
    p.add_argument("--protocol", help="split protocol (the dataset's default when omitted)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed (default 0)")
    seeds.add_argument("--seeds", type=_seeds, help="several seeds, e.g. 0-4 or 0,2,5")
    p.add_argument("--epochs", type=int, help="override the method's number of epochs")
    p.add_argument("--without", nargs="+", default=[], metavar="TERM", help="ablate loss terms, e.g. --without dis tri")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="hyperparameter override, parsed as its default's type, e.g. alpha=0.3, hidden=[1024,256], "
                        "patience=None (repeatable; the keys, their types and defaults: xmr methods METHOD)")
    p.add_argument("--data-set", dest="data_set", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset loader option, parsed as its default's type, e.g. fold=2 or dedupe=true (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--no-cache", action="store_true", help="recompute even when a stored run exists")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="with --seeds: train the seeds N at a time in separate processes (default 1: in this process)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="with --jobs or --scheduler: local processes (default) or an embedded Dask LocalCluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="train the seeds on a running Dask cluster (tcp://HOST:PORT; default $XMR_SCHEDULER with "
                        "--executor dask)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of standard output")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress on standard error")
    p.add_argument("--track-test", dest="track_test", action="store_true",
                   help="diagnostic: also record each epoch's test mAP and what selecting the epoch on test would report "
                        "(never used for selection; reported numbers are unchanged)")
    p.set_defaults(func=_run)


def parse_hparams(method: str, pairs: list[str], flag: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` overrides of ``method``'s hyperparameters, each parsed as the type its default and
    readings declare (:func:`xmr.cli.methods_cmd.hparam_type`): ``alpha=1`` is the float 1.0,
    ``hidden=[1024,256]`` (or ``1024,256``) a list of ints, ``patience=None`` None where None is declared,
    a string-valued reading one of its declared values. An unknown key, a value of the wrong type or a
    value outside a reading's choices is a ``ValueError`` that names the key, what it expects and its default."""
    spec = spec_of(method)
    out: dict[str, Any] = {}
    for key, value in split_pairs(pairs, flag):
        if key not in spec.defaults:
            raise unknown_key(flag, key, value, spec.defaults, f"{spec.name} has no hyperparameter")
        out[key] = parse_typed(flag, key, value, hparam_type(spec, key), spec.defaults[key])
    return out


def _train_elsewhere(args: argparse.Namespace, seeds: list[int], hparams: dict[str, Any],
                     dataset_options: dict[str, Any] | None) -> None:
    """Train the missing seeds as separate runs on ``--jobs`` workers / Dask (:mod:`xmr.orchestrate.executors`),
    into the cache, so the ``experiments.run`` that follows only reads them."""
    from .. import experiments
    from ..orchestrate.prefill import train_missing

    kwargs = {"protocol": args.protocol, "epochs": args.epochs, "without": list(args.without),
              "dataset_options": dataset_options, "track_test": args.track_test, **hparams}
    frame = experiments.planned_runs(args.method, args.dataset, seeds=seeds, **kwargs)
    if args.no_cache:
        frame = frame.assign(cached=False)
    frame["call"] = [{"method": args.method, "dataset": args.dataset, "kwargs": {**kwargs, "seeds": [int(s)]}}
                     for s in frame["seed"]]
    train_missing(frame, jobs=max(1, args.jobs), device=args.device, batch_seeds=False, executor=args.executor,
                  scheduler=args.scheduler)


def _run(args: argparse.Namespace) -> int:
    from .. import experiments

    seeds = args.seeds if args.seeds is not None else [args.seed if args.seed is not None else 0]
    hparams = parse_hparams(args.method, args.set)  # every check before anything is loaded or trained
    if "epochs" in hparams:  # `--set epochs=N` is the same as `--epochs N` (xmr methods lists it as settable)
        if args.epochs is not None and args.epochs != hparams["epochs"]:
            raise ValueError(f"--epochs {args.epochs} and --set epochs={hparams['epochs']} disagree; give one")
        args.epochs = int(hparams.pop("epochs"))
    dataset_options = parse_dataset_options(args.dataset, args.data_set)
    if args.jobs > 1 or args.executor != "local" or args.scheduler:
        _train_elsewhere(args, seeds, hparams, dataset_options)
    res = experiments.run(
        args.method,
        args.dataset,
        protocol=args.protocol,
        seeds=seeds,
        epochs=args.epochs,
        without=args.without,
        device=args.device,
        cache=not args.no_cache,
        dataset_options=dataset_options,
        progress=not args.quiet,
        track_test=args.track_test,
        **hparams,
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
