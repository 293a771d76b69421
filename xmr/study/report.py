"""What the book's notebooks share: running experiments at a scale, comparing with the papers, testing, plotting.

The notebooks hold no training code: they call :class:`Runner` (a thin layer over
:func:`xmr.experiments.run` that fixes seeds, epochs and device per book scale and
lists methods that are not written yet as "not run"), :func:`compare` (published
value beside ours, mean ± std over seeds, 95 % CI, difference), :func:`paired_test`
(paired t-test and Wilcoxon signed-rank test across seeds) and the seaborn helpers
``plot_*``.

Statistics conventions
----------------------
* A *unit* is one independent training run: a seed, or a (fold, seed) pair on the
  5-fold ``pascal100`` set. Means, standard deviations (``ddof=1``) and confidence
  intervals are over units.
* The 95 % confidence interval of a mean is Student's t interval,
  ``mean ± t_{0.975, n-1} · std / sqrt(n)``; it is undefined (NaN) for one unit.
* Paired tests pair units by their key (seed, or fold and seed), so both methods
  saw the same split and the same seed. Both tests are two-sided. With 5 units the
  smallest two-sided Wilcoxon p-value is 0.0625, so the Wilcoxon test alone can
  never reach 0.05 at 5 seeds; the t-test is the primary test, Wilcoxon a
  distribution-free check.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "TASKS", "TASK_LABELS", "Scale", "scale_settings", "Runs", "Runner",
    "mean_ci", "long_scores", "compare", "format_comparison", "paired_test", "paired_tests", "format_tests",
    "interpolated_pr", "unit_scores", "judge_better", "combine_verdicts", "pr_dominance", "convergence_stats", "claim", "ledger_html", "show",
    "set_style", "plot_comparison", "plot_pr", "plot_history", "plot_heatmaps",
]

TASKS = ("i2t", "t2i", "avg")
TASK_LABELS = {"i2t": "Img2Txt", "t2i": "Txt2Img", "avg": "Average"}
UNIT = ["fold", "seed"]


# --------------------------------------------------------------------------- scale


@dataclass(frozen=True)
class Scale:
    """The settings a book scale fixes for every chapter.

    ``epochs=None`` means each method's own default (the papers' settings);
    ``folds`` are the ``pascal100`` folds run; ``grid`` the α/β values of the
    SMCR sensitivity experiment.
    """

    name: str
    seeds: tuple[int, ...]
    epochs: int | None
    device: str | None
    folds: tuple[int, ...]
    grid: tuple[float, ...]


def scale_settings(scale: str, *, seeds: Sequence[int] | None = None, epochs: int | None = None, device: str | None = None) -> Scale:
    """Defaults of a book scale, each overridable: ``"smoke"`` (1 seed, 4 epochs, 1 fold, 2x2 grid) or ``"full"``.

    ``full`` is the papers' protocol: 5 seeds, each method's default epochs, all 5
    ``pascal100`` folds, α, β ∈ {0.1, 1, 10, 100}. ``smoke`` only checks that every
    chapter runs; 4 epochs is the fewest that CMDN's three training stages accept.
    """
    if scale == "smoke":
        base = Scale("smoke", (0,), 4, device, (0,), (0.1, 10.0))
    elif scale == "full":
        base = Scale("full", (0, 1, 2, 3, 4), None, device, (0, 1, 2, 3, 4), (0.1, 1.0, 10.0, 100.0))
    else:
        raise ValueError(f"unknown scale {scale!r}; use 'full' or 'smoke'")
    return Scale(
        base.name,
        tuple(int(s) for s in seeds) if seeds is not None else base.seeds,
        int(epochs) if epochs is not None else base.epochs,
        device,
        base.folds,
        base.grid,
    )


# --------------------------------------------------------------------------- running


@dataclass
class Runs:
    """Results of one method on one dataset over all units (seeds, and folds where there are folds).

    ``table`` has one row per unit (the columns of ``xmr.experiments`` results plus
    ``fold``, ``variant`` and ``label``); ``history`` and ``pr`` gain ``fold`` too.
    ``missing`` is the reason when the run could not be made (method or dataset not
    available here); then the frames are empty.
    """

    method: str
    dataset: str
    label: str
    variant: str = "full"
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    pr: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: str | None = None

    @property
    def ok(self) -> bool:
        return self.missing is None


#: Set by :func:`xmr.build.book.plan`: runners append each requested run to this file instead of training.
PLAN_FILE_ENV = "XMR_PLAN_FILE"
PLAN_CHAPTER_ENV = "XMR_PLAN_CHAPTER"


class Runner:
    """Runs experiments for a notebook at a book scale, with each run cached by :mod:`xmr.experiments`.

    >>> runner = Runner(scale="smoke")
    >>> dacsl = runner.run("dacsl", "wikipedia", protocol="dscmr")
    >>> runner.not_run          # methods / datasets that do not exist (yet)

    A method that is not registered, a dataset that is not available in this
    checkout, or data that raise :class:`xmr.data.DataUnavailableError` (files that
    are not public) yield an empty :class:`Runs` with ``missing`` set, so a chapter
    can list it as "not run". Every other error propagates.
    """

    def __init__(self, scale: str = "full", *, seeds: Sequence[int] | None = None, epochs: int | None = None, device: str | None = None):
        self.settings = scale_settings(scale, seeds=seeds, epochs=epochs, device=device)
        self.not_run: list[dict[str, str]] = []

    def _missing(self, method: str, dataset: str) -> str | None:
        from .. import data, methods

        if method not in methods.names():
            return f"method {method!r} is not implemented in this version of xmr"
        if dataset not in data.names():
            return f"dataset {dataset!r} is not available in this version of xmr"
        return None

    def run(
        self,
        method: str,
        dataset: str,
        *,
        label: str | None = None,
        variant: str = "full",
        protocol: str | None = None,
        folds: Iterable[int] | None = None,
        dataset_options: Mapping[str, Any] | None = None,
        without: Iterable[str] = (),
        epochs: int | None = None,
        **hparams: Any,
    ) -> Runs:
        """Run ``method`` on ``dataset`` for every seed (and every fold in ``folds``); see :func:`xmr.experiments.run`.

        ``epochs`` overrides the scale's epochs for this call; closed-form methods
        get no epochs. For the 5-fold ``pascal100`` set pass ``folds=runner.settings.folds``.
        """
        label = label or method
        reason = self._missing(method, dataset)
        if reason is not None:
            self.not_run.append({"method": method, "dataset": dataset, "variant": variant, "reason": reason})
            return Runs(method, dataset, label, variant, missing=reason)
        from .. import data, experiments, methods

        kwargs: dict[str, Any] = dict(protocol=protocol, seeds=self.settings.seeds, device=self.settings.device, without=tuple(without))
        if methods.get(method).kind == "deep":
            kwargs["epochs"] = epochs if epochs is not None else self.settings.epochs
        fold_list: list[int | None] = list(folds) if folds is not None else [None]
        if os.environ.get(PLAN_FILE_ENV):
            return self._plan_only(method, dataset, label, variant, fold_list, dataset_options, {**kwargs, **hparams})
        tables, histories, prs = [], [], []
        for fold in fold_list:
            options = dict(dataset_options or {})
            if fold is not None:
                options["fold"] = fold
            try:
                res = experiments.run(method, dataset, dataset_options=options or None, **kwargs, **hparams)
            except data.DataUnavailableError as exc:  # e.g. features that cannot be built here: listed, not hidden
                reason = f"data not available: {exc}"
                self.not_run.append({"method": method, "dataset": dataset, "variant": variant, "reason": reason})
                return Runs(method, dataset, label, variant, missing=reason)
            for frame, out in ((res.table, tables), (res.history, histories), (res.pr, prs)):
                frame = frame.copy()
                frame["fold"] = -1 if fold is None else fold
                out.append(frame)
        table = pd.concat(tables, ignore_index=True)
        table["variant"], table["label"] = variant, label
        return Runs(method, dataset, label, variant, table, pd.concat(histories, ignore_index=True), pd.concat(prs, ignore_index=True))

    def _plan_only(self, method: str, dataset: str, label: str, variant: str, fold_list: list[int | None],
                   dataset_options: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> Runs:
        """Plan mode (``$XMR_PLAN_FILE`` set, see :func:`xmr.build.book.plan`): record the request, train nothing."""
        with open(os.environ[PLAN_FILE_ENV], "a", encoding="utf-8") as fh:
            for fold in fold_list:
                options = dict(dataset_options or {}) | ({"fold": fold} if fold is not None else {})
                call = {**kwargs, "seeds": list(kwargs["seeds"]), "without": list(kwargs["without"]),
                        "dataset_options": options or None}
                fh.write(json.dumps({"chapter": os.environ.get(PLAN_CHAPTER_ENV, ""), "method": method,
                                     "dataset": dataset, "kwargs": call}) + "\n")
        reason = "planned only (xmr book --plan): nothing was trained"
        self.not_run.append({"method": method, "dataset": dataset, "variant": variant, "reason": reason})
        return Runs(method, dataset, label, variant, missing=reason)

    def not_run_frame(self) -> pd.DataFrame:
        """What could not be run, and why (empty when everything ran)."""
        return pd.DataFrame(self.not_run, columns=["method", "dataset", "variant", "reason"]).drop_duplicates()


# --------------------------------------------------------------------------- statistics


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample standard deviation, n and Student's t confidence interval of ``values``."""
    x = np.asarray([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": math.nan, "n": 1, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


def _score_column(task: str, metric: str) -> str:
    if metric == "mAP":
        return task
    if metric.startswith("mAP@"):
        return f"{task}@{metric[4:]}"
    raise ValueError(f"unknown metric {metric!r}; use 'mAP' or 'mAP@K'")


def long_scores(runs: Iterable[Runs] | pd.DataFrame, metrics: Sequence[str] = ("mAP",)) -> pd.DataFrame:
    """Per-unit scores in long form: method, variant, label, dataset, fold, seed, metric, task, value."""
    table = runs if isinstance(runs, pd.DataFrame) else pd.concat([r.table for r in runs if r.ok] or [pd.DataFrame()], ignore_index=True)
    cols = ["method", "variant", "label", "dataset", "fold", "seed", "metric", "task", "value"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    table = table.copy()
    for col, default in (("fold", -1), ("variant", "full")):
        if col not in table:
            table[col] = default
    if "label" not in table:
        table["label"] = table["method"]
    parts = []
    for metric in metrics:
        for task in TASKS:
            col = _score_column(task, metric)
            if col not in table:
                raise KeyError(f"results have no column {col!r} for {metric} {task}; columns: {', '.join(table.columns)}")
            part = table[["method", "variant", "label", "dataset", "fold", "seed"]].copy()
            part["metric"], part["task"], part["value"] = metric, task, table[col].astype(float)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)[cols]


def compare(
    published: pd.DataFrame,
    runs: Sequence[Runs],
    *,
    metrics: Sequence[str] = ("mAP",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Published value beside ours for every (label, metric, task): mean, std, n, CI and ``diff = mean − published``.

    ``published`` is a filtered :func:`xmr.study.published.load` frame; rows are matched
    to ``runs`` by ``(method, variant)``. Each run's ``label`` names its row (the
    order of ``runs`` is kept). A run that is missing, or a run with no published
    counterpart, still gets its row (with NaN where there is nothing).
    """
    ours = long_scores(runs, metrics)
    rows = []
    for r in runs:
        pub = published[(published.method == r.method) & (published.variant == r.variant)]
        for metric in metrics:
            for task in TASKS:
                p = pub[(pub.metric == metric) & (pub.task == task)].value
                sel = ours[(ours.label == r.label) & (ours.metric == metric) & (ours.task == task)].value
                s = mean_ci(sel, confidence)
                published_value = float(p.iloc[0]) if len(p) else math.nan
                rows.append({
                    "label": r.label, "method": r.method, "metric": metric, "task": task,
                    "published": published_value, **s, "diff": s["mean"] - published_value,
                    "status": "ran" if r.ok else "not run",
                })
    return pd.DataFrame(rows)


def format_comparison(cmp: pd.DataFrame, *, digits: int = 3, ci: bool = True) -> pd.DataFrame:
    """A display table: one row per label, for each (metric, task) the published value, ours (mean ± std [CI]) and Δ."""
    def fmt(v: float) -> str:
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    out: dict[str, dict[tuple[str, str, str], str]] = {}
    for _, r in cmp.iterrows():
        row = out.setdefault(r["label"], {})
        head = (r["metric"], TASK_LABELS[r["task"]])
        row[head + ("published",)] = fmt(r["published"])
        if r["status"] == "not run":
            row[head + ("ours",)], row[head + ("Δ",)] = "not run", "—"
            continue
        ours = fmt(r["mean"])
        if r["n"] > 1:
            ours += f" ± {r['std']:.{digits}f}"
            if ci:
                ours += f" [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"
        row[head + ("ours",)] = ours
        row[head + ("Δ",)] = "—" if math.isnan(r["diff"]) else f"{r['diff']:+.{digits}f}"
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["metric", "task", ""])
    frame.index.name = "method"
    if len(set(frame.columns.get_level_values(0))) == 1:
        frame.columns = frame.columns.droplevel(0)
    return frame


def paired_test(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Paired comparison of ``a`` against ``b`` over their common index (units).

    Returns n, the mean and std of ``a − b``, its 95 % t interval, the paired
    t-test (``t``, ``p_t``) and the Wilcoxon signed-rank test (``w``, ``p_wilcoxon``,
    exact for small n), both two-sided. Tests need at least 2 pairs (NaN otherwise);
    when every difference is 0 the p-values are 1.
    """
    common = a.index.intersection(b.index)
    d = (a.loc[common].astype(float) - b.loc[common].astype(float)).to_numpy()
    d = d[~np.isnan(d)]
    s = mean_ci(d)
    out = {"n": len(d), "mean_diff": s["mean"], "std_diff": s["std"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
           "t": math.nan, "p_t": math.nan, "w": math.nan, "p_wilcoxon": math.nan}
    if len(d) < 2:
        return out
    if np.all(d == 0):
        return out | {"t": 0.0, "p_t": 1.0, "w": 0.0, "p_wilcoxon": 1.0}
    if np.all(d == d[0]):  # constant non-zero difference: t is infinite, p = 0
        out |= {"t": math.copysign(math.inf, d[0]), "p_t": 0.0}
    else:
        t = stats.ttest_1samp(d, 0.0)
        out |= {"t": float(t.statistic), "p_t": float(t.pvalue)}
    w = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return out | {"w": float(w.statistic), "p_wilcoxon": float(w.pvalue)}


def unit_scores(runs: Runs, column: str) -> pd.Series:
    """One score column of ``runs`` indexed by unit (fold, seed), ready for :func:`paired_test`."""
    t = runs.table
    if t.empty:
        return pd.Series(dtype=float)
    return pd.Series(t[column].to_numpy(dtype=float), index=pd.MultiIndex.from_arrays([t["fold"], t["seed"]], names=UNIT))


_unit_series = unit_scores


def paired_tests(candidate: Runs, baselines: Sequence[Runs], *, metric: str = "mAP", tasks: Sequence[str] = TASKS) -> pd.DataFrame:
    """Paired tests of ``candidate`` against each baseline, per task: one row per (baseline, task)."""
    rows = []
    for base in baselines:
        for task in tasks:
            row = {"candidate": candidate.label, "baseline": base.label, "metric": metric, "task": task}
            if candidate.ok and base.ok:
                col = _score_column(task, metric)
                row |= paired_test(_unit_series(candidate, col), _unit_series(base, col))
            else:
                row |= {"n": 0}
            rows.append(row)
    return pd.DataFrame(rows)


def format_tests(tests: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """A compact display of :func:`paired_tests` rows: one row per baseline (and dataset / metric), one column per task.

    Each cell is ``Δ [95 % CI] · p_t · p_W`` (mean paired difference, its t interval,
    paired t-test and Wilcoxon p-values); ``n = 1`` cells show Δ only, and a pair
    that could not be run shows "not run".
    """
    def cell(r: pd.Series) -> str:
        n = int(r.get("n", 0) or 0)
        if n == 0:
            return "not run"
        out = f"{r['mean_diff']:+.{digits}f}"
        if n >= 2:
            if not math.isnan(r["ci_low"]):
                out += f" [{r['ci_low']:+.{digits}f}, {r['ci_high']:+.{digits}f}]"
            out += f" · p_t={r['p_t']:.2g} · p_W={r['p_wilcoxon']:.2g}"
        return out + f" (n={n})"

    keys = [k for k in ("dataset", "metric") if k in tests and tests[k].nunique() > 1] + ["baseline"]
    t = tests.assign(cell=tests.apply(cell, axis=1), task=tests.task.map(TASK_LABELS))
    wide = t.pivot_table(index=keys, columns="task", values="cell", aggfunc="first", sort=False)
    wide.columns.name = f"Δ = {tests.candidate.iloc[0]} − baseline" if len(tests) else None
    return wide[[TASK_LABELS[k] for k in TASKS if TASK_LABELS[k] in wide.columns]]


def interpolated_pr(pr: pd.DataFrame, grid: Sequence[float] | None = None) -> pd.DataFrame:
    """Interpolated precision (max precision at recall ≥ r) on a recall grid, per unit and task.

    Interpolation puts curves of different runs on one recall axis so they can be
    averaged and compared point by point (the usual 11-point convention, finer).
    """
    grid = np.asarray(grid if grid is not None else np.round(np.linspace(0, 1, 21), 4))
    rows = []
    keys = [k for k in ("fold", "seed", "task") if k in pr]
    for key, g in pr.groupby(keys):
        rec, prec = g["recall"].to_numpy(float), g["precision"].to_numpy(float)
        order = np.argsort(rec)
        rec, prec = rec[order], prec[order]
        best = np.maximum.accumulate(prec[::-1])[::-1]  # max precision at recall >= rec[i]
        idx = np.searchsorted(rec, grid, side="left")
        vals = np.where(idx < len(rec), best[np.minimum(idx, len(rec) - 1)], 0.0)
        for r, v in zip(grid, vals):
            rows.append(dict(zip(keys, key if isinstance(key, tuple) else (key,))) | {"recall": float(r), "precision": float(v)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- claims


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


def pr_dominance(curves: pd.DataFrame, candidate: str, other: str, *, recall_range: tuple[float, float] = (0.05, 0.95)) -> float:
    """Share of recall points (within ``recall_range``, both tasks) where ``candidate``'s mean precision ≥ ``other``'s.

    ``curves`` is an :func:`interpolated_pr` frame with a ``label`` column.
    """
    lo, hi = recall_range
    c = curves[(curves.recall >= lo - 1e-12) & (curves.recall <= hi + 1e-12)]
    mean = c.groupby(["label", "task", "recall"]).precision.mean()
    if candidate not in mean.index.get_level_values(0) or other not in mean.index.get_level_values(0):
        return math.nan
    a, b = mean.loc[candidate], mean.loc[other]
    common = a.index.intersection(b.index)
    return float((a.loc[common] >= b.loc[common] - 1e-12).mean()) if len(common) else math.nan


def convergence_stats(loss: pd.Series, *, tail: float = 0.1) -> dict[str, float]:
    """How a per-epoch loss curve (index = epoch) behaves: share of epochs that decrease, and the final drift.

    ``relative_tail_change`` = |mean of the last ``tail`` of epochs − mean of the
    ``tail`` before| / |mean of the ``tail`` before|: close to 0 when converged.
    """
    y = loss.sort_index().to_numpy(dtype=float)
    n = len(y)
    out = {"epochs": n, "first": math.nan, "last": math.nan, "share_decreasing": math.nan, "relative_tail_change": math.nan}
    if n < 2:
        return out
    k = max(1, int(round(n * tail)))
    out |= {"first": float(y[0]), "last": float(y[-1]), "share_decreasing": float((np.diff(y) < 0).mean())}
    if n >= 2 * k:
        prev, last = y[-2 * k:-k].mean(), y[-k:].mean()
        out["relative_tail_change"] = float(abs(last - prev) / abs(prev)) if prev != 0 else math.nan
    return out


def claim(paper: str, claim_id: str, text: str, where: str, chapter: str, status: str, evidence: str) -> dict[str, str]:
    """One ledger row; ``chapter`` is the notebook name (without extension) that holds the evidence."""
    allowed = {"held", "not held", "inconclusive", "not testable here"}
    if status not in allowed:
        raise ValueError(f"status must be one of {sorted(allowed)}, got {status!r}")
    return {"paper": paper, "id": claim_id, "claim": text, "where": where, "status": status, "evidence": evidence, "chapter": chapter}


_STATUS_COLOURS = {"held": "#d9f0d3", "not held": "#f4cccc", "inconclusive": "#fff2cc", "not testable here": "#e0e0e0"}


def ledger_html(rows: Sequence[Mapping[str, str]]) -> str:
    """The claims ledger as an HTML table, status coloured, each claim linked to its chapter page."""
    import html

    head = "<tr><th>paper</th><th>id</th><th>claim</th><th>where</th><th>status</th><th>evidence</th><th>chapter</th></tr>"
    body = []
    for r in rows:
        colour = _STATUS_COLOURS[r["status"]]
        link = f'<a href="{html.escape(r["chapter"])}.html">{html.escape(r["chapter"])}</a>'
        body.append(
            f"<tr><td>{html.escape(r['paper'])}</td><td>{html.escape(r['id'])}</td><td>{html.escape(r['claim'])}</td>"
            f"<td>{html.escape(r['where'])}</td><td style=\"background:{colour}\"><b>{html.escape(r['status'])}</b></td>"
            f"<td>{html.escape(r['evidence'])}</td><td>{link}</td></tr>"
        )
    return f'<table class="claims-ledger">{head}{"".join(body)}</table>'


def show(frame: pd.DataFrame | str, *, index: bool | None = None) -> None:
    """Display a frame (as HTML; a plain 0..n-1 index is hidden unless ``index=True``) or an HTML string."""
    from IPython.display import HTML, display

    if isinstance(frame, str):
        display(HTML(frame))
        return
    if index is None:
        index = not isinstance(frame.index, pd.RangeIndex)
    display(HTML(frame.to_html(na_rep="—", escape=True, index=index)))


# --------------------------------------------------------------------------- plots


def set_style() -> None:
    """One seaborn style for every figure: white grid, print-readable fonts, colour-blind palette."""
    import matplotlib
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=1.0)
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "figure.autolayout": False})


def plot_comparison(cmp: pd.DataFrame, *, metric: str = "mAP", title: str = ""):
    """Bars: ours (mean, with each unit's spread as a 95 % CI bar) beside the published value, per method and task."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    c = cmp[cmp.metric == metric]
    long = pd.concat([
        c.assign(source="published", value=c.published)[["label", "task", "source", "value"]],
        c.assign(source="ours (mean)", value=c["mean"])[["label", "task", "source", "value"]],
    ])
    long["task"] = long.task.map(TASK_LABELS)
    g = sns.catplot(data=long, x="label", y="value", hue="source", col="task", kind="bar", height=3.8, aspect=1.15,
                    col_order=[TASK_LABELS[t] for t in TASKS], palette=["#999999", "#0072B2"])
    for ax, task in zip(g.axes.flat, TASKS):
        sub = c[c.task == task].reset_index(drop=True)
        bars = ax.containers[1] if len(ax.containers) > 1 else []
        for bar, (_, r) in zip(bars, sub.iterrows()):
            if r["n"] > 1 and not math.isnan(r["ci_low"]):
                x = bar.get_x() + bar.get_width() / 2
                ax.errorbar(x, r["mean"], yerr=[[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]], color="black", capsize=3, lw=1)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=45)
    g.set_ylabels(metric)
    g.set_titles("{col_name}")
    if title:
        g.figure.suptitle(title, y=1.03)
    plt.show()
    return g


def plot_pr(curves: pd.DataFrame, *, title: str = ""):
    """Precision–recall curves (mean interpolated precision over units), one panel per task, one line per method."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    d = curves.copy()
    d["task"] = d.task.map(TASK_LABELS)
    g = sns.relplot(data=d, x="recall", y="precision", hue="label", style="label", col="task", kind="line", markers=True,
                    dashes=False, height=3.4, aspect=1.1, errorbar=None, col_order=[TASK_LABELS["i2t"], TASK_LABELS["t2i"]])
    g.set(xlim=(0, 1), ylim=(0, 1))
    g.set_axis_labels("recall", "precision (interpolated)")
    g.set_titles("{col_name}")
    g.legend.set_title("method")
    if title:
        g.figure.suptitle(title, y=1.03)
    plt.show()
    return g


def plot_history(history: pd.DataFrame, terms: Sequence[str], *, title: str = "", hue: str = "dataset"):
    """Per-epoch mean of each loss term (one panel each, own y scale) and the validation mAP."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    cols = [t for t in terms if t in history] + [c for c in ("val_avg",) if c in history]
    long = history.melt(id_vars=[c for c in ("epoch", "seed", "fold", hue) if c in history], value_vars=cols, var_name="term", value_name="value")
    long["term"] = long.term.replace({"val_avg": "validation mAP (avg)", "loss": "total (weighted)"})
    g = sns.relplot(data=long, x="epoch", y="value", hue=hue if hue in long else None, col="term", col_wrap=min(4, len(cols)),
                    kind="line", height=2.8, aspect=1.2, facet_kws={"sharey": False}, errorbar=("pi", 100))
    g.set_titles("{col_name}")
    g.set_axis_labels("epoch", "value")
    if title:
        g.figure.suptitle(title, y=1.03)
    plt.show()
    return g


def plot_heatmaps(grid: pd.DataFrame, *, value: str = "mAP@50", title: str = ""):
    """Three α × β heatmaps (Txt2Img, Img2Txt, Average) of mean ``value`` over seeds, as SMCR Fig. 2."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, task in zip(axes, ("t2i", "i2t", "avg")):
        col = _score_column(task, value)
        piv = grid.groupby(["alpha", "beta"])[col].mean().unstack("beta")
        sns.heatmap(piv, annot=True, fmt=".3f", cmap="viridis", ax=ax, cbar=True, annot_kws={"size": 8})
        ax.set_title(f"{TASK_LABELS[task]} ({value})")
        ax.set_xlabel("β")
        ax.set_ylabel("α")
        ax.invert_yaxis()
    if title:
        fig.suptitle(title, y=1.03)
    fig.tight_layout()
    plt.show()
    return fig
