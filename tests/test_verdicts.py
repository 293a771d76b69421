"""The pre-registered verdict scheme (xmr.study.verdicts; book page ``book/verdicts.md``).

Every expected number is computed here, independently of the module under test: Student-t intervals and t-tests
are written out with numpy and ``scipy.stats.t`` (or taken from ``scipy.stats.ttest_1samp``), Holm's adjustment by
hand or from ``statsmodels.stats.multitest.multipletests``, the power calculation by a plain loop over n with
statsmodels' ``TTestPower``, and the Nadeau-Bengio corrected resampled t by its formula. Expected verdicts are
reasoned from the rule as the book states it (see the comments beside each case), never read back from the module.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from xmr.study.verdicts import (
    Part,
    Status,
    Thresholds,
    Verdict,
    compare,
    corrected_resampled_t,
    decide,
    holm,
    paired_units,
    seeds_needed,
)

ALPHA = 0.05
BASE = np.array([0.50, 0.52, 0.48, 0.51, 0.49])  # the baseline's per-seed scores of most cases
FLAT = [0.0012, -0.0008, 0.0007, -0.0003, 0.0002]  # Δ ≈ +0.0002 with a tiny spread


# --------------------------------------------------------------------------- helpers (independent references)
def s(values, folds=None) -> pd.Series:
    """Per-run scores indexed by (fold, seed): fold −1 (no cross-validation) unless ``folds`` gives each value's fold;
    seeds are numbered 0, 1, … within each fold."""
    values = [float(v) for v in values]
    folds = [-1] * len(values) if folds is None else [int(f) for f in folds]
    assert len(folds) == len(values)
    seen: dict[int, int] = {}
    seeds = []
    for f in folds:
        seeds.append(seen.get(f, 0))
        seen[f] = seen.get(f, 0) + 1
    index = pd.MultiIndex.from_arrays([folds, seeds], names=["fold", "seed"])
    return pd.Series(values, index=index, dtype=float)


def cv(matrix) -> pd.Series:
    """A k-folds × r-seeds matrix of scores as a cross-validated Series (row f = fold f)."""
    m = np.asarray(matrix, dtype=float)
    return s(m.ravel(), folds=np.repeat(np.arange(m.shape[0]), m.shape[1]))


def pair(d, base=BASE):
    """Scores (a, b) of two random methods over len(d) seeds whose paired differences are ``d``, and those
    differences as floating point makes them (a − b)."""
    b = np.asarray(base, dtype=float)[: len(d)]
    a = b + np.asarray(d, dtype=float)
    return s(a), s(b), a - b


def t_interval(d, alpha=ALPHA):
    """Student-t interval of the mean, written out: mean ± t_{1−α/2, n−1} · sd / √n."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    half = stats.t.ppf(1 - alpha / 2, n - 1) * np.std(d, ddof=1) / math.sqrt(n)
    return d.mean() - half, d.mean() + half


