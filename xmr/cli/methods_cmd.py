"""``xmr methods`` / ``xmr methods NAME``: what exists, from the registry and the readings declarations.

The listing has every registered method: kind, the papers' tables it appears in
(:mod:`xmr.study.published`) and the first line of its docstring. ``xmr methods NAME``
shows the method's hyperparameters with their defaults and the type ``xmr run --set``
accepts for each (:func:`hparam_type`), the engine's training defaults for a deep
method, its loss terms, and its declared readings (:mod:`xmr.methods.readings`).
``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any

from .data_cmd import ValueType, fmt_value

#: The engine's options that only an alternating discriminator uses.
_DISCRIMINATOR_KEYS = ("d_lr", "d_betas", "d_steps", "g_steps", "d_order", "d_lr_scale")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the methods; with NAME, its hyperparameters, loss terms and readings",
                       description="Without NAME: every registered method. With NAME: its hyperparameters (defaults, "
                                   "the type xmr run --set accepts), loss terms and declared readings.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a method, e.g. dacsl")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_methods)


# ---------------------------------------------------------------- what a method accepts
def spec_of(name: str):
    """The registered method ``name``; an unknown name is an error listing the valid ones (closest first)."""
    from ..methods import registry

    known = registry.names()
    if name.lower() not in known:
        close = difflib.get_close_matches(name.lower(), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown method {name!r}{hint}; valid methods: {', '.join(known)}")
    return registry.get(name)


def _readings(spec) -> dict[str, Any]:
    return {r.option: r for r in getattr(spec.cls, "readings", ())}


def engine_defaults(spec) -> dict[str, Any]:
    """The engine's own defaults (:data:`xmr.methods.base.TRAIN_DEFAULTS`) for a deep method, else ``{}``."""
    if spec.kind != "deep":
        return {}
    from ..methods.base import TRAIN_DEFAULTS

    return dict(TRAIN_DEFAULTS)


def _engine_choices(key: str) -> tuple[str, ...]:
    from ..engine import D_ORDERS, OPTIMIZERS

    return {"optimizer": OPTIMIZERS, "d_order": D_ORDERS}.get(key, ())


def hparam_type(spec, key: str) -> ValueType:
    """What ``--set KEY=VALUE`` accepts for ``spec``: the type of every value declared for ``KEY`` (the
    default, the engine's default, the reading's default, alternatives, most literal value and per-feature
    defaults); a string-valued reading (or the engine's optimizer / d_order) restricts it to those values."""
    reading = _readings(spec).get(key)
    values = [spec.defaults[key], *_declared(reading)]
    engine = engine_defaults(spec)
    if key in engine:  # an engine option: what every deep method declares for it (e.g. patience: 50 or None)
        from ..methods import registry

        values.append(engine[key])
        for other in map(registry.get, registry.names()):
            if other.kind == "deep" and key in other.defaults:
                values += [other.defaults[key], *_declared(_readings(other).get(key))]
    choices: list[str] = []
    if isinstance(spec.defaults[key], str):
        choices += _engine_choices(key) if spec.kind == "deep" else ()
        if reading is not None:
            choices += [v for v in values if isinstance(v, str)]
    return ValueType.of(values, choices)


def _declared(reading) -> list[Any]:
    """Every value a reading declares: default, alternatives, per-feature defaults, the most literal one."""
    if reading is None:
        return []
    values = [*reading.values, *reading.per_features.values()]
    if reading.literal is not None:  # literal=None means "not declared", not "None is a value"
        values.append(reading.literal)
    return values


def _papers() -> dict[str, dict[str, list[int]]]:
    """method -> paper -> the numbers of the tables that report it."""
    try:
        from ..study import published

        df = published.load()
    except Exception:  # noqa: BLE001 - the listing works without the published numbers
        return {}
    out: dict[str, dict[str, set[int]]] = {}
    for method, paper, table in zip(df["method"], df["paper"], df["table"]):
        number = table.removeprefix("Table ").strip()
        if method and number.isdigit():
            out.setdefault(method, {}).setdefault(paper, set()).add(int(number))
    return {m: {p: sorted(t) for p, t in sorted(ps.items())} for m, ps in out.items()}


def _ranges(numbers: list[int]) -> str:
    parts, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def source(name: str, papers: dict[str, dict[str, list[int]]]) -> str:
    """``proposed: dacsl Tables 1-4`` or ``baseline: dacsl Tables 1-2; smcr Table 2`` (or empty)."""
    tables = papers.get(name, {})
    if not tables:
        return ""
    where = "; ".join(f"{p} Table{'s' if len(t) > 1 else ''} {_ranges(t)}" for p, t in tables.items())
    return f"{'proposed' if name in tables else 'baseline'}: {where}"


