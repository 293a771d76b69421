"""The interpretation multiverse: does each verdict survive every reasonable reading of the papers?

Both papers leave much unsaid, and each method declares the choices we made as *readings*
(:class:`xmr.methods.readings.Reading`). A reader, or an author, can fairly answer a verdict
with "your triplet reduction is not ours". This module answers that for every claim, in the
spirit of a multiverse analysis (Steegen et al., 2016): for DACSL and SMCR it takes each
declared alternative reading **one at a time** from the defaults, plus one *most literal*
combination (every option at the reading closest to the paper's text); for DSCMR, the
readings where our implementation departs from its authors' code (shuffling, input
normalisation). Each such :class:`Universe` is trained on the stand-ins of the claims it can
re-judge; every claim whose rule reads that method's full-objective runs is judged again
with the method's runs replaced by the universe's, the other methods' runs unchanged.

What is not re-judged, and why (:data:`NOT_REJUDGED`): claims about ablations (the ablated
variants would have to be re-run under every reading) and about SMCR's α/β grid (16 cells
per reading). They are listed, not hidden.

Validation, never test, would pick a reading: :func:`reading_effects` shows each universe's
validation mAP beside its test mAP, and :func:`validation_pick` which universe validation
would have chosen, so a reader sees whether that choice changes a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from .group_refs import ReadingGroup, SourceGroup, parse
from .runner import Request, VariantRuns
from .scale import Scale
from .standins import DACSL_STANDINS, SMCR_STANDINS, StandIn, dacsl_standins
from .verdicts import PREREGISTERED, Robustness, Status, Thresholds, compare, weakest

if TYPE_CHECKING:
    from .pages import ChapterRuns
    from .claims import Claim

__all__ = ["Universe", "Robustness", "MULTIVERSE", "COMPANIONS", "NOT_REJUDGED", "FULL_SCALE", "LEFT_OUT", "left_out",
           "universes", "reading_groups", "split_groups", "matrix", "robustness", "reading_effects", "validation_pick",
           "with_robustness", "effects"]

#: Which methods' readings the multiverse runs, and which of their options (None: every declared reading).
#: DSCMR: only where we depart from its authors' released code (their loop shuffles; they feed raw features).
MULTIVERSE: dict[str, tuple[str, ...] | None] = {"dacsl": None, "smcr": None, "dscmr": ("shuffle", "input_norm")}

#: An alternative that needs a companion setting to be a fair reading: plain SGD at Adam's learning rate
#: (1e-4) would barely move, so SGD runs at the rate validation chose for it (Wikipedia, seeds 0-2, at
#: SMCR's defaults: lr 0.1 .2234 vs lr 0.01 .2211; xmr/methods/validation_evidence.jsonl).
COMPANIONS: dict[tuple[str, str, Any], dict[str, Any]] = {("smcr", "optimizer", "sgd"): {"lr": 0.1}}

#: Claims whose rule reads runs the multiverse does not re-run under each reading, and why.
NOT_REJUDGED: dict[str, str] = {
    "ablation": "its rule reads the ablated variants, which are not re-run under each reading (cost: 3-4 runs "
                "per reading and stand-in)",
    "grid": "its rule reads SMCR's α × β grid, which is not re-run under each reading (16 cells per reading)",
}



#: The readings run at full scale: those that move the loss balance or the training procedure, chosen a priori to
#: fit a budget of about 2 CPU hours on 2 cores (the issue's; what they cost: ``xmr book --plan --only multiverse``
#: estimates it, the archive's records hold each run's seconds, and benchmarks/README.md, "The edition, checked",
#: records the measurement of the first full edition). Every other declared reading is left out at full
#: scale for the reason in :data:`LEFT_OUT`, and the chapter lists it.
FULL_SCALE: dict[str, tuple[str, ...]] = {
    "dacsl": ("triplet_reduction", "adversarial_update", "classifier"),
    "smcr": ("g_steps", "d_order", "optimizer", "d_lr_scale", "imi_source", "classifier_on", "discriminator_on"),
    "dscmr": ("shuffle",),
}
#: Why a declared reading is not run at full scale (the most literal combination always is).
LEFT_OUT: dict[str, str] = {
    "input_norm": "preprocessing chosen on validation for each feature set: every value's validation mAP is "
                  "already recorded (fidelity page); the most literal combination runs the raw input",
    "hidden": "a layer size the paper does not give: not a reading of the loss or of the procedure",
    "disc_hidden": "a layer size the paper does not give: not a reading of the loss or of the procedure",
    "dim": "a layer size the paper does not give: not a reading of the loss or of the procedure",
    "retrieval_metric": "changes only how the trained model ranks, not what it learns; cost",
    "metric": "changes only how the trained model ranks, not what it learns; cost",
    "retrieval": "changes only which features rank, not what is learnt; cost",
    "alpha": "SMCR's α is swept by the sensitivity chapter (Fig. 2)",
    "triplet_sampling": "cost (DACSL is the dearest method: 4-9 min per run and seed on one core)",
    "margin": "cost (DACSL is the dearest method)",
    "adversarial_loss": "cost (DACSL is the dearest method)",
    "generator_loss": "cost (DACSL is the dearest method)",
    "pre_norm": "cost (DACSL is the dearest method)",
    "classifier_bias": "cost (DACSL is the dearest method)",
    "betas": "cost (DACSL is the dearest method)",
}


@dataclass(frozen=True)
class Universe:
    """One reading of a method: the defaults (``kind="default"``), one alternative (``"alternative"``)
    or the most literal combination (``"most literal"``); ``overrides`` are its hyperparameters."""

    method: str
    name: str
    kind: str
    overrides: tuple[tuple[str, Any], ...] = ()
    option: str | None = None
    value: Any = None


def _options(method: str) -> list:
    from ..methods import registry

    wanted = MULTIVERSE[method]
    return [r for r in getattr(registry.get(method).cls, "readings", ()) if wanted is None or r.option in wanted]


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def universes(method: str, standin: StandIn) -> list[Universe]:
    """The default, each alternative reading one at a time, and the most literal combination of ``method``
    on ``standin`` (its feature set decides per-feature defaults, e.g. input normalisation)."""
    from ..engine import resolve_hparams
    from ..methods import registry
    from ..methods.readings import feature_set

    spec = registry.get(method)
    hp = resolve_hparams(spec, {}, features=feature_set(standin.dataset, standin.options))
    out = [Universe(method, "default", "default")]
    literal: dict[str, Any] = {}
    for r in _options(method):
        current = _freeze(hp[r.option])
        for value in r.values:
            if _freeze(value) == current:
                continue
            over = {r.option: value, **COMPANIONS.get((method, r.option, _freeze(value)), {})}
            out.append(Universe(method, f"{r.option}={_label(value)}", "alternative", tuple(sorted(over.items())),
                                r.option, value))
        if r.literal is not None and _freeze(r.literal) != current:
            literal |= {r.option: r.literal, **COMPANIONS.get((method, r.option, _freeze(r.literal)), {})}
    if literal:
        out.append(Universe(method, "most literal", "most literal", tuple(sorted(literal.items()))))
    return out


def _label(value: Any) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)


def _stand_ins(method: str) -> dict[str, StandIn]:
    """Where each method's readings run: the stand-ins of the claims that read its runs."""
    if method == "dacsl":
        return dacsl_standins()
    if method == "smcr":
        return {"wikipedia": SMCR_STANDINS["wikipedia"], "news": SMCR_STANDINS["news"]}
    return {"wikipedia": DACSL_STANDINS["wikipedia"]}  # DSCMR: the split and protocol of its authors' code


