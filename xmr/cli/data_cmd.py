"""``xmr data info NAME`` / ``xmr data verify`` / ``xmr data features NAME``.

Also the typed reading of ``KEY=VALUE`` options (:class:`ValueType`, :func:`split_pairs`,
:func:`parse_dataset_options`) that ``xmr run --set`` / ``--data-set`` share: a value is
parsed as the type of the option's default, and a bad one is an error that names the key,
the type it expects and its default.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import json
from dataclasses import dataclass
from typing import Any, Iterable

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

    pk = dsub.add_parser("pack", help="pack the loaded datasets a build needs into one file, for machines "
                                      "without the raw data (then set XMR_DATA_PACK to it)")
    pk.add_argument("path", help="the pack to write, e.g. xmr-data.npz")
    pk.add_argument("--scale", default="full", help="the book scale whose runs' datasets to pack (default: full)")
    pk.add_argument("--only", nargs="+", metavar="CHAPTER", help="only these chapters' datasets")
    pk.set_defaults(func=_pack)


_NONE_WORDS = ("none", "null")
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}


def fmt_value(value: Any) -> str:
    """A value as it is written on the command line: ``None``, ``true``, ``[512, 100]``, ``0.1``."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    return "any"


def _common_kind(kinds: set[str]) -> str:
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else "any"


@dataclass(frozen=True)
class ValueType:
    """What an option accepts on the command line: ``kind`` (bool, int, float, str, list, any),
    the element kind of a list, whether ``None`` is allowed, and the choices of a string."""

    kind: str
    element: str = "any"
    allows_none: bool = False
    choices: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[Any], choices: Iterable[str] | None = None) -> "ValueType":
        """The type of the declared ``values`` of an option (default, alternatives ...): ints and
        floats together make a float; ``choices`` (strings) restrict a string option."""
        values = list(values)
        kinds = {_kind(v) for v in values if v is not None}
        kind = _common_kind(kinds) if kinds else "any"
        element = "any"
        if kind == "list":
            elements = {_kind(e) for v in values if isinstance(v, (list, tuple)) for e in v}
            element = _common_kind(elements) if elements else "any"
            element = element if element in ("int", "float", "str", "bool") else "any"
        return cls(kind, element, any(v is None for v in values) or kind == "any",
                   tuple(dict.fromkeys(choices or ())) if kind == "str" else ())

    def describe(self) -> str:
        """``a float``, ``an int or None``, ``one of gan, wgan``, ``a list of ints such as [512, 100]``."""
        if self.kind == "str" and self.choices:
            text = "one of " + ", ".join(self.choices)
        else:
            text = {
                "bool": "true or false (also 1 or 0)",
                "int": "an int",
                "float": "a float",
                "str": "a string",
                "list": {"int": "a list of ints such as [512, 100]", "float": "a list of floats such as [0.5, 0.999]"}.get(
                    self.element, f"a list of {self.element}s" if self.element != "any" else "a list such as [1, 2]"),
                "any": "a number, true/false, a list such as [1, 2], None or a string",
            }[self.kind]
        return text + (" or None" if self.allows_none and self.kind != "any" else "")

    def parse(self, text: str) -> Any:
        """``text`` as a value of this type; ``ValueError`` when it is not one."""
        raw = text.strip()
        if self.kind == "str":
            if not self.choices or raw in self.choices:
                return raw
        if self.allows_none and raw.lower() in _NONE_WORDS:
            return None
        if self.kind == "bool" and raw.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[raw.lower()]
        if self.kind == "int":
            return int(raw)  # ValueError for 1.5 or abc
        if self.kind == "float":
            return float(raw)
        if self.kind == "list":
            return self._parse_list(raw)
        if self.kind == "any":
            return _literal(raw)
        raise ValueError(text)

    def _parse_list(self, raw: str) -> list:
        body = raw[1:-1] if raw[:1] in "[(" and raw[-1:] in "])" else raw
        if not ("," in body or raw[:1] in "[("):  # a lone scalar is not a list
            raise ValueError(raw)
        parts = [p.strip() for p in body.split(",")]
        if parts and parts[-1] == "":  # "1024," is the one-element list
            parts.pop()
        element = ValueType(self.element) if self.element != "any" else ValueType("any")
        return [element.parse(p) for p in parts]


def _literal(raw: str) -> Any:
    """A JSON-ish literal (number, true/false, null/None, list) or else the string itself."""
    if raw in ("True", "False"):
        return raw == "True"
    if raw == "None":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def split_pairs(pairs: Iterable[str], flag: str) -> list[tuple[str, str]]:
    """``["alpha=0.1"]`` -> ``[("alpha", "0.1")]``; anything without ``=`` is an error naming ``flag``."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {pair}: expected KEY=VALUE, e.g. {flag} alpha=0.1")
        out.append((key.strip(), value))
    return out


def unknown_key(flag: str, key: str, value: str, known: Iterable[str], what: str, hint: str = "") -> ValueError:
    """The error for ``KEY`` not among ``known``: the closest name (difflib), or ``hint``, and every valid one."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = hint or (f"did you mean {close[0]!r}?" if close else "")
    return ValueError(f"{flag} {key}={value}: {what} {key!r}{f' ({hint})' if hint else ''}; "
                      f"valid keys: {', '.join(known)}")


def parse_typed(flag: str, key: str, value: str, vtype: ValueType, default: Any) -> Any:
    """``value`` parsed as ``vtype``, else ``--set alpha=abc: alpha expects a float (default 0.1)``."""
    try:
        return vtype.parse(value)
    except ValueError:
        raise ValueError(f"{flag} {key}={value}: {key} expects {vtype.describe()} (default {fmt_value(default)})") from None


