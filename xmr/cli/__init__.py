"""The ``xmr`` command: one entry point, one module per subcommand group.

Each module in :data:`COMMANDS` has ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` on the parser to a callable ``(args) -> int``.

Layer: the top; may import every layer below (:mod:`xmr.publish`, :mod:`xmr.orchestrate`, :mod:`xmr.study`,
:mod:`xmr.experiments`, the engine, the methods, the data); nothing imports it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ["xmr.cli.data_cmd", "xmr.cli.methods_cmd", "xmr.cli.run_cmd", "xmr.cli.book_cmd", "xmr.cli.cache_cmd",
            "xmr.cli.archive_cmd", "xmr.cli.claims_cmd", "xmr.cli.results_cmd", "xmr.cli.verify_cmd"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="xmr", description="Image-text cross-modal retrieval, reproduced.")
    parser.add_argument("--version", action="version", version=f"xmr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a subcommand not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:  # user errors: message, no traceback
        print(f"xmr: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a run that diverged (lr too high, NaN input): its message says what to change
        from ..engine.select import TrainingDivergedError  # here, not at start-up: it imports torch

        if not isinstance(exc, TrainingDivergedError):
            raise
        print(f"xmr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (xmr book turns it into this): finished runs are kept, no traceback
        print("xmr: interrupted; finished runs are kept (run the command again to go on)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `xmr methods dacsl | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