#: The tiny version the smoke scale runs (CI exercises the chapter): per method, the stand-ins and how many
#: alternatives (the first ones declared), besides the default and the most literal combination.
SMOKE = {"stand_ins": ("wikipedia",), "alternatives": 1}


def reading_groups(scale: Scale) -> dict[str, list[Request]]:
    """The multiverse's runs: group ``"reading/<method>/<stand-in>"`` -> one request per universe (default first)."""
    groups: dict[str, list[Request]] = {}
    for method in MULTIVERSE:
        for key, standin in _stand_ins(method).items():
            if scale.sampled and key not in SMOKE["stand_ins"]:
                continue
            us = universes(method, standin)
            if not scale.sampled:
                us = [u for u in us if u.kind != "alternative" or u.option in FULL_SCALE[method]]
            if scale.sampled:
                alts = [u for u in us if u.kind == "alternative"][: SMOKE["alternatives"]]
                us = [u for u in us if u.kind != "alternative"] + alts
            groups[str(ReadingGroup(method, key))] = [
                Request.make(method, standin, u.name, variant="full", **dict(u.overrides)) for u in us]
    return groups


def split_groups(groups: Mapping[str, list[VariantRuns]]) -> tuple[dict[str, dict[str, list[VariantRuns]]], dict[str, dict[str, list[VariantRuns]]]]:
    """A chapter's prefixed groups split into ``{source chapter: {group: runs}}`` and
    ``{method: {stand-in key: runs of each universe}}`` (:class:`~xmr.study.group_refs.ReadingGroup`); the
    campaign's groups are left out."""
    sources: dict[str, dict[str, list[VariantRuns]]] = {}
    readings: dict[str, dict[str, list[VariantRuns]]] = {}
    for name, runs in groups.items():
        ref = parse(name)
        if isinstance(ref, ReadingGroup):
            readings.setdefault(ref.method, {})[ref.standin] = runs
        elif isinstance(ref, SourceGroup):
            sources.setdefault(ref.chapter, {})[ref.group] = runs
    return sources, readings


