"""Display tables: published beside ours, paired tests, the claims ledger; and ``show`` for notebooks."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from .stats import TASK_LABELS, TASKS

__all__ = ["format_comparison", "format_tests", "ledger_html", "show", "scale_note", "show_not_run"]


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


STATUS_COLOURS = {"held": "#d9f0d3", "not held": "#f4cccc", "inconclusive": "#fff2cc", "not testable here": "#e0e0e0"}


def ledger_html(rows: Sequence[Mapping[str, str]], *, compact: bool = False) -> str:
    """The claims ledger as an HTML table, status coloured, each claim linked to its chapter page.

    Rows with a ``robustness`` key (:func:`xmr.study.multiverse.with_robustness`) get a robustness column too,
    its ``flips`` (if any) in small print below it. ``compact`` (the findings page) leaves out the
    ``where`` column and puts it under the claim in small print.
    """
    import html

    robust = any("robustness" in r for r in rows)
    head = ("<tr><th>paper</th><th>id</th><th>claim</th>" + ("" if compact else "<th>where</th>")
            + "<th>status</th><th>evidence</th>" + ("<th>robustness</th>" if robust else "") + "<th>chapter</th></tr>")
    body = []
    for r in rows:
        colour = STATUS_COLOURS[r["status"]]
        link = f'<a href="{html.escape(r["chapter"])}.html">{html.escape(r["chapter"])}</a>'
        rob = ""
        if robust:
            flips = r.get("flips") or ""
            rob = f"<td>{html.escape(r.get('robustness') or '')}" + (f"<br><small>{html.escape(flips)}</small>" if flips else "") + "</td>"
        where = (f"<br><small>{html.escape(r['where'])}</small>" if compact
                 else f"</td><td>{html.escape(r['where'])}")
        body.append(
            f"<tr><td>{html.escape(r['paper'])}</td><td>{html.escape(r['id'])}</td><td>{html.escape(r['claim'])}{where}</td>"
            f"<td style=\"background:{colour}\"><b>{html.escape(r['status'])}</b></td>"
            f"<td>{html.escape(r['evidence'])}</td>{rob}<td>{link}</td></tr>"
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


def scale_note(scale) -> str:
    """The sentence a page shows about its scale: empty at full scale, a warning at the smoke scale."""
    if scale.name != "smoke":
        return ""
    return ("**Smoke scale** (1 seed, 4 epochs, small grids): this build checks the machinery; its numbers and "
            "verdicts say nothing about the methods. Build with `--scale full` for the study.")


def show_not_run(frame: pd.DataFrame) -> None:
    """What a chapter could not run here and why, or a line saying everything ran."""
    from IPython.display import Markdown, display

    if frame.empty:
        display(Markdown("Every method of this chapter ran."))
        return
    display(Markdown("**Not run here** (listed as *not run* in the tables above):"))
    show(frame)