# ---------------------------------------------------------------- as data
def describe(name: str) -> dict[str, Any]:
    """Everything ``xmr methods NAME`` shows, as plain data."""
    from ..engine import resolve_hparams

    spec = spec_of(name)
    engine = engine_defaults(spec)
    resolved = resolve_hparams(spec, {}) if spec.kind == "deep" else dict(spec.defaults)
    readings = _readings(spec)
    alternating = getattr(spec.cls, "adversarial", None) == "alternating"
    hparams = []
    for key, value in spec.defaults.items():
        row: dict[str, Any] = {"name": key, "default": _plain(resolved.get(key, value)),
                               "accepts": hparam_type(spec, key).describe(),
                               "group": "engine" if key in engine else "method"}
        if key in engine:
            row["engine_default"] = _plain(engine[key])
            row["used"] = alternating or key not in _DISCRIMINATOR_KEYS
        if key in readings and readings[key].per_features:
            row["per_features"] = _plain(dict(readings[key].per_features))
        row["reading"] = key in readings
        hparams.append(row)
    out: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "summary": spec.summary,
                           "module": spec.cls.__module__, "source": source(spec.name, _papers()),
                           "defaults": {h["name"]: h["default"] for h in hparams}, "hyperparameters": hparams}
    if spec.kind == "deep":
        out["terms"] = list(spec.cls.terms)
        out["ablatable"] = list(spec.cls.ablatable_terms())
        out["adversarial"] = getattr(spec.cls, "adversarial", None)
        out["adversarial_term"] = getattr(spec.cls, "adversarial_term", None)
    out["readings"] = [
        {"option": r.option, "interprets": r.interprets, "default": _plain(r.default),
         "alternatives": _plain(list(r.alternatives)), "basis": r.basis, "evidence": r.evidence,
         "most_literal": _plain(r.literal), "per_features": _plain(dict(r.per_features))}
        for r in readings.values()
    ]
    return out


def listing() -> list[dict[str, Any]]:
    """One row per registered method: name, kind, source (the papers' tables), summary."""
    from ..methods import registry

    papers = _papers()
    return [{"name": n, "kind": registry.get(n).kind, "source": source(n, papers), "summary": registry.get(n).summary}
            for n in registry.names()]


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- as text
def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


def _print_listing(rows: list[dict[str, Any]]) -> None:
    kinds = {"deep": "deep", "closed_form": "closed-form"}
    print(f"{len(rows)} methods (xmr methods NAME: hyperparameters, loss terms, readings)\n")
    lines = [["name", "kind", "in the papers", "description"]]
    lines += [[r["name"], kinds.get(r["kind"], r["kind"]), r["source"] or "-", r["summary"]] for r in rows]
    print("\n".join(_table(lines)))


def _print_method(d: dict[str, Any]) -> None:
    kind = {"deep": "deep, trained by the engine", "closed_form": "closed-form, fitted on train + val"}[d["kind"]]
    print(f"{d['name']} ({kind}): {d['summary']}")
    if d["source"]:
        print(f"in the papers: {d['source']}")
    print(f"code: {d['module']}")
    print(f"\nhyperparameters (xmr run {d['name']} DATASET --set KEY=VALUE)")
    groups = [("method", "method"), ("engine", "training (the engine's options)")]
    for group, title in groups:
        rows = [h for h in d["hyperparameters"] if h["group"] == group]
        if not rows:
            continue
        if d["kind"] == "deep":
            print(f"  {title}:")
        lines = [["key", "default", "accepts", "notes"]]
        for h in rows:
            notes = []
            if group == "engine" and h["engine_default"] != h["default"]:
                notes.append(f"engine default {fmt_value(h['engine_default'])}")
            if group == "engine" and not h["used"]:
                notes.append("unused: no alternating discriminator")
            if "per_features" in h:
                notes.append("per feature set: " + ", ".join(f"{k} {fmt_value(v)}" for k, v in sorted(h["per_features"].items())))
            if h["reading"]:
                notes.append("a reading (below)")
            lines.append([h["name"], fmt_value(h["default"]), h["accepts"], "; ".join(notes)])
        print("\n".join(_table(lines, "    " if d["kind"] == "deep" else "  ")))
    if d["kind"] == "deep":
        print(f"\nloss terms: {', '.join(d['terms']) or '-'}")
        print(f"ablatable (xmr run ... --without TERM): {', '.join(d['ablatable']) or 'none'}")
        if d["adversarial"]:
            term = f", mapper term {d['adversarial_term']}" if d["adversarial_term"] else ""
            print(f"adversarial: {d['adversarial']}{term}")
    print(f"\nreadings ({len(d['readings'])}; each option's interpretation of the paper, xmr.methods.readings)")
    for r in d["readings"]:
        default = fmt_value(r["default"])
        if r["per_features"]:
            default += " (" + ", ".join(f"{k}: {fmt_value(v)}" for k, v in sorted(r["per_features"].items())) + ")"
        print(f"  {r['option']}")
        print(f"    interprets:   {r['interprets']}")
        print(f"    default:      {default}")
        print(f"    alternatives: {', '.join(fmt_value(a) for a in r['alternatives']) or '-'}")
        if r["most_literal"] is not None:
            print(f"    most literal: {fmt_value(r['most_literal'])}")
        print(f"    basis:        {r['basis']}: {r['evidence']}")


def _methods(args: argparse.Namespace) -> int:
    if args.name is None:
        rows = listing()
        if args.json:
            sys.stdout.write(json.dumps({"methods": rows}) + "\n")
        else:
            _print_listing(rows)
        return 0
    d = describe(args.name)  # ValueError (unknown name) -> exit status 2
    if args.json:
        sys.stdout.write(json.dumps(d) + "\n")
    else:
        _print_method(d)
    return 0
