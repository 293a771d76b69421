"""The claims of both papers and the rules that judge them from runs."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .stats import paired_test

__all__ = ["judge_better", "combine_verdicts", "claim"]


def judge_better(a: pd.Series, b: pd.Series, *, alpha: float = 0.05) -> tuple[str, str]:
    """Verdict on "a beats b" from paired units: ``held``, ``inconclusive`` or ``not held``, with the evidence.

    ``held``: mean difference > 0 and the paired t-test significant at ``alpha``.
    ``inconclusive``: right direction, but not significant or fewer than 2 units.
    ``not held``: mean difference ≤ 0.
    """
    t = paired_test(a, b)
    if t["n"] == 0:
        return "not testable here", "no paired results"
    ev = f"Δ = {t['mean_diff']:+.3f} over {t['n']} unit(s)"
    if t["n"] >= 2:
        ev += f", paired t p = {t['p_t']:.3g}, Wilcoxon p = {t['p_wilcoxon']:.3g}"
    if t["mean_diff"] <= 0:
        return "not held", ev
    if t["n"] < 2 or not (t["p_t"] < alpha):
        return "inconclusive", ev
    return "held", ev


def combine_verdicts(verdicts: Sequence[tuple[str, str]], labels: Sequence[str] | None = None) -> tuple[str, str]:
    """Verdict of a claim made of several parts that must all hold (e.g. both tasks, every baseline).

    Any part not testable -> ``not testable here``; else any part ``not held`` ->
    ``not held``; else all ``held`` -> ``held``; else ``inconclusive``.
    """
    statuses = [v[0] for v in verdicts]
    if not statuses or "not testable here" in statuses:
        status = "not testable here"
    elif "not held" in statuses:
        status = "not held"
    elif all(s == "held" for s in statuses):
        status = "held"
    else:
        status = "inconclusive"
    labels = labels or [""] * len(verdicts)
    evidence = "; ".join(f"{lab}: {s} ({e})" if lab else f"{s} ({e})" for lab, (s, e) in zip(labels, verdicts))
    return status, evidence


def claim(paper: str, claim_id: str, text: str, where: str, chapter: str, status: str, evidence: str) -> dict[str, str]:
    """One ledger row; ``chapter`` is the notebook name (without extension) that holds the evidence."""
    allowed = {"held", "not held", "inconclusive", "not testable here"}
    if status not in allowed:
        raise ValueError(f"status must be one of {sorted(allowed)}, got {status!r}")
    return {"paper": paper, "id": claim_id, "claim": text, "where": where, "status": status, "evidence": evidence, "chapter": chapter}
