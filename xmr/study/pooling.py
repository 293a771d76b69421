"""A claim's runs pooled over the campaign's splits (:mod:`xmr.study.campaign`): one table per method variant with a
``split`` column, so the claim's rule judges it on every unit.

A ledger page's groups hold the published runs (``"<chapter>/<group>"``) and the campaign's
(``"campaign/<chapter>/<group>@<split>"``); :func:`merged_groups` puts them together for one claim.
"""

from __future__ import annotations

from typing import Mapping, Protocol

import pandas as pd

from .group_refs import CampaignGroup, SourceGroup, parse
from .runner import VariantRuns

__all__ = ["merged_groups", "splits_of"]


class _Reader(Protocol):
    """What pooling needs of a claim (:class:`xmr.study.claims.Claim`)."""

    chapter: str
    groups: tuple[str, ...]

    def reads_run(self, method: str, variant: str) -> bool: ...


def _concat(runs: list[VariantRuns]) -> VariantRuns:
    """One method variant's runs of several splits as one (tables concatenated; each row keeps its ``split``)."""
    ok = [r for r in runs if r.ok]
    if not ok:
        return runs[0]
    first = ok[0]
    # a frame without a split column is the published split's (split 0), as everywhere else
    cat = [pd.concat([f if f.empty or "split" in f else f.assign(split=0) for f in (getattr(r, name) for r in ok)],
                     ignore_index=True) for name in ("table", "history", "pr")]
    return VariantRuns(first.method, first.dataset, first.label, first.variant, *cat, hparams=first.hparams)


def merged_groups(ledger_groups: Mapping[str, list[VariantRuns]], claim: _Reader, *,
                  complete: bool = True) -> dict[str, list[VariantRuns]] | None:
    """``claim``'s groups with every run it reads replaced by that run over all the campaign's splits, once every
    re-drawn split of it is archived (or over the published split's extra seeds alone); ``None`` when the campaign
    completed none of them yet. ``complete=False`` pools whatever splits are archived (for showing a claim split
    by split while the campaign grows, never for a verdict). ``ledger_groups`` are a ledger page's groups
    (``"<chapter>/<group>"`` and ``"campaign/<chapter>/<group>@<split>"``)."""
    out: dict[str, list[VariantRuns]] = {}
    found = False
    for g in claim.groups:
        source = SourceGroup(claim.chapter, g)
        published = list(ledger_groups[str(source)])
        by_split = {ref.split: ledger_groups[name] for name, ref in ((k, parse(k)) for k in ledger_groups)
                    if isinstance(ref, CampaignGroup) and ref.source == source}
        splits = sorted(by_split)
        for i, run in enumerate(published):
            if not claim.reads_run(run.method, run.variant):
                continue
            across = [next((r for r in by_split[s] if r.method == run.method and r.variant == run.variant), None)
                      for s in splits]
            trained = {s: r for s, r in zip(splits, across) if r is not None and r.ok}
            # pooled once every re-drawn split of the plan is archived for this run (a half-grown campaign would
            # trade the published split's seeds for a handful of splits); split 0 falls back to the published run
            redrawn = set(splits) - {0}
            if redrawn and (redrawn <= set(trained) if complete else redrawn & set(trained)):
                found = True
                trained.setdefault(0, run)
                published[i] = _concat([trained[s] for s in sorted(trained)])
            elif 0 in trained and len(trained[0].table) > len(run.table):  # only more seeds on the published split
                found = True
                published[i] = trained[0]
        out[g] = published
    return out if found else None


def splits_of(runs: VariantRuns) -> int:
    """How many splits a run's table holds (1 for the published split alone)."""
    return int(runs.table["split"].nunique()) if runs.ok and "split" in runs.table else 1
