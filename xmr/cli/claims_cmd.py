"""``xmr claims``: every claim of both papers judged from the cached or archived runs, without training.

The pre-registered thresholds (:data:`xmr.study.verdicts.PREREGISTERED`) are the default; ``--alpha`` and
``--min-effect`` re-judge with others. ``--json`` prints one object per claim with its parts.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="the claims ledger from the archived runs (trains nothing); --json for every part",
                       description="Judge every claim of both papers from the runs in the cache or the committed "
                                   "archive, with the pre-registered verdict scheme (book page 'How a verdict is "
                                   "reached'). Nothing is trained: a missing run is an error that says what to run.")
    p.add_argument("--json", action="store_true", help="one JSON object per claim (id, status, reason, parts, ...)")
    p.add_argument("--alpha", type=float, default=None, help="two-sided level of every interval and test (default 0.05)")
    p.add_argument("--min-effect", dest="min_effect", type=float, default=None,
                   help="smallest effect of interest in mAP; a claimed gain below it is raised to it (default 0.01)")
    p.add_argument("--scale", default="full", help="the book scale whose runs are judged (default: full)")
    p.add_argument("--no-robustness", dest="robustness", action="store_false",
                   help="skip the multiverse's robustness column (judges the ledger's sources only)")
    p.set_defaults(func=_claims)


def _thresholds(args):
    from ..study.verdicts import PREREGISTERED, Thresholds

    return Thresholds(alpha=PREREGISTERED.alpha if args.alpha is None else args.alpha,
                      min_effect=PREREGISTERED.min_effect if args.min_effect is None else args.min_effect,
                      power=PREREGISTERED.power, max_units=PREREGISTERED.max_units)


def _claims(args) -> int:
    from ..orchestrate.plan import plan
    from ..study import chapters, claims, multiverse

    th = _thresholds(args)  # bad thresholds fail before anything is read
    runs = plan(args.scale, cost=False, only=["claims_ledger"])
    missing = int((~runs["cached"]).sum()) if len(runs) else 0
    if missing:
        raise ValueError(f"{missing} of the {len(runs)} runs the ledger reads at scale {args.scale!r} are in neither the "
                         f"cache nor the archive; train them first (`xmr book --scale {args.scale} --train-only` or "
                         f"`xmr archive grow --scale {args.scale}`), then run `xmr claims` again")
    ch = chapters.open_chapter("claims_ledger", args.scale)
    judged = claims.judgements(ch, th)  # judged once: the frame and the JSON are the same verdicts
    frame = claims.ledger_frame(judged)
    if args.robustness:
        frame = multiverse.with_robustness(frame, ch, th)
    extra = frame.set_index("id")
    if args.json:
        out = []
        for j in judged:
            obj = j.to_dict()
            if args.robustness:
                obj |= {"robustness": str(extra.loc[j.claim.id, "robustness"]), "flips": extra.loc[j.claim.id, "flips"]}
            out.append(obj)
        print(json.dumps(out, ensure_ascii=False, indent=1, allow_nan=False))  # parts carry null, never NaN
        return 0
    print(f"Thresholds: alpha {th.alpha:g}, smallest effect of interest {th.min_effect:g} mAP "
          f"(pre-registered: the book's page 'How a verdict is reached').\n")
    for j in judged:
        line = f"{j.claim.id:<13} {str(j.status):<33} {j.verdict.reason}"
        if args.robustness:
            line += f"  [{extra.loc[j.claim.id, 'robustness']}]"
        print(line)
    print()
    print(claims.summary(frame).to_string())
    print()
    print(claims.headline(frame))
    return 0
