"""The plan: every training run a build needs, read from the chapters' declarations; nothing is executed.

:func:`plan` asks each chapter for its declared requests at the scale
(:func:`xmr.study.chapters.declared`), turns each into the runs it needs through the same
:func:`xmr.study.runner.calls` the runner uses, and reduces them to distinct cache entries
(:func:`xmr.experiments.planned_runs`): whether each is cached, the first chapter asking
for it, and what it costs (:mod:`xmr.orchestrate.cost`, from counted FLOPs). A run several
chapters ask for is one row; a run any chapter wants with the per-epoch test record
(``track_test``) is planned with it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..study import chapters
from ..study.runner import Request, calls
from ..study.scale import Scale

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXECUTED_FIRST", "REREADERS", "execution_order", "declared_requests", "distinct_runs", "plan", "plan_summary",
           "campaign_keys", "claim_order"]

# The model-selection chapter trains the deep methods of the comparison tables with the
# per-epoch test record (``track_test``; same cache keys, same reported numbers). Run
# first, its runs are then served from the cache to the comparison chapters; run last,
# it would train them all a second time. The claims ledger, last, reuses everyone's runs.
EXECUTED_FIRST: tuple[str, ...] = ("model_selection",)

#: Pages that re-read the other chapters' runs. In what each chapter *adds* (``adds``, the plan's by-chapter
#: table) they count after every other chapter, in this order: the multiverse's own readings then show as its
#: own, and the findings page and the ledger add nothing. (In execution order the findings page comes first and
#: would claim nearly every run.)
REREADERS: tuple[str, ...] = ("multiverse", *chapters.LEDGER_PAGES)

COLUMNS = ["chapter", "adds", "group", "label", "method", "kind", "dataset", "protocol", "options", "without", "epochs",
           "hparams", "seed", "track_test", "key", "cached", "call"]


def execution_order(names: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda n: n not in EXECUTED_FIRST)  # stable: otherwise toc order


def declared_requests(scale: Scale, names: Iterable[str] | None = None, *,
                      campaign: bool | None = False) -> list[tuple[str, str, Request]]:
    """``(chapter, group, request)`` for every request the chapters ``names`` (default: all) declare, in execution order.

    ``campaign``: ``False`` (default) the book's own runs, what a build trains and what "complete" means;
    ``True`` only the campaign's (:attr:`xmr.study.runner.Request.campaign`: the power plan's extra seeds and
    re-drawn splits, trained on request over sessions); ``None`` both.
    """
    names = execution_order(list(names) if names is not None else chapters.names())
    return [(name, group, req) for name in names for group, reqs in chapters.declared(name, scale).items() for req in reqs
            if campaign is None or req.campaign == campaign]


def distinct_runs(requests: Iterable[tuple[str, str, Request]], scale: Scale) -> pd.DataFrame:
    """One row per cache entry the ``requests`` need at ``scale``, with the first chapter asking, ``cached``, and
    ``call``: the single-seed :func:`xmr.experiments.run` arguments that produce the entry."""
    import pandas as pd

    from .. import data, experiments

    frames = []
    for chapter, group, req in requests:
        for call in calls(req, scale):
            kwargs = {k: v for k, v in call.items() if k not in ("method", "dataset", "fold")}
            try:
                frame = experiments.planned_runs(call["method"], call["dataset"], **kwargs)
            except data.DataUnavailableError as exc:  # a dataset whose protocol is only known once loaded
                print(f"not planned: {call['method']} on {call['dataset']}: {str(exc).splitlines()[0]}", file=sys.stderr)
                continue
            one_seed = [{"method": call["method"], "dataset": call["dataset"], "kwargs": {**kwargs, "seeds": [int(seed)]}}
                        for seed in frame["seed"]]
            frames.append(frame.assign(chapter=chapter, group=group, label=req.label, call=one_seed))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    runs = pd.concat(frames, ignore_index=True)
    position = {name: i for i, name in enumerate(dict.fromkeys(runs["chapter"]))}
    rank = runs["chapter"].map(lambda c: (REREADERS.index(c) + 1 if c in REREADERS else 0) * len(position) + position[c])
    first = rank.groupby(runs["key"]).idxmin()
    runs["adds"] = runs["key"].map(runs.loc[first.values, "chapter"].set_axis(first.index))
    by_key = runs.groupby("key")
    runs = runs.assign(track_test=by_key["track_test"].transform("any"), cached=by_key["cached"].transform("all"))
    runs = runs.drop_duplicates("key").reset_index(drop=True)
    runs["call"] = [{**c, "kwargs": {**c["kwargs"], "track_test": bool(t)}} for c, t in zip(runs["call"], runs["track_test"])]
    return runs[COLUMNS]


def plan(scale: Scale | str = "full", *, seeds: Sequence[int] | None = None, epochs: int | None = None,
         device: str | None = None, only: Sequence[str] | None = None, cost: bool = True,
         campaign: bool | None = False) -> pd.DataFrame:
    """Every training run a build at ``scale`` would do, whether it is cached and what it would cost; trains nothing.

    With ``cost``, :func:`xmr.orchestrate.cost.estimate` adds the counted FLOPs, the arithmetic
    floor at this machine's matmul peak and the estimated seconds of each uncached run.
    ``campaign`` selects the book's runs, the campaign's or both (:func:`declared_requests`).
    """
    from ..study.scale import scale as make_scale

    sc = make_scale(scale, seeds=seeds, epochs=epochs, device=device)
    runs = distinct_runs(declared_requests(sc, only, campaign=campaign), sc)
    if cost and len(runs):
        from .cost import estimate

        runs = estimate(runs)
    return runs


def plan_summary(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables of a :func:`plan`: by chapter (the runs each chapter adds, see :data:`REREADERS`) and by method:
    runs, cached, to train, and the FLOPs, floor and estimated minutes of what is to train (when the plan has costs)."""
    import pandas as pd

    def agg(by: str) -> pd.DataFrame:
        g = runs.groupby(by, sort=False)
        out = pd.DataFrame({"runs": g.size(), "cached": g["cached"].sum(), "to_train": g.size() - g["cached"].sum()})
        todo = runs[~runs["cached"].astype(bool)].groupby(by, sort=False)
        for col, name, scale_ in (("train_flops", "TFLOP", 1e12), ("floor_seconds", "floor_min", 60.0),
                                  ("est_seconds", "est_min", 60.0)):
            if col in runs:
                out[name] = (todo[col].sum() / scale_).reindex(out.index).fillna(0.0)
        return out.sort_values("est_min", ascending=False) if by == "method" and "est_min" in out else out

    by_chapter = agg("adds")
    order = [c for c in execution_order(chapters.names()) if c not in REREADERS] + list(REREADERS)
    by_chapter = by_chapter.reindex([c for c in order if c in by_chapter.index] +
                                    [c for c in by_chapter.index if c not in order])
    return {"chapter": by_chapter.rename_axis("chapter"), "method": agg("method")}