def t_p(d, mu=0.0, alternative="two-sided"):
    """The one-sample t-test's p, written out from the t distribution."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    t = (d.mean() - mu) / (np.std(d, ddof=1) / math.sqrt(n))
    if alternative == "two-sided":
        return 2 * stats.t.sf(abs(t), n - 1)
    if alternative == "less":
        return stats.t.cdf(t, n - 1)
    return stats.t.sf(t, n - 1)


def holm_by_hand(p):
    """Holm (1979): the i-th smallest p times (m − i + 1), running maximum, capped at 1."""
    p = list(map(float, p))
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, p[i] * (m - rank)))
        out[i] = running
    return out


def power_n(effect, sd, alpha=0.05, power=0.8, max_units=1000):
    """The smallest n ≥ 2 at which statsmodels' paired t-test power reaches ``power``: a plain loop."""
    es = abs(effect) / sd
    for n in range(2, max_units + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if TTestPower().power(effect_size=es, nobs=n, alpha=alpha, alternative="two-sided") >= power:
                return n
    return None


def close(x, y, rel=1e-9, abs_=1e-12):
    return x == pytest.approx(y, rel=rel, abs=abs_)


# --------------------------------------------------------------------------- 1. held
def test_significant_gain_on_every_part_is_held():
    d1 = [0.03, 0.05, 0.04, 0.06, 0.02]
    d2 = [0.10, 0.12, 0.09, 0.11, 0.13]
    a1, b1, e1 = pair(d1)
    a2, b2, e2 = pair(d2)
    p1 = compare("Img2Txt", a1, b1)
    p2 = compare("Txt2Img", a2, b2)
    for part, e in ((p1, e1), (p2, e2)):
        assert part.unit == "seed" and part.n_units == 5
        assert close(part.delta, e.mean())
        assert close(part.sd, np.std(e, ddof=1))
        lo, hi = t_interval(e)
        assert close(part.ci_low, lo) and close(part.ci_high, hi)
        assert close(part.p, stats.ttest_1samp(e, 0.0).pvalue)
        assert close(part.p, t_p(e))
        assert part.wins == 1.0
        assert lo > 0
    v = decide([p1, p2])
    assert isinstance(v, Verdict)
    assert v.status is Status.HELD
    assert [p.status for p in v.parts] == [Status.HELD, Status.HELD]
    # Holm over the claim's two parts, by hand
    expected = holm_by_hand([p1.p, p2.p])
    assert close(v.parts[0].p_holm, expected[0]) and close(v.parts[1].p_holm, expected[1])
    assert "above 0" in v.reason


def test_wins_is_the_share_of_units_where_a_is_ahead():
    a, b, e = pair([0.03, -0.01, 0.04, 0.02, -0.02])
    assert compare("x", a, b).wins == pytest.approx(3 / 5)


# --------------------------------------------------------------------------- 2./3. reversal and Holm
def test_significant_reversal_on_one_of_three_parts_is_reversed_after_holm():
    d = {"P1": [0.03, 0.05, 0.04, 0.06, 0.02],          # a gain
         "P2": [0.02, -0.01, 0.03, 0.00, 0.01],          # nothing clear
         "P3": [-0.10, -0.11, -0.09, -0.105, -0.095]}    # a tight reversal: raw p ~ 1e-6
    parts, diffs = [], []
    for label, x in d.items():
        a, b, e = pair(x)
        parts.append(compare(label, a, b))
        diffs.append(e)
    raw = [stats.ttest_1samp(e, 0.0).pvalue for e in diffs]
    adj = holm_by_hand(raw)
    assert adj[2] < ALPHA  # the reversed part survives Holm over m = 3
    v = decide(parts)
    assert v.status is Status.REVERSED
    assert v.status.refuted and v.status.decided
    for part, want in zip(v.parts, adj):
        assert close(part.p_holm, want)
    assert v.parts[2].status is Status.REVERSED
    assert v.parts[0].status is Status.HELD
    assert "1 of 3" in v.reason and "P3" in v.reason


def _holm_rescued_parts():
    """Three parts: one reversal with raw p < 0.05 but Holm p ≥ 0.05 over three parts, and two wide nulls."""
    d = {"P1": [0.20, -0.25, 0.10, -0.15, 0.05],        # wide null, mean −0.01
         "P2": [-0.20, 0.30, 0.05, -0.10, 0.00],        # wide null, mean +0.01
         "P3": [-0.05, -0.35, -0.10, -0.30, -0.20]}     # mean −0.2, raw p ≈ 0.025
    parts, diffs = [], []
    for label, x in d.items():
        a, b, e = pair(x)
        parts.append(compare(label, a, b))
        diffs.append(e)
    return parts, diffs


def test_reversal_that_holm_does_not_keep_is_not_reversed_but_not_shown():
    parts, diffs = _holm_rescued_parts()
    raw = [stats.ttest_1samp(e, 0.0).pvalue for e in diffs]
    assert raw[2] < ALPHA                        # significant on its own ...
    adj = holm_by_hand(raw)
    assert adj[2] == pytest.approx(3 * raw[2])   # ... smallest of three: times 3 ...
    assert adj[2] >= ALPHA                       # ... not after Holm
    # nor is the claimed gain (δ = 0.01, the smallest effect of interest) ruled out anywhere after Holm at α/2
    below = [stats.ttest_1samp(e, 0.01, alternative="less").pvalue for e in diffs]
    assert min(below) < ALPHA / 2 and min(holm_by_hand(below)) >= ALPHA / 2
    v = decide(parts)
    assert v.status is Status.NOT_SHOWN
    assert all(p.status is Status.NOT_SHOWN for p in v.parts)
    assert close(v.parts[2].p_holm, adj[2])
    assert close(v.parts[2].p_below_holm, holm_by_hand(below)[2])
    assert "3 of 3" in v.reason


def test_the_same_reversal_alone_is_reversed():
    # the part that Holm rescued above, judged as a claim of one part (m = 1): p_holm = p < α, Δ < 0
    parts, diffs = _holm_rescued_parts()
    v = decide([parts[2]])
    assert v.status is Status.REVERSED
    assert close(v.parts[0].p_holm, stats.ttest_1samp(diffs[2], 0.0).pvalue)


def test_holm_counts_only_assessable_parts():
    # a deterministic pair (one unit, no test) does not enter Holm's m: the reversal is judged with m = 1
    parts, diffs = _holm_rescued_parts()
    det = compare("det", s([0.6] * 5), s([0.5] * 5))
    v = decide([det, parts[2]])
    assert v.status is Status.REVERSED
    assert math.isnan(v.parts[0].p_holm)
    assert close(v.parts[1].p_holm, stats.ttest_1samp(diffs[2], 0.0).pvalue)


# --------------------------------------------------------------------------- 4. ruled out, equivalence
def test_tight_interval_below_the_claimed_gain_is_ruled_out_and_equivalent():
    a, b, e = pair(FLAT)
    part = compare("P", a, b, delta_claimed=0.05, delta_source="Table 1")
    assert part.delta_used == 0.05
    assert close(part.p_below, stats.ttest_1samp(e, 0.05, alternative="less").pvalue, rel=1e-7, abs_=1e-300)
    assert close(part.p_below, t_p(e, 0.05, "less"), rel=1e-7, abs_=1e-300)
    lo, hi = t_interval(e)
    assert lo < 0 < hi and hi < 0.05 and lo > -0.05  # within ±δ: equivalent
    assert part.equivalent is True
    v = decide([part])
    assert v.status is Status.RULED_OUT
    assert v.parts[0].status is Status.RULED_OUT
    assert v.status.refuted
    assert v.parts[0].delta_source == "Table 1"
    assert "ruled out" in v.reason and "equivalent" in v.reason


def test_interval_below_delta_but_not_above_minus_delta_is_not_equivalent():
    # an interval below δ that also reaches under −δ: not equivalent within ±δ. With a tight spread that means a
    # significant negative Δ, so the part is reversed (reversed outranks ruled out).
    a, b, e = pair([-0.030, -0.031, -0.029, -0.0305, -0.0295])
    part = compare("P", a, b, delta_claimed=0.02)
    lo, hi = t_interval(e)
    assert hi < 0.02 and lo < -0.02
    assert part.equivalent is False
    assert decide([part]).status is Status.REVERSED  # reversed outranks ruled out


def test_equivalence_is_two_one_sided_tests():
    # interval inside ±δ ⇔ both one-sided p below α/2; checked against scipy on a mid-spread sample
    a, b, e = pair([0.004, -0.003, 0.002, -0.001, 0.001])
    part = compare("P", a, b, delta_claimed=0.01)
    p_lo = stats.ttest_1samp(e, 0.01, alternative="less").pvalue
    p_hi = stats.ttest_1samp(e, -0.01, alternative="greater").pvalue
    assert part.equivalent is bool(max(p_lo, p_hi) < ALPHA / 2)
    lo, hi = t_interval(e)
    assert part.equivalent is bool(lo > -0.01 and hi < 0.01)


# --------------------------------------------------------------------------- 5. not shown and power
def test_null_with_wide_interval_is_not_shown_with_units_for_power():
    a, b, e = pair([0.05, -0.04, 0.03, -0.02, 0.03])
    part = compare("P", a, b, delta_claimed=0.03)
    sd = np.std(e, ddof=1)
    lo, hi = t_interval(e)
    assert lo < 0 < hi and hi > 0.03
    want = power_n(e.mean(), sd)
    want_claimed = power_n(0.03, sd)
    assert want is not None and want_claimed is not None and want != want_claimed
    assert part.seeds_needed == want
    assert part.seeds_needed_claimed == want_claimed
    v = decide([part])
    assert v.status is Status.NOT_SHOWN
    assert not v.status.decided
    assert f"{want} seeds" in v.reason and f"{want_claimed} at the claimed" in v.reason


@pytest.mark.parametrize("alpha,power", [(0.05, 0.8), (0.01, 0.9), (0.10, 0.5), (0.05, 0.95), (0.05, 0.2), (0.01, 0.3)])
@pytest.mark.parametrize("es", [0.07, 0.2, 0.35, 0.5, 0.8, 1.0, 1.3, 2.0, 3.0, 5.0, 12.0])
def test_seeds_needed_is_the_smallest_n_reaching_the_power(es, alpha, power):
    th = Thresholds(alpha=alpha, power=power)
    sd = 0.04
    assert seeds_needed(es * sd, sd, th) == power_n(es * sd, sd, alpha, power)
    assert seeds_needed(-es * sd, sd, th) == power_n(es * sd, sd, alpha, power)  # the sign does not matter


def test_seeds_needed_out_of_reach_or_undefined_is_none():
    sd = 0.05
    assert power_n(0.005, sd, max_units=100) is None  # effect size 0.1 needs ~ 800 units
    assert seeds_needed(0.005, sd, Thresholds(max_units=100)) is None
    assert seeds_needed(0.005, sd) == power_n(0.005, sd)
    assert seeds_needed(0.0, sd) is None
    assert seeds_needed(0.01, 0.0) is None
    assert seeds_needed(0.01, math.nan) is None


# a vanishing effect once made the search window overflow int64 (found by this test); it is out of reach: None
@pytest.mark.parametrize("effect", [1e-12, 1e-17, 4e-11])  # effect sizes (÷ sd 0.05) 2e-11, 2e-16, 8e-10
def test_seeds_needed_for_a_vanishing_effect_is_none(effect):
    # power_n would loop to max_units and return None: an effect size of 1e-10 or less is out of reach
    assert seeds_needed(effect, 0.05) is None


def test_symmetric_differences_with_zero_mean_are_ruled_out():
    # mean of the differences is 1.1e-17 (0 up to rounding), sd 7.9e-4, δ = 0.05: interval inside ±δ → ruled out,
    # equivalent; no number of seeds gives power at Δ ≈ 0
    a, b, e = pair([0.001, -0.001, 0.0005, -0.0005, 0.0])
    assert abs(e.mean()) < 1e-15
    part = compare("P", a, b, delta_claimed=0.05)
    assert part.seeds_needed is None
    assert part.seeds_needed_claimed == power_n(0.05, np.std(e, ddof=1))
    assert part.equivalent is True
    assert decide([part]).status is Status.RULED_OUT


# --------------------------------------------------------------------------- 6./7. deterministic methods
def test_two_deterministic_methods_are_one_unit_and_not_assessable():
    part = compare("CCA − GMA", s([0.60] * 5), s([0.55] * 5))
    assert part.n_units == 1
    assert part.unit == "deterministic pair"
    assert part.status is Status.NOT_ASSESSABLE
    assert math.isnan(part.p) and part.p != 0
    assert math.isnan(part.ci_low) and math.isnan(part.ci_high)
    assert part.delta == pytest.approx(0.05)
    v = decide([part])
    assert v.status is Status.NOT_ASSESSABLE
    assert math.isnan(v.parts[0].p) and math.isnan(v.parts[0].p_holm)
    u = paired_units(s([0.60] * 5), s([0.55] * 5))
    assert u.unit == "deterministic pair" and len(u.diffs) == 1 and len(u.runs) == 5


def test_deterministic_against_random_uses_the_random_seeds():
    b = np.array([0.50, 0.53, 0.47, 0.52, 0.49])
    part = compare("det − random", s([0.60] * 5), s(b))
    e = 0.60 - b
    assert part.unit == "seed" and part.n_units == 5
    assert close(part.delta, e.mean())
    assert close(part.p, stats.ttest_1samp(e, 0.0).pvalue)
    lo, hi = t_interval(e)
    assert close(part.ci_low, lo) and close(part.ci_high, hi)
    # and the other way round
    rev = compare("random − det", s(b), s([0.60] * 5))
    assert rev.unit == "seed" and rev.n_units == 5 and close(rev.p, part.p) and close(rev.delta, -part.delta)


def test_random_methods_with_a_constant_difference_are_not_assessable():
    a, b, e = pair([0.125] * 5, base=[0.25, 0.5, 0.125, 0.375, 0.0625])  # exact binary fractions: Δ exactly constant
    assert np.all(e == e[0])
    part = compare("P", a, b)
    assert part.unit == "seed" and part.n_units == 5
    assert part.status is Status.NOT_ASSESSABLE and math.isnan(part.p)
    assert decide([part]).status is Status.NOT_ASSESSABLE


def test_a_difference_constant_up_to_rounding_has_no_variance_estimate():
    # a = b + 0.03 in floating point: the differences spread by ~1e-17, which is rounding, not variance; a t-test
    # on them would give p ≈ 0 ("never p = 0"), so the part is not assessable
    a, b, e = pair([0.03] * 5, base=[0.1, 0.7, 0.33, 0.9, 0.45])
    assert 0 < np.ptp(e) < 1e-15
    part = compare("P", a, b)
    assert part.status is Status.NOT_ASSESSABLE and math.isnan(part.p)
    # deterministic scores equal up to rounding on each seed are still one unit
    noisy_det = s(0.6 + np.array([0.0, 1e-16, -1e-16, 0.0, 2e-16]))
    assert paired_units(noisy_det, s([0.55] * 5)).unit == "deterministic pair"


# --------------------------------------------------------------------------- 8. cross-validation
def _cv_pair():
    """5 folds × 5 seeds: a fold-level effect that changes sign across folds, small seed noise within a fold."""
    rng = np.random.default_rng(7)
    fold_effect = np.array([0.05, -0.01, 0.04, 0.03, -0.02])
    level = np.array([0.40, 0.45, 0.42, 0.38, 0.44])  # each fold's baseline level
    b = level[:, None] + rng.normal(0, 0.002, (5, 5))
    a = b + fold_effect[:, None] + rng.normal(0, 0.002, (5, 5))
    return a, b


def test_cross_validated_unit_is_the_fold():
    a, b = _cv_pair()
    part = compare("P", cv(a), cv(b))
    runs = (a - b).ravel()
    per_fold = a.mean(axis=1) - b.mean(axis=1)  # seeds averaged within each fold, per method
    assert part.unit == "fold" and part.n_units == 5
    assert close(part.delta, per_fold.mean())
    fold_p = t_p(per_fold)
    assert close(part.p, fold_p)
    assert close(part.p, stats.ttest_1samp(per_fold, 0.0).pvalue)
    lo, hi = t_interval(per_fold)
    assert close(part.ci_low, lo) and close(part.ci_high, hi)
    # the naive test over the 25 (fold, seed) runs disagrees
    naive_p = t_p(runs)
    assert naive_p < ALPHA < part.p
    # Nadeau-Bengio corrected resampled t over all J = 25 runs of a k = 5-fold design
    j, k = len(runs), 5
    t = runs.mean() / math.sqrt((1 / j + 1 / (k - 1)) * np.var(runs, ddof=1))
    want = 2 * stats.t.sf(abs(t), j - 1)
    assert close(part.p_corrected, want)
    assert close(corrected_resampled_t(runs, 5), want)
    v = decide([part])
    assert v.status is Status.NOT_SHOWN
    assert "folds" in v.reason


def test_no_corrected_t_without_folds():
    a, b, _ = pair([0.03, 0.05, 0.04, 0.06, 0.02])
    assert math.isnan(compare("P", a, b).p_corrected)
    assert math.isnan(corrected_resampled_t(np.array([0.1, 0.2, 0.3]), 1))
    assert math.isnan(corrected_resampled_t(np.array([0.1]), 5))
    assert math.isnan(corrected_resampled_t(np.array([0.25, 0.25, 0.25]), 3))


def test_unbalanced_folds_average_seeds_within_each_fold():
    # fold 0 has 4 seeds, fold 1 has 1, fold 2 has 2: Δ is the mean of the three fold means, not of the 7 runs
    folds = [0, 0, 0, 0, 1, 2, 2]
    a = np.array([0.50, 0.52, 0.54, 0.56, 0.40, 0.45, 0.47])
    b = np.array([0.49, 0.50, 0.50, 0.51, 0.43, 0.44, 0.44])
    part = compare("P", s(a, folds), s(b, folds))
    per_fold = np.array([a[:4].mean() - b[:4].mean(), a[4] - b[4], a[5:].mean() - b[5:].mean()])
    assert part.unit == "fold" and part.n_units == 3
    assert close(part.delta, per_fold.mean())
    assert not close(part.delta, (a - b).mean())
    assert close(part.p, stats.ttest_1samp(per_fold, 0.0).pvalue)


def test_deterministic_methods_on_folds_are_tested_over_folds():
    # one score per fold, repeated over 3 seeds: deterministic, but the folds give 5 units
    fa = np.array([0.50, 0.47, 0.55, 0.52, 0.49])
    fb = np.array([0.48, 0.47, 0.50, 0.49, 0.49])
    part = compare("P", cv(np.repeat(fa[:, None], 3, axis=1)), cv(np.repeat(fb[:, None], 3, axis=1)))
    assert part.unit == "fold" and part.n_units == 5
    assert close(part.p, stats.ttest_1samp(fa - fb, 0.0).pvalue)


def test_pairs_are_matched_by_unit_not_by_position_and_missing_runs_drop_out():
    a_vals = np.array([0.55, 0.58, 0.50, 0.57, 0.54])
    b_vals = np.array([0.50, 0.52, 0.48, 0.51, 0.49])
    a = s(a_vals)
    b = s(b_vals).iloc[[3, 0, 4, 1, 2]]  # another order
    part = compare("P", a, b)
    assert close(part.p, stats.ttest_1samp(a_vals - b_vals, 0.0).pvalue)
    a_nan = a.copy()
    a_nan.iloc[1] = np.nan
    part = compare("P", a_nan, b)
    keep = [0, 2, 3, 4]
    assert part.n_units == 4
    assert close(part.p, stats.ttest_1samp(a_vals[keep] - b_vals[keep], 0.0).pvalue)


# --------------------------------------------------------------------------- 9. another level
def test_alpha_001_changes_a_borderline_verdict():
    a, b, e = pair([0.02, 0.08, 0.05, 0.01, 0.09])
    p = stats.ttest_1samp(e, 0.0).pvalue
    assert 0.01 < p < 0.05 and e.mean() > 0
    # at α = 0.05: the 95 % interval lies above 0 → held
    held = decide([compare("P", a, b)])
    assert held.status is Status.HELD
    # at α = 0.01: the 99 % interval includes 0 (p > 0.01), Δ > 0 so nothing is reversed, and Δ ≈ 0.05 lies well
    # above δ = 0.01 so the gain is not ruled out (one-sided p of Δ ≥ δ far above α/2) → not shown
    th = Thresholds(alpha=0.01)
    lo, hi = t_interval(e, alpha=0.01)
    assert lo < 0 < hi
    assert stats.ttest_1samp(e, 0.01, alternative="less").pvalue > 0.005
    part = compare("P", a, b, th=th)
    assert close(part.ci_low, lo) and close(part.ci_high, hi)
    assert part.seeds_needed == power_n(e.mean(), np.std(e, ddof=1), alpha=0.01)
    v = decide([part], th)
    assert v.status is Status.NOT_SHOWN


def test_alpha_001_keeps_a_borderline_reversal_from_being_reversed():
    # the reversal of _holm_rescued_parts alone: 0.01 < p < 0.05, Δ < 0 → reversed at α = 0.05, not at α = 0.01
    e = np.array([-0.05, -0.35, -0.10, -0.30, -0.20])
    a, b, e = pair(e)
    assert 0.01 < stats.ttest_1samp(e, 0.0).pvalue < 0.05
    th = Thresholds(alpha=0.01)
    assert decide([compare("P", a, b)]).status is Status.REVERSED
    assert decide([compare("P", a, b, th=th)], th).status is not Status.REVERSED


# --------------------------------------------------------------------------- 10. smallest effect of interest
@pytest.mark.parametrize("claimed,floor,want", [(0.004, 0.01, 0.01), (0.03, 0.01, 0.03), (None, 0.01, 0.01),
                                                 (None, 0.02, 0.02), (0.01, 0.01, 0.01), (0.0, 0.0, 0.0)])
def test_claimed_gain_is_raised_to_the_smallest_effect_of_interest(claimed, floor, want):
    a, b, e = pair([0.03, 0.05, 0.04, 0.06, 0.02])
    part = compare("P", a, b, delta_claimed=claimed, delta_source="src", th=Thresholds(min_effect=floor))
    assert part.delta_claimed == claimed
    assert part.delta_source == "src"
    assert part.delta_used == want
    assert close(part.p_below, stats.ttest_1samp(e, want, alternative="less").pvalue)
    assert part.seeds_needed_claimed == (power_n(want, np.std(e, ddof=1)) if want > 0 else None)


# --------------------------------------------------------------------------- 11. precedence
def test_held_on_every_part_with_the_papers_size_ruled_out_is_held_and_says_so():
    a1, b1, e1 = pair([0.0050, 0.0052, 0.0048, 0.0051, 0.0049])  # a real but small gain; paper claims 0.05
    a2, b2, e2 = pair([0.10, 0.12, 0.09, 0.11, 0.10])            # a large gain; paper claims 0.02
    p1 = compare("Small", a1, b1, delta_claimed=0.05)
    p2 = compare("Large", a2, b2, delta_claimed=0.02)
    assert t_interval(e1)[0] > 0 and t_interval(e1)[1] < 0.05
    below = holm_by_hand([stats.ttest_1samp(e1, 0.05, alternative="less").pvalue,
                          stats.ttest_1samp(e2, 0.02, alternative="less").pvalue])
    assert below[0] < ALPHA / 2 <= below[1]
    v = decide([p1, p2])
    assert v.status is Status.HELD
    assert [p.status for p in v.parts] == [Status.HELD, Status.HELD]
    assert "ruled out" in v.reason and "Small" in v.reason


def test_held_part_and_ruled_out_part_is_ruled_out():
    a1, b1, _ = pair([0.10, 0.12, 0.09, 0.11, 0.10])
    a2, b2, _ = pair(FLAT)
    v = decide([compare("Up", a1, b1), compare("Flat", a2, b2, delta_claimed=0.05)])
    assert [p.status for p in v.parts] == [Status.HELD, Status.RULED_OUT]
    assert v.status is Status.RULED_OUT  # not every part held: held does not apply, ruled out does


def test_held_part_and_reversed_part_is_reversed():
    a1, b1, _ = pair([0.10, 0.12, 0.09, 0.11, 0.10])
    a2, b2, _ = pair([-0.10, -0.11, -0.09, -0.105, -0.095])
    v = decide([compare("Up", a1, b1), compare("Down", a2, b2)])
    assert [p.status for p in v.parts] == [Status.HELD, Status.REVERSED]
    assert v.status is Status.REVERSED


def test_not_testable_part_with_held_parts_is_not_testable():
    a1, b1, _ = pair([0.10, 0.12, 0.09, 0.11, 0.10])
    empty = s([])
    missing = compare("Missing", empty, b1)
    assert missing.status is Status.NOT_TESTABLE and missing.n_units == 0
    assert compare("Missing", a1, empty).status is Status.NOT_TESTABLE
    v = decide([compare("Up", a1, b1), compare("Up2", a1, b1), missing])
    assert v.status is Status.NOT_TESTABLE
    assert "Missing" in v.reason
    assert decide([missing, missing]).status is Status.NOT_TESTABLE
    assert decide([]).status is Status.NOT_TESTABLE


def test_reversed_outranks_a_not_testable_part():
    # "not testable (no part ran) > reversed": a part that did run and is reversed decides the claim
    a2, b2, _ = pair([-0.10, -0.11, -0.09, -0.105, -0.095])
    v = decide([compare("Missing", s([]), s([])), compare("Down", a2, b2)])
    assert v.status is Status.REVERSED


# the plain empty Series unit_scores returns for a run with no rows once raised a pandas join error (found by this test)
def test_plain_empty_series_as_unit_scores_returns_it_is_not_testable():
    a1, _, _ = pair([0.10, 0.12, 0.09, 0.11, 0.10])
    part = compare("Missing", pd.Series(dtype=float), a1)
    assert part.status is Status.NOT_TESTABLE and part.n_units == 0


def test_ruled_out_outranks_not_assessable_which_outranks_not_shown():
    flat_a, flat_b, _ = pair(FLAT)
    ruled = compare("Flat", flat_a, flat_b, delta_claimed=0.05)
    det = compare("Det", s([0.6] * 5), s([0.5] * 5))
    wide_a, wide_b, _ = pair([0.05, -0.04, 0.03, -0.02, 0.03])
    wide = compare("Wide", wide_a, wide_b, delta_claimed=0.03)
    up_a, up_b, _ = pair([0.10, 0.12, 0.09, 0.11, 0.10])
    up = compare("Up", up_a, up_b)
    assert decide([ruled, det]).status is Status.RULED_OUT
    assert decide([det, wide]).status is Status.NOT_ASSESSABLE
    assert decide([up, det]).status is Status.NOT_ASSESSABLE  # held needs every part
    assert decide([up, wide]).status is Status.NOT_SHOWN


# --------------------------------------------------------------------------- 12. Holm
def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == pytest.approx([0.02])
    assert holm([]) == []


@pytest.mark.parametrize("seed", range(20))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 12))
    p = rng.uniform(0, 1, m) ** rng.uniform(1, 6)  # many small ones
    if seed % 4 == 0 and m > 1:
        p[1] = p[0]  # a tie
    want = multipletests(p, method="holm")[1]
    assert holm(list(p)) == pytest.approx(list(want), rel=1e-12, abs=1e-15)
    assert holm(p) == pytest.approx(holm_by_hand(p), rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------- 13. thresholds
@pytest.mark.parametrize("kwargs", [dict(alpha=0), dict(alpha=1), dict(alpha=-0.05), dict(alpha=1.5),
                                    dict(alpha=math.nan), dict(min_effect=-0.01), dict(min_effect=math.nan),
                                    dict(min_effect=math.inf), dict(power=0), dict(power=1), dict(power=1.2),
                                    dict(power=-0.1), dict(power=math.nan)])
def test_thresholds_reject_bad_values(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


def test_thresholds_defaults_and_valid_values():
    th = Thresholds()
    assert (th.alpha, th.min_effect, th.power) == (0.05, 0.01, 0.8)
    Thresholds(alpha=0.01, min_effect=0.0, power=0.9)


# --------------------------------------------------------------------------- 14. serialisation and rendering
def test_part_to_dict_turns_nan_into_none_and_status_into_text():
    det = compare("Det", s([0.6] * 5), s([0.5] * 5), delta_claimed=0.02, delta_source="Table 2")
    d = det.to_dict()
    assert d["status"] == "not assessable" and type(d["status"]) is str
    for key in ("p", "p_holm", "p_below", "sd", "ci_low", "ci_high", "p_corrected"):
        assert d[key] is None, key
    assert d["delta"] == pytest.approx(0.1)
    assert d["n_units"] == 1 and d["unit"] == "deterministic pair"
    assert d["delta_claimed"] == 0.02 and d["delta_source"] == "Table 2" and d["delta_used"] == 0.02
    assert d["seeds_needed"] is None
    a, b, e = pair([0.03, 0.05, 0.04, 0.06, 0.02])
    v = decide([compare("Up", a, b)])
    out = v.to_dict()
    assert out["status"] == "held" and type(out["status"]) is str
    assert out["parts"][0]["status"] == "held"
    assert out["parts"][0]["p"] == pytest.approx(stats.ttest_1samp(e, 0.0).pvalue)
    assert out["parts"][0]["p_corrected"] is None


def test_status_renders_as_its_text():
    assert str(Status.HELD) == "held"
    assert f"{Status.NOT_SHOWN}" == "not shown"
    assert Status.HELD == "held"
    assert str(Status.REVERSED) == "refuted — reversed"
    assert str(Status.RULED_OUT) == "refuted — claimed gain ruled out"
    assert Status.REVERSED.refuted and Status.RULED_OUT.refuted and not Status.HELD.refuted
    assert Status.HELD.decided and not Status.NOT_SHOWN.decided and not Status.NOT_ASSESSABLE.decided
    assert isinstance(Part("x").status, Status)