def _substitute(claim: Claim, groups: Mapping[str, list[VariantRuns]], group_standins: Mapping[str, StandIn],
                method: str, universe: str, reading_runs: Mapping[StandIn, list[VariantRuns]]) -> dict[str, list[VariantRuns]] | str:
    """``claim``'s groups with ``method``'s full-objective runs replaced by ``universe``'s; or why it cannot be."""
    out = {}
    touched = False
    for g in claim.groups:
        runs = list(groups[g])
        if any(r.method == method and r.variant != "full" for r in runs):
            return NOT_REJUDGED["ablation"]
        if g == "grid":
            return NOT_REJUDGED["grid"]
        for i, r in enumerate(runs):
            if r.method != method:
                continue
            candidates = [u for u in reading_runs.get(group_standins[g], []) if u.label == universe]
            if not candidates:
                return "this reading was not run on this stand-in"
            u = candidates[0]
            if not u.ok:  # a reading that could not be run here does not change a verdict: say so, do not judge
                return f"this reading could not be run here ({u.missing})"
            runs[i] = VariantRuns(u.method, u.dataset, r.label, r.variant, u.table.assign(label=r.label, variant=r.variant),
                                  u.history, u.pr, u.missing, u.hparams)
            touched = True
        out[g] = runs
    return out if touched else ""


