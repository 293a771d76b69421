"""``xmr archive`` / ``xmr archive add`` / ``xmr archive prune``: the committed results archive (:mod:`xmr.archive`).

A record is current when a request made with this code would be served it (the same checks as
the results cache: :func:`xmr.results.judge`); a stale one is never served, only takes space.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


def register(sub: argparse._SubParsersAction) -> None:
    arch = sub.add_parser("archive", help="the results archive committed with the code: status, add from the cache, prune",
                          description="Without ACTION: the status per method.")
    asub = arch.add_subparsers(dest="archive_command", metavar="ACTION")
    arch.set_defaults(func=_status, book=True)
    st = asub.add_parser("status", help="records per method: current, stale, size (the default)")
    st.add_argument("--no-book", dest="book", action="store_false",
                    help="skip the count of the full book's runs the archive holds (plans the book: ~10 s)")
    st.set_defaults(func=_status)
    add = asub.add_parser("add", help="copy the cache's current entries the book needs into the archive (same key: replaced)")
    add.add_argument("--method", help="only this method")
    add.add_argument("--scale", default="full", help="only the runs this scale's book needs (default: full)")
    add.set_defaults(func=_add)
    grow = asub.add_parser("grow", help="train the book's missing runs cheapest first, archiving after every few, "
                                        "until done or out of time (one sitting of many)")
    grow.add_argument("--scale", default="full")
    grow.add_argument("--only", nargs="+", metavar="CHAPTER", help="only these chapters' runs")
    grow.add_argument("--jobs", "-j", type=int, default=1, help="runs side by side (default 1)")
    grow.add_argument("--minutes", type=float, default=None, help="start no new batch after this many minutes")
    grow.add_argument("--every", type=int, default=10, help="archive after this many runs (default 10)")
    grow.add_argument("--device", default=None)
    grow.add_argument("--deep-only", dest="deep_only", action="store_true", help="skip the closed-form fits")
    grow.add_argument("--campaign", action="store_true",
                      help="train the power plan's campaign (more seeds, re-drawn splits) instead of the book's runs, "
                           "claim by claim: the claim whose missing runs cost least first")
    grow.add_argument("--claims", nargs="+", metavar="ID", help="with --campaign: only these claims' runs (e.g. S8-wikipedia)")
    grow.set_defaults(func=_grow)
    head = asub.add_parser("headline", help="the findings' headline from the archived runs, as the README quotes it")
    head.add_argument("--write", action="store_true", help="replace the headline block of README.md with it")
    head.add_argument("--check", action="store_true", help="exit 1 when README.md quotes another headline")
    head.set_defaults(func=_headline)
    sealp = asub.add_parser("seal", help="give records written before digests existed their digest (checked first)")
    sealp.set_defaults(func=_seal)
    carry = asub.add_parser("carry", help="re-key the records an older commit made when this code cannot change "
                                          "their numbers (checked record by record: xmr.orchestrate.carry)")
    carry.add_argument("--from", dest="rev", required=True, metavar="COMMIT",
                       help="the commit whose code made the records (e.g. the last one that touched archive/)")
    carry.add_argument("--dry-run", dest="dry_run", action="store_true", help="only say what would be carried")
    carry.set_defaults(func=_carry)
    prune = asub.add_parser("prune", help="drop the records this code would never serve (stale)")
    prune.add_argument("--dry-run", dest="dry_run", action="store_true", help="only count them")
    prune.set_defaults(func=_prune)


def _status(args) -> int:
    from .. import archive
    from ..paths import archive_dir
    from ..results import judge

    rows: dict[str, Counter] = {}
    current: set[str] = set()
    damaged: list[str] = []
    broken_files: list[str] = []
    for path in archive.files():
        method = path.name.removesuffix(archive.SUFFIX)
        try:
            recs = list(archive.records(method))
        except archive.ArchiveDamagedError as exc:
            broken_files.append(str(exc))
            continue
        for rec in recs:
            state, why = judge(rec)
            rows.setdefault(str(rec.get("identity", {}).get("method", "?")), Counter())[state] += 1
            if state == "current":
                current.add(str(rec.get("key")))
            elif state == "damaged":
                damaged.append(f"{method} {rec.get('key')}: {why}")
    sizes = {p.name.removesuffix(archive.SUFFIX): p.stat().st_size for p in archive.files()}
    print(f"archive {archive_dir()}{'' if archive.enabled() else ' (ignored: XMR_ARCHIVE=off)'}")
    print(f"{'method':<8} {'current':>8} {'stale':>6} {'damaged':>8} {'unknown':>8} {'MiB':>6}")
    for method in sorted(set(rows) | set(sizes)):
        c = rows.get(method, Counter())
        print(f"{method:<8} {c['current']:>8} {c['stale']:>6} {c['damaged']:>8} {c['unknown']:>8} "
              f"{sizes.get(method, 0) / 2**20:>6.2f}")
    total = sum(rows.values(), Counter())
    print(f"{'total':<8} {total['current']:>8} {total['stale']:>6} {total['damaged']:>8} {total['unknown']:>8} "
          f"{sum(sizes.values()) / 2**20:>6.2f}")
    for line in broken_files:
        print(f"DAMAGED FILE: {line}")
    for line in damaged[:20]:
        print(f"damaged record (never served; its run trains again): {line}")
    if len(damaged) > 20:
        print(f"... and {len(damaged) - 20} more damaged records")
    from ..study.datasets import BOOK_DATASETS, archived

    print(f"dataset summaries: {archived()} of {len(BOOK_DATASETS)} current")
    if args.book:
        from ..orchestrate.plan import plan

        keys = set(plan("full", cost=False)["key"])
        have = len(keys & current)
        print(f"the full book needs {len(keys)} runs: {have} archived and current, {len(keys) - have} missing"
              + (" (the archive is complete)" if have == len(keys) else ""))
        extra = set(plan("full", cost=False, campaign=True)["key"]) - keys
        done = len(extra & current)
        print(f"the power plan's campaign (more seeds, re-drawn splits) adds {len(extra)} runs: {done} archived, "
              f"{len(extra) - done} to train (xmr archive grow --campaign)")
    return 0


def _add(args, keys: set[str] | None = None) -> int:
    """The cache's current entries of the book's runs (``keys``, else the plan of ``--scale``) into the archive:
    runs trained for anything else (a test, an experiment of your own) stay out of it."""
    from .. import archive
    from ..orchestrate.plan import plan
    from ..results import entries
    from ..study.datasets import archive_summaries

    if keys is None:  # the book's runs and the campaign's
        keys = set(plan(args.scale, cost=False, campaign=None)["key"])
    current = []
    for e in entries():
        if e.state == "current" and (not args.method or e.method == args.method) and e.path.stem in keys:
            current.append(json.loads(e.path.read_text()))
    counts = archive.add(current)
    print(f"archived {sum(counts.values())} run(s): " + (", ".join(f"{m} {n}" for m, n in sorted(counts.items())) or "none"))
    if n := archive_summaries():  # what the datasets chapter shows, so a fresh clone need not extract features
        print(f"archived the summaries of {n} dataset(s)")
    return 0


def _seal(args) -> int:
    """Records without a digest get theirs (:func:`xmr.results.seal`, which refuses inconsistent numbers); a record
    whose digest does not match is left as it is: restore it from git."""
    from .. import archive
    from ..results import seal

    counts: dict[str, int] = {}
    for path in archive.files():
        method = path.name.removesuffix(archive.SUFFIX)
        unsealed = [rec for rec in archive.records(method) if "digest" not in rec]
        if unsealed:
            archive.add([seal(rec) for rec in unsealed])
        counts[method] = len(unsealed)
    print(f"sealed {sum(counts.values())} record(s): " + (", ".join(f"{m} {n}" for m, n in sorted(counts.items()) if n)
                                                           or "none needed"))
    return 0


def _carry(args) -> int:
    """Records of ``--from``'s code whose numbers this code would reproduce get their new identity and key."""
    from ..orchestrate.carry import carry

    report = carry(args.rev, write=not args.dry_run)
    verb = "would carry" if args.dry_run else "carried"
    print(f"{verb} {sum(report.carried.values())} record(s) from {report.rev[:12]}: "
          + (", ".join(f"{m} {n}" for m, n in sorted(report.carried.items())) or "none"))
    for key, same in sorted(report.loads.items()):
        print(f"  loaded {key}: {'the same bytes' if same else 'OTHER BYTES (its records stay stale)'} at both commits")
    for (method, why), n in sorted(report.left.items()):
        print(f"  left stale: {method} {n} ({why})")
    return 0


