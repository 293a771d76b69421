"""``xmr data info NAME`` / ``xmr data verify`` / ``xmr data features NAME``."""

from __future__ import annotations

import argparse
import importlib

from ..data import checksums, duplicates, load, names
from ..data.overlap import summary


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect, verify and prepare datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    info = dsub.add_parser("info", help="print a dataset card and the test items duplicated in train/val")
    info.add_argument("name", choices=names())
    info.add_argument("--protocol")
    info.add_argument("--root", help="data directory (default: $XMR_DATA_DIR, else ./data)")
    info.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="loader option, e.g. fold=2 or dedupe=true (repeatable)")
    info.set_defaults(func=_info)

    verify = dsub.add_parser("verify", help="check every raw file's sha256 and print a table")
    verify.add_argument("--root")
    verify.set_defaults(func=_verify)

    feats = dsub.add_parser("features", help="precompute and cache extracted features")
    feats.add_argument("name")
    feats.add_argument("--root")
    feats.add_argument("--device", default=None)
    feats.set_defaults(func=_features)


def parse_options(pairs: list[str]) -> dict:
    """``["fold=2", "text_features=bow"]`` -> ``{"fold": 2, "text_features": "bow"}`` (ints/floats parsed)."""
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def _dataset_module(name: str):
    try:
        return importlib.import_module(f"xmr.data.{name}")
    except ModuleNotFoundError:
        return None


def _info(args) -> int:
    ds = load(args.name, root=args.root, protocol=args.protocol, **parse_options(args.set))
    print(ds.card())
    print()
    print(summary(duplicates(ds, root=args.root)))
    module = _dataset_module(args.name)
    extra = getattr(module, "info_extra", None)
    if extra is not None:  # e.g. the news set's data-quality table and linear probes
        print()
        print(extra(ds, root=args.root))
    return 0


def _verify(args) -> int:
    rows = checksums.verify_all(args.root)
    width = max(len(r[0]) for r in rows)
    for rel, status, detail in rows:
        print(f"{rel:<{width}}  {status:<8}  {detail}")
    bad = [r for r in rows if r[1] != "OK"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} files OK")
    return 1 if bad else 0


def _features(args) -> int:
    module = _dataset_module(args.name)
    precompute = getattr(module, "precompute_features", None)
    if precompute is None:
        raise ValueError(f"dataset {args.name!r} ships its features; nothing to extract")
    precompute(root=args.root, device=args.device)
    return 0
