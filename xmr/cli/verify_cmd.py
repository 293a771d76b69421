"""``xmr verify``: re-train archived runs drawn at random and compare them with their records.

The draw is seeded and the seed printed, so anyone can repeat it. A record is re-trained
from its identity alone (method, dataset, protocol, options, every hyperparameter, ablated
terms, epochs, seed), with the torch thread count it records, and nothing is stored. The
numbers must be identical when the device type, CPU model, thread count and torch version
equal the record's; otherwise float summation order differs, a long run can select another epoch, and
the test mAPs must agree within :func:`tolerance`: :data:`TOLERANCE`, or one rank's worth of
a query's AP on a small test set (1 / test queries: on a 20-pair Pascal fold a single swapped
rank moves an AP by up to 0.05, which another CPU's float order can cause; seen on an Intel Xeon
re-training an AMD EPYC record). A changed number is caught either way: every record also
carries a digest (:func:`xmr.results.damage`). Exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from typing import Any

from ..records import RunRecord

#: Largest |difference| of i2t / t2i / avg test mAP accepted from another device, thread count or torch.
TOLERANCE = 0.01
_FIELDS = ("i2t", "t2i", "avg")


def tolerance(test_queries: int) -> float:
    """The largest |difference| accepted from another environment for a test set of ``test_queries`` queries:
    :data:`TOLERANCE`, or 1 / test_queries where that is larger (one rank's worth of an AP)."""
    return max(TOLERANCE, 1.0 / test_queries) if test_queries > 0 else TOLERANCE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="re-train archived runs drawn at random and compare them with their records",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", type=int, default=5, help="how many records to draw (default 5)")
    p.add_argument("--seed", type=int, default=None, help="the draw's seed (default: a fresh one, printed)")
    p.add_argument("--method", help="only records of this method")
    p.add_argument("--chapter", help="only records this chapter of the full book uses")
    p.add_argument("--kind", choices=("deep", "closed-form"), help="only deep or only closed-form runs")
    p.add_argument("--max-seconds", dest="max_seconds", type=float, default=None,
                   help="only records whose training took at most this long (as recorded)")
    p.add_argument("--recorded-on", dest="recorded_on", choices=("cpu", "cuda"),
                   help="only records trained on this device type (e.g. cuda: check a GPU's records on this CPU)")
    p.add_argument("--datasets", action="store_true",
                   help="instead: compare the archived dataset summaries (the datasets chapter's) with the data here")
    p.set_defaults(func=_verify)


def _verify_datasets() -> int:
    from ..study.datasets import check

    results = check()
    for d, ok, why in results:
        print(f"{'ok      ' if ok else 'MISMATCH' if ok is False else 'skipped '} {d.title} ({d.dataset}): {why}")
    bad = sum(ok is False for _, ok, _ in results)
    done = sum(ok is not None for _, ok, _ in results)
    print(f"{done - bad} of {done} dataset summaries verified" + (f"; {bad} mismatch(es)" if bad else ""))
    return 1 if bad else 0


def _verify(args) -> int:
    from .. import archive
    from ..methods import get, names
    from ..results import judge

    if args.datasets:
        return _verify_datasets()
    if args.sample < 1:
        raise ValueError(f"--sample must be at least 1, got {args.sample}")
    if args.method and args.method not in names():
        raise ValueError(f"unknown method {args.method!r}; the methods: xmr methods")
    records = [r for r in archive.records(args.method) if judge(r)[0] == "current"]
    if args.kind:
        records = [r for r in records if (get(r["identity"]["method"]).kind == "deep") == (args.kind == "deep")]
    if args.recorded_on:
        from ..results import device_type

        records = [r for r in records if device_type(r.get("provenance", {}).get("device")) == args.recorded_on]
    if args.max_seconds is not None:
        records = [r for r in records if float(r["run"].get("seconds", 0)) <= args.max_seconds]
    if args.chapter:
        from ..orchestrate.plan import plan

        keys = set(plan("full", only=[args.chapter], cost=False)["key"])
        records = [r for r in records if r["key"] in keys]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    drawn = sorted(random.Random(seed).sample(sorted(records, key=lambda r: r["key"]), min(args.sample, len(records))),
                   key=lambda r: r["key"])
    print(f"xmr verify: {len(drawn)} of {len(records)} current archived record(s), draw seed {seed} "
          f"(repeat with --seed {seed})")
    if not drawn:
        print("nothing to verify: the archive holds no current record that matches")
        return 0
    bad = 0
    for rec in drawn:
        ok, line = verify_record(rec)
        bad += not ok
        print(("ok      " if ok else "MISMATCH") + " " + line, flush=True)
    print(f"{len(drawn) - bad} of {len(drawn)} verified" + ("" if not bad else f"; {bad} mismatch(es)"))
    return 1 if bad else 0


def verify_record(rec: dict[str, Any]) -> tuple[bool, str]:
    """Re-train one archived record; ``(matches, a one-line report)``."""
    import torch

    from .. import experiments
    from ..results import cpu_model, device_type, run_key

    record = RunRecord.from_json(rec)
    ident, prov, label = record.identity, record.provenance, record.label()
    threads = int(prov.get("threads") or torch.get_num_threads())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    entries: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        experiments.replay(ident, replace(experiments.REPLAY, sink=entries.append))
    except Exception as exc:  # noqa: BLE001 - reported as this record's failure
        return False, f"{label}: re-training failed: {type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(before)
    seconds = time.perf_counter() - started
    if len(entries) != 1 or entries[0]["key"] != record.key or run_key(entries[0]["identity"]) != record.key:
        return False, f"{label}: the identity re-trained is not the record's (key {entries[0]['key'] if entries else None})"
    new = entries[0]["run"]
    same_env = (device_type(prov.get("device")) == "cpu" and threads == int(prov.get("threads", -1))
                and prov.get("torch") in (None, torch.__version__) and prov.get("cpu") == cpu_model())
    diffs = {f: abs(float(new[f]) - record.score(f)) for f in _FIELDS}
    if same_env:
        exact = all(new[f] == record.run[f] for f in (*_FIELDS, "best_epoch", "epochs"))
        return exact, (f"{label}: {'identical' if exact else 'differs'} (same device and CPU, {threads} thread(s), torch "
                       f"{torch.__version__}; max |diff| {max(diffs.values()):.2e}; {seconds:.0f} s)")
    from .. import data

    ds = data.load(ident["dataset"], protocol=ident["protocol"], **(ident["dataset_options"] or {}))
    tol = tolerance(len(ds.test.labels))
    within = max(diffs.values()) <= tol
    return within, (f"{label}: max |diff| {max(diffs.values()):.2e} {'<=' if within else '>'} {tol:g} "
                    f"(recorded on {prov.get('device', 'cpu')} {prov.get('cpu', '(CPU not recorded)')}, {prov.get('threads')} "
                    f"thread(s), torch {prov.get('torch')}; here {cpu_model()}, {threads}, {torch.__version__}; {seconds:.0f} s)")
