"""The power plan's campaign: the extra seeds and re-drawn splits it asks for, declared as requests, and the claims
judged on every split.

:func:`groups` turns the committed plan (:func:`xmr.study.power.load_plan`) into requests: for each claim the plan
gives more seeds or splits, each run its rule reads (:meth:`xmr.study.claims.Claim.reads_run`) on every split
``0 .. splits − 1`` (:func:`xmr.study.standins.redrawn`) at the planned seeds. They are marked
:attr:`~xmr.study.runner.Request.campaign`: a book build never trains them and shows those not yet archived as
planned, ``xmr archive grow --campaign`` trains them over sessions. Group names are
``"campaign/<chapter>/<group>@<split>"``.

:func:`xmr.study.pooling.merged_groups` puts a claim's runs of every split together, so its rule judges it on all
units; :mod:`xmr.study.verdicts` then takes the split as the unit of analysis.
"""

from __future__ import annotations

from typing import Callable, Mapping

from .claims import Claim, _all_claims
from .group_refs import CampaignGroup, SourceGroup, parse
from .power import load_plan, planned
from .runner import Request
from .scale import Scale
from .standins import REDRAWS, redrawn

__all__ = ["needs", "groups", "group_name", "requests_by_claim"]

Declare = Callable[[str, Scale], Mapping[str, list[Request]]]


def group_name(chapter: str, group: str, split: int) -> str:
    return str(CampaignGroup(SourceGroup(chapter, group), split))


def _claims() -> dict[str, Claim]:
    return {c.id: c for c in _all_claims()}


def needs(scale: Scale) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """``(chapter, group)`` -> {claim id: (seeds per split, splits)} for every source group the plan adds to.

    At the full scale the plan's numbers; at any other scale (the smoke book exercises the machinery) the scale's
    seeds and 2 splits, for the first planned group only."""
    by_id = _claims()
    out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for r in planned(load_plan()).itertuples():
        if r.planned_seeds <= len(scale.seeds) and r.planned_splits <= 1:
            continue
        claim = by_id[r.id]
        for g in claim.groups:
            out.setdefault((claim.chapter, g), {})[r.id] = (int(r.planned_seeds), int(r.planned_splits))
    if scale.sampled:
        first = next(iter(out.items()), None)
        return {first[0]: {i: (len(scale.seeds), 2) for i in first[1]}} if first else {}
    return out


def requests_by_claim(scale: Scale, declare: Declare) -> dict[str, list[tuple[str, str, Request]]]:
    """Claim id -> ``(chapter, group name, request)`` of every campaign run that claim reads: what must be archived
    before the claim is judged on all its planned splits (``xmr archive grow --campaign`` finishes claims one by one).
    ``chapter`` is the source chapter, ``group name`` the :func:`group_name` the request is declared under."""
    by_id = _claims()
    out: dict[str, list[tuple[str, str, Request]]] = {}
    for name, reqs in groups(scale, declare).items():
        source = parse(name).source
        chapter = source.chapter
        for claim_id in needs(scale).get((chapter, source.group), {}):
            claim = by_id[claim_id]
            out.setdefault(claim_id, []).extend((chapter, name, r) for r in reqs if claim.reads_run(r.method, r.variant))
    return out


def groups(scale: Scale, declare: Declare) -> dict[str, list[Request]]:
    """The campaign's requests: ``group_name(chapter, group, split)`` -> the runs the planned claims read there, on that
    split, each at the most seeds (and on as many splits as) any planned claim that reads it asks for.
    ``declare(chapter, scale)`` gives a chapter's declared groups."""
    by_id = _claims()
    out: dict[str, list[Request]] = {}
    for (chapter, group), asks in needs(scale).items():
        wanted = []
        for r in declare(chapter, scale)[group]:
            mine = [asks[i] for i in asks if by_id[i].reads_run(r.method, r.variant)]
            if mine:
                seeds = len(scale.seeds) if scale.sampled else max(n for n, _ in mine)
                # a stand-in with no declared re-draw (the real Pascal protocol) gets its extra seeds only
                splits = max(k for _, k in mine) if r.standin.dataset in REDRAWS else 1
                wanted.append((r, tuple(scale.seeds) if scale.sampled else tuple(range(seeds)), splits))
        for split in range(max((k for _, _, k in wanted), default=0)):
            out[group_name(chapter, group, split)] = [
                Request(r.method, redrawn(r.standin, split), r.label, r.variant, r.without, r.hparams, r.track_test,
                        seeds, True) for r, seeds, k in wanted if split < k]
    return out