def _headline(args) -> int:
    from ..publish import edition
    from ..paths import repo_root

    text = edition.headline("full")
    if text is None:
        print("the archive and cache lack some of the full book's runs (xmr archive status): no headline to quote yet")
        return 1 if (args.write or args.check) else 0
    print(text)
    readme = repo_root() / "README.md"
    current = readme.read_text()
    quoted = edition.readme_headline(current)
    if args.write and quoted != text.strip():
        readme.write_text(edition.readme_with_headline(current, text))
        print(f"wrote the headline into {readme}")
    elif args.check and quoted != text.strip():
        print(f"{readme} quotes another headline: run `xmr archive headline --write`")
        return 1
    return 0


def _prune(args) -> int:
    from .. import archive
    from ..results import judge

    stale: dict[str, list[str]] = {}
    for rec in archive.records():
        if judge(rec)[0] == "stale":
            stale.setdefault(str(rec.get("identity", {}).get("method", "?")), []).append(str(rec.get("key")))
    n = sum(len(v) for v in stale.values())
    if not args.dry_run:
        for method, keys in stale.items():
            archive.remove(method, keys)
    print(f"{'would drop' if args.dry_run else 'dropped'} {n} stale record(s)")
    return 0


def _grow(args) -> int:
    """Cheapest first, so an interrupted sitting has finished as many runs as it could; each finished
    batch goes into the archive at once (the caller commits archive/ as it grows)."""
    import sys
    import time

    from ..orchestrate.plan import campaign_keys, claim_order, plan
    from ..orchestrate.prefill import SOURCES_CHANGED, train_missing
    from ..methods import get

    started = time.perf_counter()
    if args.claims and not args.campaign:
        raise ValueError("--claims picks runs of the power plan's campaign: add --campaign")
    runs = plan(args.scale, only=args.only, device=args.device, campaign=True if args.campaign else False)
    if args.campaign:
        todo = claim_order(runs, campaign_keys(args.scale), args.claims)
    else:
        todo = runs[~runs["cached"].astype(bool)]
        todo = todo.sort_values("est_seconds", kind="stable") if "est_seconds" in todo else todo
    if args.deep_only:
        todo = todo[[get(m).kind == "deep" for m in todo["method"]]]
    print(f"{len(todo)} run(s) to train of {len(runs)}", file=sys.stderr)
    failed = 0
    for lo in range(0, len(todo), max(1, args.every)):
        if args.minutes is not None and time.perf_counter() - started > 60 * args.minutes:
            print("out of time: the rest waits for the next sitting", file=sys.stderr)
            break
        out = train_missing(todo.iloc[lo:lo + args.every], jobs=args.jobs, device=args.device)
        failed += int(out["status"].astype(str).str.startswith("FAILED").sum())
        _add(argparse.Namespace(method=None), keys=set(runs["key"]))
        if out["status"].astype(str).str.contains(SOURCES_CHANGED, regex=False).any():
            # every later batch would be stored under keys this plan does not know, then trained again
            raise ValueError(f"{SOURCES_CHANGED} (`xmr archive grow` with the same arguments goes on where this "
                             "one stopped; what trained is in the results cache)")
    return 1 if failed else 0
