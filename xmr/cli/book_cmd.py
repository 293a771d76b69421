"""``xmr book [--scale full|smoke] [--only NAME ...]``: execute the chapter notebooks and build the HTML book."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "book",
        help="execute every chapter notebook (papermill) and build the book (Jupyter Book) into _build/html",
        description="Execute notebooks/*.ipynb into book/chapters/ with the scale's parameters, then build _build/html. "
        "A failing chapter does not stop the others; the exit status is 1 if any chapter or the build failed.",
    )
    p.add_argument("--scale", choices=("full", "smoke"), default="full",
                   help="full: the papers' settings, 5 seeds; smoke: 1 seed, 4 epochs, small grids (default: full)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="execute only these chapters (others keep their last output)")
    p.add_argument("--seeds", help="override the scale's seeds, e.g. 0-4 or 0,1,2")
    p.add_argument("--epochs", type=int, help="override the scale's epochs for every deep method")
    p.add_argument("--device", help="torch device for training (default: CUDA when available, else CPU)")
    p.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                   help="train the missing runs N at a time in separate processes before the notebooks execute "
                        "(0: one per CPU core; default 1: each notebook trains its own runs)")
    p.add_argument("--no-execute", action="store_true", help="only build the HTML from the chapters already executed")
    p.add_argument("--no-build", action="store_true", help="only execute the chapters")
    p.add_argument("--list", action="store_true", help="list the chapters and exit")
    p.add_argument("--plan", action="store_true",
                   help="build nothing: list the training runs the scale needs, which are cached, and an estimate of the "
                        "time the rest would take (timed from 2- and 4-epoch probes)")
    p.add_argument("--no-probe", action="store_true", help="with --plan: count the runs, do not time probes")
    p.set_defaults(func=_book)


def _jobs(text: str) -> int:
    import os

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--jobs wants a whole number (0 = one per CPU core), not {text!r}")
    return int(text) or (os.cpu_count() or 1)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2"`` -> [0, 2]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo):
                raise ValueError(f"bad seed range {part!r}; write e.g. 0-4")
            out.extend(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            out.append(int(part))
        else:
            raise ValueError(f"bad seed {part!r}; write e.g. 0-4 or 0,1,2")
    return out


def _book(args) -> int:
    from ..build.book import build_book, chapters

    if args.list:
        print("\n".join(chapters()))
        return 0
    if args.plan:
        return _plan(args)
    return build_book(
        args.scale,
        only=args.only,
        seeds=parse_seeds(args.seeds) if args.seeds else None,
        epochs=args.epochs,
        device=args.device,
        execute=not args.no_execute,
        build=not args.no_build,
        jobs=args.jobs,
    )


def _plan(args) -> int:
    from ..build.book import plan, plan_summary

    runs = plan(args.scale, seeds=parse_seeds(args.seeds) if args.seeds else None, epochs=args.epochs,
                device=args.device, probe=not args.no_probe)
    tables = plan_summary(runs)
    print(f"book ({args.scale}): {len(runs)} distinct training runs, {int(runs['cached'].sum())} cached")
    for by, table in tables.items():
        print(f"\nby {by}:")
        print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    if not args.no_probe:
        total = runs["est_seconds"].sum()
        print(f"\nestimated training time from this cache: {total / 60:.0f} min ({total / 3600:.1f} h) on this machine; "
              f"the notebooks themselves took {runs.attrs['notebook_seconds']:.0f} s without training")
    return 0
