"""``xmr cache`` / ``xmr cache prune`` / ``xmr cache code``: the stored runs (:mod:`xmr.results`).

An entry is stale when no request made with the current code can be served by it:
its code fingerprint (:mod:`xmr.fingerprint`) is not the current one for its method
and dataset, or missing, or its xmr version or identity layout is older, or it is
unreadable. Stale entries only take space; ``prune`` deletes them. An entry is damaged
when its digest is missing or does not match, or its numbers contradict each other
(:func:`xmr.results.damage`): it is never served and its run trains again.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser("cache", help="list the cached runs per method (stale ones too) and prune them",
                           description="Without ACTION: list.")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    cache.set_defaults(func=_list)

    for name, help_ in (("list", "entries, stale entries and size per method (the default)"), ("info", "same as list")):
        p = csub.add_parser(name, help=help_)
        p.add_argument("--method", help="only this method")
        p.set_defaults(func=_list)

    prune = csub.add_parser("prune", help="delete stale entries (--damaged: damaged ones too; --all: every entry)")
    prune.add_argument("--method", help="only this method")
    prune.add_argument("--damaged", action="store_true", help="also delete damaged entries (their runs train again)")
    prune.add_argument("--all", action="store_true", help="delete every entry, current ones too")
    prune.add_argument("--dry-run", dest="dry_run", action="store_true", help="only list what would be deleted")
    prune.set_defaults(func=_prune)

    sealp = csub.add_parser("seal", help="give entries written before digests existed their digest (checked first)")
    sealp.add_argument("--method", help="only this method")
    sealp.set_defaults(func=_seal)

    code = csub.add_parser("code", help="the code fingerprint of METHOD on DATASET and the files it hashes")
    code.add_argument("method")
    code.add_argument("dataset", nargs="?", default="wikipedia", help="default: wikipedia")
    code.set_defaults(func=_code)


def _root() -> Path:
    from ..paths import results_dir

    root = results_dir()
    if root.exists() and not root.is_dir():
        raise ValueError(f"results directory {root} is not a directory: set XMR_CACHE_DIR (the cache, holding "
                         f"results/) or XMR_RESULTS_DIR to a directory")
    return root


def _selected(root: Path, method: str | None) -> list:
    from ..methods import registry
    from ..results import entries

    found = entries(root)
    if method is None:
        return found
    if method not in registry.names() and not (root / method).is_dir():
        raise ValueError(f"unknown method {method!r} and nothing cached for it; known: {', '.join(registry.names())}")
    return [e for e in found if e.method == method]


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _list(args: argparse.Namespace) -> int:
    root = _root()
    found = _selected(root, getattr(args, "method", None))
    if not found:
        print(f"no cached runs in {root}")
        return 0
    rows = []
    for method in sorted({e.method for e in found}):
        mine = [e for e in found if e.method == method]
        unknown = any(e.state == "unknown" for e in mine)
        stale = "?" if unknown else str(sum(e.state == "stale" for e in mine))
        rows.append((method + (" *" if unknown else ""), str(len(mine)), stale, _size(sum(e.size for e in mine))))
    n_stale = sum(e.state == "stale" for e in found)
    rows.append(("total", str(len(found)), str(n_stale), _size(sum(e.size for e in found))))
    header = ("method", "entries", "stale", "size")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"cached runs in {root}")
    for r in [header, *rows]:
        print(f"{r[0]:<{widths[0]}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:])))
    if any(e.state == "unknown" for e in found):
        print("* method not registered in this process: its entries cannot be judged and are kept by prune")
    if n_stale:
        print(f"{n_stale} stale entries (code, version or layout changed, or unreadable) are never served again; "
              "`xmr cache prune` deletes them")
    damaged = [e for e in found if e.state == "damaged"]
    for e in damaged[:20]:
        print(f"damaged entry (never served; its run trains again): {e.path.relative_to(root)}: {e.reason}")
    if damaged:
        print(f"{len(damaged)} damaged entries: `xmr cache seal` gives entries written before digests existed theirs; "
              "one whose digest does not match was changed after it was written: `xmr cache prune --damaged`")
    return 0


def _seal(args: argparse.Namespace) -> int:
    import json

    from ..io import write_json_atomic
    from ..results import seal

    root = _root()
    n = 0
    for e in _selected(root, args.method):
        if e.state != "damaged" or not e.reason.startswith("no digest"):
            continue
        write_json_atomic(e.path, seal(json.loads(e.path.read_text())))
        n += 1
    print(f"sealed {n} entries in {root}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    root = _root()
    found = _selected(root, args.method)
    doomed = [e for e in found if args.all or e.state == "stale" or (args.damaged and e.state == "damaged")]
    verb = "would remove" if args.dry_run else "removed"
    for e in doomed:
        if not args.dry_run:
            e.path.unlink(missing_ok=True)
        why = e.reason or e.state
        print(f"{verb} {e.path.relative_to(root)}  ({why}, {_size(e.size)})")
    if not args.dry_run:
        for method_dir in {e.path.parent for e in doomed}:
            try:
                method_dir.rmdir()  # only when now empty
            except OSError:
                pass
    kept = len(found) - len(doomed)
    print(f"{verb} {len(doomed)} entries ({_size(sum(e.size for e in doomed))}) from {root}; {kept} kept")
    return 0


def _code(args: argparse.Namespace) -> int:
    from ..fingerprint import closure, fingerprint
    from ..methods import registry

    name = registry.get(args.method).name  # unknown method: a clear error
    print(f"code fingerprint of {name} on {args.dataset}: {fingerprint(name, args.dataset)}")
    for path in closure(name, args.dataset):
        print(f"  {path}")
    return 0