def plan_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """The plan as plain records (JSON-able), e.g. for ``xmr book --plan --json``."""
    keep = [c for c in runs.columns if c != "call"]
    return runs[keep].to_dict("records")


def campaign_keys(scale: Scale | str = "full") -> dict[str, set[str]]:
    """Claim id -> the cache keys of the campaign runs it reads (:func:`xmr.study.chapters.campaign_claims`)."""
    from ..study.scale import scale as make_scale

    sc = make_scale(scale)
    return {cid: set(distinct_runs(triples, sc)["key"]) for cid, triples in chapters.campaign_claims(sc).items()}


def claim_order(runs: pd.DataFrame, by_claim: Mapping[str, set[str]], claims: Sequence[str] | None = None) -> pd.DataFrame:
    """The uncached runs of a campaign :func:`plan` in the order that completes claims soonest: claim by claim, the
    claim whose missing runs cost least (``est_seconds``) first, each claim's runs cheapest first; runs no claim
    reads last. ``by_claim``: :func:`campaign_keys`.

    A claim is judged on its re-drawn splits only once all of them are archived (:func:`xmr.study.pooling.merged_groups`),
    so a sitting that finishes two claims changes more than one that trains the cheapest runs of every claim.
    ``claims``: only these claim ids' runs (an unknown id is an error that lists the planned ones).
    """
    import pandas as pd

    if claims is not None:
        unknown = sorted(set(claims) - set(by_claim))
        if unknown:
            raise ValueError(f"no campaign runs for claim(s) {', '.join(unknown)}: the power plan adds runs for "
                             f"{', '.join(sorted(by_claim))}")
        by_claim = {c: by_claim[c] for c in claims}
    todo = runs[~runs["cached"].astype(bool)]
    cost = (todo["est_seconds"] if "est_seconds" in todo else pd.Series(0.0, index=todo.index)).set_axis(todo["key"])
    remaining = {c: float(cost.reindex(sorted(keys)).fillna(0.0).sum()) for c, keys in by_claim.items()}
    order: list[str] = []
    for c in sorted(remaining, key=lambda c: (remaining[c], c)):
        order += sorted((k for k in by_claim[c] if k in cost.index and k not in order), key=lambda k: (cost[k], k))
    if claims is None:
        order += [k for k in cost.sort_values(kind="stable").index if k not in order]
    return todo.set_index("key", drop=False).loc[order].reset_index(drop=True)