def _loose(value: str) -> Any:
    """An untyped option value: an int, else a float, else true/false, else the string."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(value.lower(), value)


def parse_options(pairs: list[str], flag: str = "--set") -> dict:
    """``["fold=2", "text_features=bow"]`` -> ``{"fold": 2, "text_features": "bow"}`` (untyped: ints, floats
    and true/false parsed, the rest kept as strings); :func:`parse_dataset_options` checks against a loader."""
    return {key: _loose(value) for key, value in split_pairs(pairs, flag)}


def loader_options(dataset: str) -> tuple[dict[str, Any], bool] | None:
    """The keyword options of ``dataset``'s loader with their defaults, and whether it takes more
    (``**settings``); ``None`` for a name that is not a dataset."""
    from .. import data as xdata

    loader = getattr(xdata, "_LOADERS", {}).get(dataset)
    if loader is None:
        return None
    params = inspect.signature(loader).parameters.values()
    options = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    return options, any(p.kind is p.VAR_KEYWORD for p in params)


def parse_dataset_options(dataset: str, pairs: list[str], flag: str = "--data-set") -> dict[str, Any]:
    """``KEY=VALUE`` loader options of ``dataset``, each parsed as its default's type (``fold=2`` an int,
    ``dedupe=true`` a bool); an unknown key is an error listing the loader's options. Options a loader
    takes through ``**settings`` are parsed loosely and checked by the loader itself."""
    declared = loader_options(dataset)
    if declared is None:  # not a dataset: the loader call reports that
        return parse_options(pairs, flag)
    options, open_ended = declared
    out: dict[str, Any] = {}
    for key, value in split_pairs(pairs, flag):
        if key in options:
            out[key] = parse_typed(flag, key, value, ValueType.of([options[key]]), options[key])
        elif open_ended:
            out[key] = _loose(value)
        else:
            hint = "the split protocol is --protocol" if key == "protocol" else ""
            raise unknown_key(flag, key, value, options, f"{dataset} has no loader option", hint)
    return out


def _dataset_module(name: str):
    try:
        return importlib.import_module(f"xmr.data.{name}")
    except ModuleNotFoundError:
        return None


def _info(args) -> int:
    ds = load(args.name, root=args.root, protocol=args.protocol, **parse_dataset_options(args.name, args.set, "--set"))
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
    from ..data import content

    rows = checksums.verify_all(args.root)  # the files the data README lists, one row each
    files = {r[0] for r in rows}
    bad = sum(r[1] != "OK" for r in rows)
    for folder in sorted(set(content.FOLDERS.values())):  # the manifests' files (the news set's images and texts)
        dataset = next(d for d, f in content.FOLDERS.items() if f == folder)
        extra = [rel for rel in content.manifest(dataset) if rel not in files]
        if not extra:
            continue
        wrong = [(rel, p) for rel, p in content.check(dataset, args.root) if rel not in files]
        rows += [(rel, "MISSING" if p == "missing" else "MISMATCH", p) for rel, p in wrong[:MAX_LISTED]]
        rows.append((f"{folder}/: {len(extra)} more files", "OK" if not wrong else f"{len(wrong)} BAD",
                     f"by xmr/data/manifests/{folder}.sha256" + (f" ({len(wrong) - MAX_LISTED} not listed above)"
                                                                  if len(wrong) > MAX_LISTED else "")))
        files |= set(extra)
        bad += len(wrong)
    width = max(len(r[0]) for r in rows)
    for rel, status, detail in rows:
        print(f"{rel:<{width}}  {status:<8}  {detail}")
    print(f"\n{len(files) - bad} of {len(files)} files OK")
    if bad:
        print("A MISSING file: point XMR_DATA_DIR (or --root) at the data directory, or copy the file back. A MISMATCH: "
              "the file is damaged or not the published release; restore it byte for byte from the source the data "
              "README names (its section gives the repository and commit), then run `xmr data verify` again.")
    return 1 if bad else 0


#: At most this many bad files of one manifest are listed one per line.
MAX_LISTED = 20


def _features(args) -> int:
    module = _dataset_module(args.name)
    precompute = getattr(module, "precompute_features", None)
    if precompute is None:
        raise ValueError(f"dataset {args.name!r} ships its features; nothing to extract")
    precompute(root=args.root, device=args.device)
    return 0


def _pack(args) -> int:
    import os
    import sys

    from ..orchestrate.plan import plan
    from ..data import pack

    runs = plan(args.scale, only=args.only, cost=False, campaign=None)  # the campaign's re-drawn splits too
    variants = {pack.variant_key(c["dataset"], c["kwargs"].get("protocol"), c["kwargs"].get("dataset_options")):
                (c["dataset"], c["kwargs"].get("protocol"), c["kwargs"].get("dataset_options")) for c in runs["call"]}
    from .. import data
    from ..paths import data_root

    def load_raw(name: str, **kw):  # the data root given: never from another pack
        return data.load(name, root=data_root(), **kw)

    left_out = pack.write(args.path, variants.values(), load=load_raw)
    size = os.path.getsize(args.path) / 2**20
    print(f"{args.path}: {len(variants) - len(left_out)} dataset variant(s), {size:.1f} MiB; "
          f"use it with XMR_DATA_PACK={args.path}")
    for line in left_out:
        print(f"  left out (not available here): {line}", file=sys.stderr)
    return 0
