"""The pre-registered verdict scheme: how paired runs become held, refuted or not shown.

Written, with its thresholds and the smallest effect of interest, before it was applied to any
run (the commit that added it says so); the book's page *How a verdict is reached*
(``book/verdicts.md``) states the same rule in prose. Every comparison claim of
:mod:`xmr.study.claims` is a set of *parts* ("A beats B on task T"); each part is a paired
difference Δ = A − B over independent units, and the claim's status follows from its parts:

* **held**: every part's 95 % t interval lies above 0 (an intersection-union test: each part at
  level α, no correction needed, Berger 1982);
* **refuted — reversed**: some part is significantly reversed, Δ < 0 with its two-sided p below
  α after Holm's correction over the claim's parts;
* **refuted — claimed gain ruled out**: not held, and for some part the 95 % interval lies
  below δ (one-sided p of H0: Δ ≥ δ below α/2 after Holm), where δ is the gain the paper claims
  for that part (its own table, :mod:`xmr.study.margins`), at least the smallest effect of
  interest :attr:`Thresholds.min_effect`. When the interval also lies above −δ the part is
  *equivalent within ±δ* (two one-sided tests, TOST, at the same level);
* **not assessable**: a part has no variance estimate (two deterministic methods on one split:
  one unit), and nothing above decides; never p = 0;
* **not shown**: none of the above; each part says how many units 80 % power would take at the
  observed Δ and at δ (:attr:`Part.seeds_needed`, :attr:`Part.seeds_needed_claimed`);
* **descriptive**: a rule with no uncertainty attached (a threshold on means); its reason says
  what the threshold reads, and it is counted apart from the verdicts;
* **not testable here**: the data or method needed is not available.

Precedence, when parts disagree: not testable (no part ran) > reversed > held > ruled out >
not assessable > not shown. A claim of direction is held when the direction is shown on every
part even if the gain is smaller than the paper's (our features differ from the papers', so a
gain's size is not expected to transfer, its sign is); the reason then says that the paper's
size is ruled out.

Units (:func:`paired_units`): where splits were re-drawn, the split (a random effect: seeds and folds
averaged within it; for a balanced design the t-test on split means is the mixed model's test of the mean);
on cross-validated data the unit is the fold, each method's seeds averaged within a fold (the Nadeau-Bengio corrected resampled t over all (fold, seed) pairs is
reported beside it as a sensitivity check); otherwise the seed. A deterministic method gives the
same score for every seed: it is one unit, so two deterministic methods on one split give one
unit and no test.

Thresholds are arguments (:class:`Thresholds`), never module state: ``xmr claims --alpha 0.01``
re-judges with another level.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW

__all__ = ["Status", "Robustness", "Thresholds", "PREREGISTERED", "Units", "paired_units", "Part", "Verdict", "compare", "decide",
           "descriptive", "not_testable", "seeds_needed", "corrected_resampled_t", "holm", "NO_SPREAD", "weakest", "gist"]


class _Text(str, Enum):
    """A string enum that renders as its text (so a table or a JSON file shows the words, not the member)."""

    def __str__(self) -> str:
        return self.value


class Status(_Text):
    """A verdict; a string enum, so it renders and compares as its text."""

    HELD = "held"
    REVERSED = "refuted — reversed"
    RULED_OUT = "refuted — claimed gain ruled out"
    NOT_SHOWN = "not shown"
    NOT_ASSESSABLE = "not assessable"
    DESCRIPTIVE = "descriptive"
    NOT_TESTABLE = "not testable here"

    @property
    def refuted(self) -> bool:
        return self in (Status.REVERSED, Status.RULED_OUT)

    @property
    def decided(self) -> bool:
        """Held or refuted: the evidence decides the claim."""
        return self is Status.HELD or self.refuted


class Robustness(_Text):
    """How a claim's verdict fares across the readings it was re-judged under (:func:`xmr.study.multiverse.robustness`).

    It compares conclusions, not labels: a claim *depends on the reading* only when one reading holds it and
    another refutes it; a move between "held" and "not shown" (or between the two refutations) near a threshold
    is noise, and the claim then reaches *no opposite conclusion*.
    """

    SAME = "the same verdict under every reading"
    NO_CONFLICT = "no reading reaches the opposite conclusion"
    DEPENDS = "depends on the reading"
    NOT_REJUDGED = "not re-judged"
    NONE = "no reading involved"


@dataclass(frozen=True)
class Thresholds:
    """The scheme's pre-registered numbers.

    ``alpha``: two-sided level of every interval and test (the conventional 5 %). ``min_effect``: the
    smallest effect of interest, in mAP; a paper's claimed gain below it is raised to it (a gain of less than
    one mAP point would change none of either paper's conclusions, and is below the seed-to-seed spread of
    most methods here). ``power``: the power at which :attr:`Part.seeds_needed` is computed. ``max_units``:
    the largest number of units a power calculation reports (beyond it: ``None``, out of reach).
    """

    alpha: float = 0.05
    min_effect: float = 0.01
    power: float = 0.8
    max_units: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if not (self.min_effect >= 0 and math.isfinite(self.min_effect)):
            raise ValueError(f"min_effect must be a finite number ≥ 0 (mAP), got {self.min_effect}")
        if not 0 < self.power < 1:
            raise ValueError(f"power must lie in (0, 1), got {self.power}")


#: The thresholds this edition's verdicts use.
PREREGISTERED = Thresholds()


# --------------------------------------------------------------------------- units
#: Scores or differences that spread by less than this are equal up to float rounding (equal runs give equal
#: scores, but means of equal scores taken in another order can differ in the last bits).
NO_SPREAD = 1e-12

@dataclass(frozen=True)
class Units:
    """The paired differences of one comparison at the unit of analysis.

    ``diffs``: one Δ per unit; ``unit``: ``"split"`` (re-drawn splits: seeds and folds averaged within each),
    ``"fold"``, ``"seed"`` or ``"deterministic pair"`` (one unit: two deterministic methods on one split);
    ``runs``: the run-level differences before averaging, for the corrected resampled t; ``splits``: how many
    splits the units come from.
    """

    diffs: np.ndarray
    unit: str
    runs: np.ndarray
    folds: int = 0
    splits: int = 1


def _deterministic(scores: pd.Series) -> bool:
    """Every seed scored exactly the same within each fold: a deterministic method (or a single seed)."""
    spread = scores.groupby(level="fold").agg(lambda x: float(np.ptp(x.to_numpy())))
    return bool((spread <= NO_SPREAD).all())


def paired_units(a: pd.Series, b: pd.Series) -> Units:
    """The differences ``a − b`` at the unit of analysis; ``a`` and ``b`` are indexed by (fold, seed), fold −1
    where there is no cross-validation (:func:`xmr.study.stats.unit_scores`)."""
    if a.empty or b.empty:  # nothing to pair (e.g. a run with no rows): no units
        return Units(np.array([]), "seed", np.array([]))
    common = a.index.intersection(b.index)
    a, b = a.loc[common].astype(float), b.loc[common].astype(float)
    keep = ~(a.isna() | b.isna())
    a, b = a[keep], b[keep]
    runs = (a - b).to_numpy()
    if a.empty:
        return Units(np.array([]), "seed", runs)
    names = a.index.names
    n_splits = int(a.index.get_level_values("split").nunique()) if "split" in names else 1
    if n_splits > 1:  # re-drawn splits: the split is the unit (a random effect), folds and seeds averaged within it
        sa, sb = a.groupby(level="split").mean(), b.groupby(level="split").mean()
        return Units((sa - sb).to_numpy(), "split", runs, splits=n_splits)
    folds = a.index.get_level_values("fold")
    if (folds >= 0).any():  # cross-validation: the fold is the unit, seeds averaged within it
        fa, fb = a.groupby(level="fold").mean(), b.groupby(level="fold").mean()
        return Units((fa - fb).to_numpy(), "fold", runs, folds=int(len(fa)))
    if _deterministic(a) and _deterministic(b):  # copies of one number: one unit
        return Units(runs[:1], "deterministic pair", runs)
    return Units(runs, "seed", runs)


def corrected_resampled_t(runs: np.ndarray, folds: int) -> float:
    """Two-sided p of the corrected resampled t over every (fold, seed) difference of a k-fold design.

    Nadeau & Bengio (2003), in the repeated k-fold form of Bouckaert & Frank (2004): the variance of the
    mean is ``(1/J + n_test/n_train) · s²`` with J differences and ``n_test/n_train = 1/(k − 1)``, because
    the training sets of the folds overlap. No library implements it; this is the formula, nothing more.
    """
    j = len(runs)
    if j < 2 or folds < 2:
        return math.nan
    if float(np.ptp(runs)) <= NO_SPREAD:  # no spread: no variance estimate, no test
        return math.nan
    s2 = float(np.var(runs, ddof=1))
    t = float(np.mean(runs)) / math.sqrt((1 / j + 1 / (folds - 1)) * s2)
    return float(2 * stats.t.sf(abs(t), j - 1))


def seeds_needed(effect: float, sd: float, th: Thresholds = PREREGISTERED) -> int | None:
    """Units a paired t-test needs to detect ``effect`` with power ``th.power`` at two-sided ``th.alpha``, given the
    sd of the differences (statsmodels' :class:`~statsmodels.stats.power.TTestPower`); ``None`` when the effect is 0,
    the sd unknown, or more than ``th.max_units`` would be needed."""
    if not (math.isfinite(effect) and math.isfinite(sd)) or sd <= 0 or effect == 0:
        return None
    d = abs(effect) / sd
    # statsmodels' power at each n of a window, then the first n that reaches the target: exact for integer n (power
    # rises with n), and far faster than its root finder, which the multiverse would call thousands of times. The
    # normal approximation puts the window's start just below the answer; the t-test needs at most a few more.
    z = stats.norm.ppf(1 - th.alpha / 2) + stats.norm.ppf(th.power)
    if (z / d) ** 2 > th.max_units:  # even the normal approximation, which needs fewer, is out of reach
        return None
    start = max(2, int((z / d) ** 2) - 1)
    for n in (np.arange(start, min(start + 16, th.max_units) + 1), np.arange(2, th.max_units + 1)):
        if len(n) == 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            power = np.asarray(TTestPower().power(effect_size=d, nobs=n, alpha=th.alpha, alternative="two-sided"))
        reached = np.nonzero(power >= th.power)[0]
        if len(reached) and (reached[0] > 0 or n[0] == 2):
            return int(n[reached[0]])
    return None


# --------------------------------------------------------------------------- parts and verdicts
@dataclass(frozen=True)
class Part:
    """One paired comparison of a claim: ``label`` says which (e.g. "Txt2Img", "CCA mAP@50").

    ``delta``: mean Δ = A − B over ``n_units`` units of kind ``unit``; ``ci_low``/``ci_high`` its 95 % t interval
    (at 1 − ``alpha``); ``p``: two-sided paired t p; ``p_holm``: Holm-adjusted over the claim's parts; ``p_below``
    / ``p_below_holm``: one-sided p of H0: Δ ≥ δ; ``wins``: share of units with A > B (probability of
    improvement); ``delta_claimed``: the paper's gain with ``delta_source``, ``delta_used`` = max(it, the
    smallest effect of interest); ``equivalent``: the interval lies within ±δ; ``seeds_needed`` and
    ``seeds_needed_claimed``: units for 80 % power at the observed Δ and at δ; ``p_corrected``: the
    Nadeau-Bengio p over (fold, seed) pairs on cross-validated data; ``splits``: the splits the units come
    from; ``status``: the part's own reading.
    """

    label: str
    unit: str = "seed"
    n_units: int = 0
    delta: float = math.nan
    sd: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    p_holm: float = math.nan
    p_below: float = math.nan
    p_below_holm: float = math.nan
    wins: float = math.nan
    delta_claimed: float | None = None
    delta_source: str = ""
    delta_used: float = math.nan
    equivalent: bool = False
    seeds_needed: int | None = None
    seeds_needed_claimed: int | None = None
    p_corrected: float = math.nan
    splits: int = 1
    status: Status = Status.NOT_SHOWN
    note: str = ""

    @property
    def assessable(self) -> bool:
        return self.n_units >= 2 and math.isfinite(self.sd) and self.sd > 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class Verdict:
    """A claim's status, a one-line reason, and its parts (empty for a descriptive or untestable claim).

    The reason's clauses are separated by "; ", the first one saying what decided the status and the rest giving
    examples (where no part could be judged, the clauses are the parts' notes, and the first stands for them all);
    :attr:`gist` is that first clause, what a one-row summary shows.
    """

    status: Status
    reason: str
    parts: tuple[Part, ...] = field(default=())

    @property
    def gist(self) -> str:
        return gist(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "reason": self.reason, "parts": [p.to_dict() for p in self.parts]}


def gist(reason: str) -> str:
    """A verdict's reason without its examples: its first clause (see :class:`Verdict`)."""
    return reason.split("; ")[0]


def weakest(parts: Sequence[Part]) -> Part | None:
    """The part nearest to failing "held": the lowest lower bound of its interval (Δ where a part has none); the
    part a reading or a re-draw must move to change a verdict, and the one a one-line summary shows."""
    def low(p: Part) -> float:
        return p.ci_low if math.isfinite(p.ci_low) else p.delta

    finite = [p for p in parts if math.isfinite(low(p))]
    return min(finite, key=low) if finite else None


def descriptive(reason: str) -> Verdict:
    """A threshold rule with no uncertainty: counted apart, its reading given in ``reason``."""
    return Verdict(Status.DESCRIPTIVE, reason)


def not_testable(reason: str) -> Verdict:
    return Verdict(Status.NOT_TESTABLE, reason)


def compare(label: str, a: pd.Series, b: pd.Series, *, delta_claimed: float | None = None, delta_source: str = "",
            th: Thresholds = PREREGISTERED) -> Part:
    """One part "A beats B": Δ, its interval, tests and power at the unit of analysis (:func:`paired_units`).

    ``a`` and ``b`` are per-run scores indexed by (fold, seed). Holm-adjusted p-values and the status are set
    by :func:`decide`, which sees all of a claim's parts.
    """
    u = paired_units(a, b)
    used = max(th.min_effect, delta_claimed if delta_claimed is not None else 0.0)
    base = Part(label, u.unit, len(u.diffs), delta_claimed=delta_claimed, delta_source=delta_source, delta_used=used,
                splits=u.splits)
    if len(u.diffs) == 0:
        return replace(base, status=Status.NOT_TESTABLE, note="no paired results")
    d = u.diffs
    mean = float(d.mean())
    wins = float((d > 0).mean())
    if len(d) < 2 or float(np.ptp(d)) <= NO_SPREAD:
        why = ("two deterministic methods on one split: one unit, no variance estimate" if u.unit == "deterministic pair"
               else f"{len(d)} unit(s) with no spread: no variance estimate")
        return replace(base, delta=mean, wins=wins, status=Status.NOT_ASSESSABLE, note=why)
    ds = DescrStatsW(d)
    low, high = (float(x) for x in ds.tconfint_mean(alpha=th.alpha))
    p = float(stats.ttest_1samp(d, 0.0).pvalue)
    p_below = float(stats.ttest_1samp(d, used, alternative="less").pvalue)
    p_above = float(stats.ttest_1samp(d, -used, alternative="greater").pvalue)
    sd = float(ds.std_mean * math.sqrt(len(d)))
    return replace(base, delta=mean, sd=sd, ci_low=low, ci_high=high, p=p, p_below=p_below, wins=wins,
                   equivalent=bool(max(p_below, p_above) < th.alpha / 2),
                   seeds_needed=seeds_needed(mean, sd, th), seeds_needed_claimed=seeds_needed(used, sd, th),
                   p_corrected=corrected_resampled_t(u.runs, u.folds) if u.unit == "fold" else math.nan)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): the i-th smallest p times (m − i + 1), made monotone, at most 1.

    Written out rather than taken from statsmodels' ``multipletests(method="holm")``, which calls ``gc.collect()``
    on every call (0.09 s each here, most of ``xmr claims``' time); the tests hold it equal to statsmodels'.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return [float(x) for x in out]


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def _part_text(p: Part) -> str:
    return f"{p.label}: Δ {_fmt(p.delta)} [{_fmt(p.ci_low)}, {_fmt(p.ci_high)}]"


def decide(parts: Sequence[Part], th: Thresholds = PREREGISTERED) -> Verdict:
    """A claim's verdict from its parts (each from :func:`compare`), by the rule and precedence of this module.

    Sets each part's Holm-adjusted p-values (over the claim's assessable parts) and its own status.
    """
    parts = list(parts)
    if not parts:
        return not_testable("no part to compare")
    idx = [i for i, p in enumerate(parts) if p.assessable]
    adj = dict(zip(idx, holm([parts[i].p for i in idx])))
    adj_below = dict(zip(idx, holm([parts[i].p_below for i in idx])))
    out: list[Part] = []
    for i, p in enumerate(parts):
        if i not in adj:
            out.append(p)
            continue
        p = replace(p, p_holm=adj[i], p_below_holm=adj_below[i])
        if p.delta < 0 and p.p_holm < th.alpha:
            st = Status.REVERSED
        elif p.ci_low > 0:
            st = Status.HELD
        elif p.p_below_holm < th.alpha / 2:
            st = Status.RULED_OUT
        else:
            st = Status.NOT_SHOWN
        out.append(replace(p, status=st))
    by = {s: [p for p in out if p.status is s] for s in Status}
    ruled_out = [p for p in out if p.assessable and p.p_below_holm < th.alpha / 2]
    if len(by[Status.NOT_TESTABLE]) == len(out):
        return Verdict(Status.NOT_TESTABLE, "; ".join(f"{p.label}: {p.note}" for p in out), tuple(out))
    if by[Status.REVERSED]:
        worst = min(by[Status.REVERSED], key=lambda p: p.p_holm)
        return Verdict(Status.REVERSED, f"significantly reversed on {len(by[Status.REVERSED])} of {len(out)} part(s); "
                       f"{_part_text(worst)}, Holm p {worst.p_holm:.2g}", tuple(out))
    if by[Status.NOT_TESTABLE]:
        return Verdict(Status.NOT_TESTABLE, "; ".join(f"{p.label}: {p.note}" for p in by[Status.NOT_TESTABLE]), tuple(out))
    if len(by[Status.HELD]) == len(out):
        low = min(out, key=lambda p: p.ci_low)
        # both findings in the first clause: a one-row summary shows only that (Verdict.gist)
        reason = "every part's 95 % interval lies above 0"
        if ruled_out:
            reason += f", but the paper's size of gain is ruled out on {len(ruled_out)} part(s)"
        reason += f"; closest: {_part_text(low)}"
        if ruled_out:
            reason += (f"; e.g. {ruled_out[0].label}: upper bound {_fmt(ruled_out[0].ci_high)} "
                       f"< δ {ruled_out[0].delta_used:.3f}")
        return Verdict(Status.HELD, reason, tuple(out))
    if ruled_out:
        first = min(ruled_out, key=lambda p: p.p_below_holm)
        eq = sum(p.equivalent for p in ruled_out)
        reason = (f"the claimed gain is ruled out on {len(ruled_out)} of {len(out)} part(s); {_part_text(first)} "
                  f"< δ {first.delta_used:.3f}")
        if eq:
            reason += f"; {eq} part(s) equivalent within ±δ"
        return Verdict(Status.RULED_OUT, reason, tuple(out))
    if by[Status.NOT_ASSESSABLE]:
        return Verdict(Status.NOT_ASSESSABLE, "; ".join(f"{p.label}: {p.note}" for p in by[Status.NOT_ASSESSABLE]),
                       tuple(out))
    open_ = [p for p in out if p.status is Status.NOT_SHOWN]
    need = [p.seeds_needed for p in open_]
    need_c = [p.seeds_needed_claimed for p in open_]
    unit = open_[0].unit if open_ else "unit"
    return Verdict(Status.NOT_SHOWN, f"{len(open_)} of {len(out)} part(s) neither significant nor ruled out; 80 % power "
                   f"would need {_need(need, th)} {unit}s at the observed Δ, {_need(need_c, th)} at the claimed δ", tuple(out))


def _need(values: Sequence[int | None], th: Thresholds) -> str:
    """The most units any open part needs ("more than the cap" when one is out of reach)."""
    if not values:
        return "?"
    if any(v is None for v in values):
        return f"> {th.max_units}"
    return str(max(v for v in values if v is not None))
