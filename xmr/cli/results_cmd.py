"""``xmr results export PATH``: every archived run as one tidy table (:mod:`xmr.export`).

One row per (run, task, metric); CSV for ``.csv`` / ``.csv.gz``, Parquet for ``.parquet`` (needs
pyarrow). The file is replaced atomically; the row and run counts are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser("results", help="the archived runs as data: export them as one tidy table",
                         description="Without ACTION: this help.")
    rsub = res.add_subparsers(dest="results_command", metavar="ACTION")
    res.set_defaults(func=lambda args: _help(res))
    exp = rsub.add_parser("export", help="write every archived run to PATH, one row per (run, task, metric)",
                          description="One row per (run, task, metric) of the results archive; the format "
                                      "follows PATH's suffix: .csv, .csv.gz, or .parquet (needs pyarrow).")
    exp.add_argument("path", metavar="PATH", type=Path, help="the file to write (.csv, .csv.gz or .parquet)")
    exp.set_defaults(func=_export)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..export import archive_table, write_table

    frame = archive_table()
    n = write_table(frame, args.path)
    print(f"wrote {n} rows ({frame['key'].nunique()} runs) to {args.path}")
    return 0
