"""``xmr book [--scale full|smoke] [--only NAME ...]``: execute the chapter notebooks and build the HTML book."""

from __future__ import annotations

import argparse
import sys
import time

from ..study.scale import SCALES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "book",
        help="execute every chapter notebook (papermill) and build the book (Jupyter Book) into _build/html",
        description="Execute notebooks/*.ipynb into book/chapters/ with the scale's parameters, then build _build/html. "
        "A failing chapter does not stop the others; the exit status is 1 if any chapter or the build failed.",
    )
    p.add_argument("--scale", choices=list(SCALES), default="full",
                   help="full: the papers' settings, 5 seeds; smoke: 1 seed, 4 epochs, small grids (default: full)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="execute only these chapters (others keep their last output)")
    p.add_argument("--seeds", help="override the scale's seeds, e.g. 0-4 or 0,1,2")
    p.add_argument("--epochs", type=int, help="override the scale's epochs for every deep method")
    p.add_argument("--device", help="torch device for training (default: CUDA when available, else CPU)")
    p.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                   help="train the missing runs N at a time in separate processes before the notebooks execute "
                        "(0: one per CPU core; default 1: each notebook trains its own runs)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where --jobs runs train: local processes (default) or an embedded Dask LocalCluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="train on a running Dask cluster (tcp://HOST:PORT; default $XMR_SCHEDULER with --executor dask); "
                        "its workers need the data (XMR_DATA_DIR, or a pack: xmr data pack, XMR_DATA_PACK)")
    p.add_argument("--no-execute", action="store_true", help="only build the HTML from the chapters already executed")
    p.add_argument("--no-build", action="store_true", help="only execute the chapters")
    p.add_argument("--train-only", dest="train_only", action="store_true",
                   help="only train the missing runs into the results cache (--jobs at a time, at least 1) and stop: "
                        "e.g. on a GPU machine with XMR_DATA_PACK (xmr data pack), executing and building elsewhere")
    p.add_argument("--deep-only", dest="deep_only", action="store_true",
                   help="with --train-only: only the deep methods' runs (a GPU gains nothing on the closed-form fits)")
    p.add_argument("--campaign", action="store_true",
                   help="with --train-only or --plan: the power plan's campaign (more seeds, re-drawn splits) instead of the "
                        "book's runs; a build never trains it")
    p.add_argument("--no-archive", dest="no_archive", action="store_true",
                   help="ignore the committed results archive (archive/): train every run the cache lacks")
    p.add_argument("--list", action="store_true", help="list the chapters and exit")
    p.add_argument("--plan", action="store_true",
                   help="build nothing: list the training runs the chapters declare at this scale, which are cached, and "
                        "what the rest costs (counted FLOPs, the arithmetic floor at this machine's matmul peak, and an "
                        "estimated time); answers in seconds, executes no notebook")
    p.add_argument("--json", action="store_true", help="with --plan: one JSON object per run instead of the tables")
    p.set_defaults(func=_book)


def _jobs(text: str) -> int:
    import os

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--jobs wants a whole number (0 = one per CPU core), not {text!r}")
    return int(text) or (os.cpu_count() or 1)


def _seeds(args) -> list[int] | None:
    from ..study.scale import parse_seeds

    return parse_seeds(args.seeds) if args.seeds else None


def _book(args) -> int:
    import os

    from ..publish.book import build_book, chapters

    if args.no_archive:  # the environment, so the prefill workers and the notebooks' kernels see it too
        os.environ["XMR_ARCHIVE"] = "off"
    if args.list:
        print("\n".join(chapters()))
        return 0
    if args.plan:
        return _plan(args)
    if args.train_only:
        return _train_only(args)
    return build_book(
        args.scale,
        only=args.only,
        seeds=_seeds(args),
        epochs=args.epochs,
        device=args.device,
        execute=not args.no_execute,
        build=not args.no_build,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
    )


def _train_only(args) -> int:
    from ..orchestrate.plan import plan
    from ..orchestrate.prefill import train_missing
    from ..methods import get

    runs = plan(args.scale, seeds=_seeds(args), epochs=args.epochs, device=args.device, only=args.only,
                cost=bool(args.campaign), campaign=bool(args.campaign))
    if args.campaign:  # claim by claim, as `xmr archive grow --campaign`: a short GPU session finishes whole claims
        from ..orchestrate.plan import campaign_keys, claim_order

        runs = claim_order(runs, campaign_keys(args.scale))
    if args.deep_only:
        runs = runs[[get(m).kind == "deep" for m in runs["method"]]]
    runs = train_missing(runs, jobs=max(1, args.jobs), device=args.device, executor=args.executor,
                         scheduler=args.scheduler)
    status = runs["status"].astype(str)
    failed = runs[status.str.startswith("FAILED")]
    print(f"trained {int((status == 'trained').sum())}, cached {int((status == 'cached').sum())}, "
          f"not available {int(status.str.startswith('data not available').sum())}, failed {len(failed)} "
          f"of {len(runs)} runs")
    for _, row in failed.iterrows():
        print(f"  {row['method']} {row['dataset']} seed {row['seed']}: {row['status']}", file=sys.stderr)
    return 1 if len(failed) else 0


def _plan(args) -> int:
    import json

    from ..orchestrate.plan import plan, plan_rows, plan_summary

    started = time.perf_counter()
    runs = plan(args.scale, seeds=_seeds(args), epochs=args.epochs, device=args.device, only=args.only,
                campaign=bool(args.campaign))
    if args.json:
        for row in plan_rows(runs):
            print(json.dumps(row, default=str))
        return 0
    todo = runs[~runs["cached"].astype(bool)]
    print(f"{'the campaign' if args.campaign else 'book'} ({args.scale}): {len(runs)} distinct training runs, {len(runs) - len(todo)} cached, {len(todo)} to train")
    for by, table in plan_summary(runs).items():
        print(f"\nby {by}" + (" (each run counted once, where first needed; the pages that re-read the others' "
                               "runs, the multiverse then the findings and ledger, last):" if by == "chapter" else ":"))
        print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    if "est_seconds" in runs:
        flops, floor, est = todo["train_flops"].sum() + todo["eval_flops"].sum(), todo["floor_seconds"].sum(), todo["est_seconds"].sum()
        print(f"\nto train: {flops / 1e12:.1f} TFLOP counted; arithmetic floor {floor / 60:.1f} min at this machine's "
              f"matmul peak; estimated {est / 60:.0f} min ({est / 3600:.1f} h) here")
    print(f"(planned in {time.perf_counter() - started:.1f} s; no notebook executed)")
    return 0
