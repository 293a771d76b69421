"""Requests and the runner that serves them: what one row of a chapter's table needs, and getting it.

A :class:`Request` names one method variant on one stand-in (method, variant, ablated
terms, hyperparameter overrides). :func:`calls` turns it, at a :class:`~xmr.study.scale.Scale`,
into the :func:`xmr.experiments.run` calls that produce it (one per ``pascal100`` fold);
the runner, the planner and the prefill all go through it, so what is planned is what is
run. :class:`Runner` serves only the requests it was given (a chapter's declarations):
any other raises :class:`UndeclaredRunError`, so a notebook cannot train what its chapter
does not declare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from .scale import Scale
from .standins import StandIn

__all__ = ["Request", "VariantRuns", "Runner", "UndeclaredRunError", "calls", "CAMPAIGN_MISSING"]


@dataclass(frozen=True)
class Request:
    """One method variant on one stand-in: a row of a chapter's table.

    ``hparams`` are overrides of the method's defaults (a sorted tuple of pairs, so a
    request is hashable; build it with :meth:`make`); ``without`` the ablated loss terms;
    ``track_test`` asks for the per-epoch test diagnostic (same cache entry, same numbers).
    ``seeds`` overrides the scale's seeds (the power plan's, :mod:`xmr.study.power`);
    ``campaign`` marks a run of a campaign that grows over sessions (the power plan's extra seeds and
    re-drawn splits): it is served from the cache or the archive only, never trained by a book build,
    and the planner counts it only when asked (:func:`xmr.orchestrate.plan.declared_requests`).
    """

    method: str
    standin: StandIn
    label: str
    variant: str = "full"
    without: tuple[str, ...] = ()
    hparams: tuple[tuple[str, Any], ...] = ()
    track_test: bool = False
    seeds: tuple[int, ...] | None = None
    campaign: bool = False

    @classmethod
    def make(cls, method: str, standin: StandIn, label: str | None = None, *, variant: str = "full",
             without: Iterable[str] = (), track_test: bool = False, seeds: Iterable[int] | None = None,
             campaign: bool = False, **hparams: Any) -> "Request":
        return cls(method, standin, label or method, variant, tuple(sorted(without)), tuple(sorted(hparams.items())),
                   track_test, None if seeds is None else tuple(seeds), campaign)


@dataclass
class VariantRuns:
    """The runs of one request: one method variant on one stand-in, over all units (seeds, and folds where there are).

    ``table`` has one row per unit (the columns of :attr:`xmr.experiments.Results.table`
    plus ``fold``, ``split``, ``variant`` and ``label``); ``history`` and ``pr`` gain ``fold`` and ``split`` too.
    ``missing`` is the reason when the data could not be had here (then the frames are empty).
    """

    method: str
    dataset: str
    label: str
    variant: str = "full"
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    pr: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.missing is None


#: Why a campaign's run is not shown yet (:attr:`Request.campaign`).
CAMPAIGN_MISSING = ("planned by the power plan, not trained yet: `xmr archive grow --campaign` trains it "
                    "(a GPU session: benchmarks/device_session.sh)")


class UndeclaredRunError(LookupError):
    """A run was asked for that the chapter does not declare."""


def calls(request: Request, scale: Scale) -> list[dict[str, Any]]:
    """The :func:`xmr.experiments.run` keyword arguments that produce ``request`` at ``scale``, one per fold."""
    from ..methods import registry

    s = request.standin
    seeds = request.seeds if request.seeds is not None else scale.seeds
    kwargs: dict[str, Any] = {"method": request.method, "dataset": s.dataset, "protocol": s.protocol,
                              "seeds": list(seeds), "without": list(request.without),
                              "track_test": request.track_test, **dict(request.hparams)}
    if registry.get(request.method).kind == "deep":
        kwargs["epochs"] = scale.epochs
    folds: list[int | None] = list(scale.folds) if s.folds else [None]
    out = []
    for fold in folds:
        options = dict(s.options) | ({"fold": fold} if fold is not None else {})
        out.append({**kwargs, "dataset_options": options or None, "fold": fold})
    return out


class Runner:
    """Runs the declared requests at a scale, each run cached by :mod:`xmr.experiments`."""

    def __init__(self, scale: Scale, declared: Iterable[Request]):
        self.scale = scale
        self.declared = frozenset(declared)
        self.not_run: list[dict[str, str]] = []

    def run(self, request: Request) -> VariantRuns:
        """Every unit of ``request``; data that cannot be had here come back as ``missing`` (listed in :attr:`not_run`)."""
        if request not in self.declared:
            raise UndeclaredRunError(
                f"{request.label!r} ({request.method} on {request.standin.key}) is not declared by this chapter; "
                "add it to the chapter's declaration in xmr/study/chapters.py so the plan and the prefill see it")
        from .. import data, experiments

        if request.campaign and not self._archived(request):
            return VariantRuns(request.method, request.standin.dataset, request.label, request.variant,
                               missing=CAMPAIGN_MISSING, hparams=dict(request.hparams))
        tables, histories, prs = [], [], []
        for call in calls(request, self.scale):
            kwargs = {k: v for k, v in call.items() if k not in ("method", "dataset", "fold")}
            try:
                res = experiments.run(call["method"], call["dataset"], device=self.scale.device, **kwargs)
            except data.DataUnavailableError as exc:  # e.g. features that cannot be built here: listed, not hidden
                reason = f"data not available: {exc}"
                self.not_run.append({"method": request.method, "dataset": request.standin.dataset,
                                     "variant": request.variant, "reason": reason})
                return VariantRuns(request.method, request.standin.dataset, request.label, request.variant,
                                   missing=reason, hparams=dict(request.hparams))
            fold = -1 if call["fold"] is None else call["fold"]
            for frame, out in ((res.table, tables), (res.history, histories), (res.pr, prs)):
                out.append(frame.assign(fold=fold, split=request.standin.split))
        table = pd.concat(tables, ignore_index=True)
        table["variant"], table["label"] = request.variant, request.label
        return VariantRuns(request.method, request.standin.dataset, request.label, request.variant, table,
                           pd.concat(histories, ignore_index=True), pd.concat(prs, ignore_index=True),
                           hparams=dict(request.hparams))

    def _archived(self, request: Request) -> bool:
        """Every run of ``request`` is in the cache or the archive (a campaign's request is served only then)."""
        from .. import data, experiments

        for call in calls(request, self.scale):
            kwargs = {k: v for k, v in call.items() if k not in ("method", "dataset", "fold")}
            try:
                if not experiments.planned_runs(call["method"], call["dataset"], **kwargs)["cached"].all():
                    return False
            except data.DataUnavailableError:
                return False
        return True

    def not_run_frame(self) -> pd.DataFrame:
        """What could not be run, and why (empty when everything ran)."""
        return pd.DataFrame(self.not_run, columns=["method", "dataset", "variant", "reason"]).drop_duplicates()

