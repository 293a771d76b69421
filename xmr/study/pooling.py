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
    """``claim``'s groups with every run it reads replaced by that run over all the campaign's splits (or, where the
    plan adds seeds only, by the published split's run at the planned seeds); ``None`` until the campaign has
    archived **every** run the claim reads on every split the plan declares for it: the plan fixes the design in
    advance, and a claim is never judged on a half-grown one (no look at the data before the planned n).
    ``complete=False`` pools whatever is archived (for showing a claim split by split while the campaign grows, never
    for a verdict); ``None`` then only when nothing is. ``ledger_groups`` are a ledger page's groups
    (:class:`~xmr.study.group_refs.SourceGroup` and :class:`~xmr.study.group_refs.CampaignGroup` names).

    A run is matched across splits by method, variant and label (the cells of a grid share method and variant).
    """
    out: dict[str, list[VariantRuns]] = {}
    found, whole = False, True
    for g in claim.groups:
        source = SourceGroup(claim.chapter, g)
        published = list(ledger_groups[str(source)])
        by_split = {ref.split: ledger_groups[name] for name, ref in ((k, parse(k)) for k in ledger_groups)
                    if isinstance(ref, CampaignGroup) and ref.source == source}
        for i, run in enumerate(published):
            if not claim.reads_run(run.method, run.variant):
                continue
            trained: dict[int, VariantRuns] = {}
            for split in sorted(by_split):
                match = next((r for r in by_split[split]
                              if (r.method, r.variant, r.label) == (run.method, run.variant, run.label)), None)
                if match is None:  # the plan does not re-run this run on that split
                    continue
                if match.ok:
                    trained[split] = match
                else:  # declared, not archived yet
                    whole = False
            if not trained:
                continue
            found = True
            trained.setdefault(0, run)  # split 0 not declared for this run: the published run is split 0
            published[i] = _concat([trained[s] for s in sorted(trained)]) if len(trained) > 1 else trained[0]
        out[g] = published
    if not found or (complete and not whole):
        return None
    return out


def splits_of(runs: VariantRuns) -> int:
    """How many splits a run's table holds (1 for the published split alone)."""
    return int(runs.table["split"].nunique()) if runs.ok and "split" in runs.table else 1