def matrix(ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """The claims × readings matrix: one row per (claim, method, universe) whose claim reads ``method``'s runs, with
    the verdict under that universe (``status`` empty and ``note`` set when it is not re-judged) and its ``parts``
    (the effects, :class:`xmr.study.verdicts.Part`).

    ``ch`` is a chapter whose groups hold the ledger's sources (``"<chapter>/<group>"``) and the multiverse's
    runs (``"reading/<method>/<stand-in>"``), e.g. the ``multiverse`` or ``claims_ledger`` chapter.
    """
    from .claims import CLAIMS, judge

    sources, readings = split_groups(ch.groups)
    source_standins: dict[str, dict[str, StandIn]] = {}
    reading_standins: dict[str, dict[StandIn, list[VariantRuns]]] = {}
    for name, standin in ch.standins.items():
        ref = parse(name)
        if isinstance(ref, ReadingGroup):
            reading_standins.setdefault(ref.method, {})[standin] = readings[ref.method][ref.standin]
        elif isinstance(ref, SourceGroup):
            source_standins.setdefault(ref.chapter, {})[ref.group] = standin
    rows = []
    for claim in CLAIMS:
        groups = sources.get(claim.chapter, {})
        if any(g not in groups for g in claim.groups):
            continue
        base = judge(claim, groups, thresholds).status
        for method, by_standin in reading_standins.items():
            if not any(r.method == method for g in claim.groups for r in groups[g]):
                continue
            names = list(dict.fromkeys(r.label for runs in by_standin.values() for r in runs))
            for universe in names:
                sub = _substitute(claim, groups, source_standins.get(claim.chapter, {}), method, universe, by_standin)
                row = {"paper": claim.paper, "id": claim.id, "method": method, "universe": universe, "default": base}
                if isinstance(sub, str):
                    rows.append(row | {"status": "", "reason": "", "note": sub or "reads no run of this method", "parts": ()})
                else:
                    v = judge(claim, sub, thresholds).verdict
                    rows.append(row | {"status": v.status, "reason": v.reason, "note": "", "parts": v.parts})
    return pd.DataFrame(rows, columns=["paper", "id", "method", "universe", "default", "status", "reason", "note", "parts"])


def _conflict(statuses: set[Status]) -> bool:
    """Held under one reading and refuted under another: conclusions that exclude each other."""
    return Status.HELD in statuses and any(s.refuted for s in statuses)


def robustness(m: pd.DataFrame) -> pd.DataFrame:
    """Per claim, from a :func:`matrix`: its :class:`Robustness` and ``flips``, the universes whose verdict differs
    from the default's (and to what), or why it was not re-judged."""
    rows = []
    for cid, g in m.groupby("id", sort=False):
        judged = g[g.status != ""]
        base = g["default"].iloc[0]
        if judged.empty:
            rows.append({"id": cid, "robustness": Robustness.NOT_REJUDGED, "flips": "; ".join(sorted(set(g.note)))})
            continue
        flips = judged[judged.status != base]
        if flips.empty:
            rob, text = Robustness.SAME, f"{len(judged)} reading(s) re-judged, none changes the verdict"
        else:
            rob = Robustness.DEPENDS if _conflict({base, *judged.status}) else Robustness.NO_CONFLICT
            text = "; ".join(f"{r.method.upper()} {r.universe} → {r.status}" for r in flips.itertuples())
        rows.append({"id": cid, "robustness": rob, "flips": text})
    return pd.DataFrame(rows, columns=["id", "robustness", "flips"])


def with_robustness(ledger: pd.DataFrame, ch: ChapterRuns, thresholds: Thresholds = PREREGISTERED) -> pd.DataFrame:
    """The ledger (:func:`xmr.study.claims.ledger`) with a ``robustness`` column from ``ch``'s multiverse runs
    (claims that read none of the multiverse's methods: :attr:`Robustness.NONE`) and its ``flips``."""
    rob = robustness(matrix(ch, thresholds)).set_index("id")
    out = ledger.copy()
    out["robustness"] = [rob["robustness"].get(i, Robustness.NONE) for i in out["id"]]
    out["flips"] = [rob["flips"].get(i, "") for i in out["id"]]
    return out


def effects(m: pd.DataFrame, *, every_part: bool = False) -> pd.DataFrame:
    """The effects behind each verdict under every reading, from a :func:`matrix`: id, method, universe, status,
    part, delta, ci_low, ci_high, delta_used; what the specification-curve plot draws. By default one row per
    (claim, universe): its weakest part, the one nearest to failing "held" (the lowest lower bound), which is the
    part a reading must move to change the verdict; ``every_part`` gives them all."""
    rows = [{"id": r.id, "method": r.method, "universe": r.universe, "status": str(r.status), "part": p.label,
             "delta": p.delta, "ci_low": p.ci_low, "ci_high": p.ci_high, "delta_used": p.delta_used}
            for r in m.itertuples() if r.status != "" for p in (r.parts if every_part else [w for w in [weakest(r.parts)] if w is not None])]
    return pd.DataFrame(rows, columns=["id", "method", "universe", "status", "part", "delta", "ci_low", "ci_high",
                                       "delta_used"])


def reading_effects(ch: ChapterRuns) -> pd.DataFrame:
    """Per method, stand-in and universe: validation and test mAP (means over units, test with its 95 % CI), the
    change of test mAP against the default and its paired test at the unit of analysis (folds on Pascal)."""
    from .stats import mean_ci, unit_scores

    _, readings = split_groups(ch.groups)
    rows = []
    for method, by_key in readings.items():
        for key, runs in by_key.items():
            default = next((r for r in runs if r.label == "default"), None)
            for r in runs:
                row: dict[str, Any] = {"method": method, "stand-in": key, "universe": r.label, "ran": r.ok}
                if r.ok:
                    test = mean_ci(r.table["avg"])
                    row |= {"val mAP": r.table["val_avg_best"].mean(), "test mAP": test["mean"],
                            "test 95% CI": (test["ci_low"], test["ci_high"]), "units": test["n"]}
                    if default is not None and default.ok and r.label != "default":
                        t = compare(r.label, unit_scores(r, "avg"), unit_scores(default, "avg"))  # at the unit
                        row |= {"Δ test": t.delta, "p (paired t)": t.p}
                rows.append(row)
    return pd.DataFrame(rows)


def validation_pick(effects: pd.DataFrame) -> pd.DataFrame:
    """Per method and stand-in: the universe with the highest validation mAP (what validation would pick among
    the readings run one at a time) and whether it is the default."""
    e = effects.dropna(subset=["val mAP"])
    rows = []
    for (method, key), g in e.groupby(["method", "stand-in"], sort=False):
        best = g.loc[g["val mAP"].idxmax()]
        rows.append({"method": method, "stand-in": key, "validation picks": best["universe"],
                     "its val mAP": best["val mAP"], "its test mAP": best["test mAP"],
                     "default's val mAP": g.loc[g.universe == "default", "val mAP"].max()})
    return pd.DataFrame(rows)


def left_out(scale: Scale) -> pd.DataFrame:
    """The declared readings the multiverse does not run at ``scale``, and why."""
    rows = []
    for method in MULTIVERSE:
        for r in _options(method):
            if not scale.sampled and r.option not in FULL_SCALE[method]:
                rows.append({"method": method, "option": r.option, "alternatives": ", ".join(map(_label, r.alternatives)),
                             "why": LEFT_OUT.get(r.option, "cost")})
    return pd.DataFrame(rows, columns=["method", "option", "alternatives", "why"])
