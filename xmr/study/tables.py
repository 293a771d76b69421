"""Display tables: published beside ours, paired tests, the claims ledger; and ``show`` for notebooks."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .stats import TASK_LABELS, TASKS

__all__ = ["format_comparison", "format_tests", "ledger_html", "parts_html", "STATUS_COLOURS", "show", "scale_note", "show_not_run", "page_end", "public_text"]


def format_comparison(cmp: pd.DataFrame, *, digits: int = 3, ci: bool = True, delta: bool = True) -> pd.DataFrame:
    """A display table: one row per label, for each (metric, task) the published value, ours and Δ = ours − published.

    The "ours" column's head says what its cells hold: the mean ± the standard deviation over units and, with
    ``ci``, the 95 % t interval in brackets; a deterministic method shows its one number. ``delta=False`` leaves Δ
    out, for a stand-in that is another dataset than the paper's (a difference across datasets means nothing).
    """
    ours_head = f"ours: mean ± sd{' [95 % CI]' if ci else ''}"

    def fmt(v: float) -> str:
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    out: dict[str, dict[tuple[str, str, str], str]] = {}
    for _, r in cmp.iterrows():
        row = out.setdefault(r["label"], {})
        head = (r["metric"], TASK_LABELS[r["task"]])
        row[head + ("published",)] = fmt(r["published"])
        if r["status"] == "not run":
            row[head + (ours_head,)] = "not run"
            if delta:
                row[head + ("Δ",)] = "—"
            continue
        ours = fmt(r["mean"])
        if r["n"] > 1 and r["std"] == 0:  # a deterministic method: one number, no interval to show
            ours += " (deterministic)"
        elif r["n"] > 1:
            ours += f" ± {r['std']:.{digits}f}"
            if ci:
                ours += f" [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"
        row[head + (ours_head,)] = ours
        if delta:
            row[head + ("Δ",)] = "—" if math.isnan(r["diff"]) else f"{r['diff']:+.{digits}f}"
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["metric", "task", ""])
    frame.index.name = "method"
    if len(set(frame.columns.get_level_values(0))) == 1:
        frame.columns = frame.columns.droplevel(0)
    return frame


def format_tests(tests: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """A compact display of :func:`paired_tests` rows: one row per baseline (and dataset / metric), one column per task.

    Each cell is ``Δ [95 % CI] · p · n units`` (mean paired difference at the unit of analysis, its t interval and
    the paired t-test's two-sided p); a comparison with no variance estimate (two deterministic methods on one
    split: one unit) shows Δ and says so, never p = 0; a pair that could not be run shows "not run".
    """
    def cell(r: pd.Series) -> str:
        n = int(r.get("n", 0) or 0)
        if n == 0:
            return "not run"
        unit = r.get("unit", "unit")
        out = f"{r['mean_diff']:+.{digits}f}"
        if not (isinstance(r["p_t"], float) and math.isnan(r["p_t"])):
            out += f" [{r['ci_low']:+.{digits}f}, {r['ci_high']:+.{digits}f}] · p={r['p_t']:.2g}"
        elif unit == "deterministic pair":
            return out + " (deterministic on both sides: one unit, no test)"
        else:
            out += " (no spread: no test)"
        return out + f" · {n} {unit}{'s' if n != 1 else ''}"

    keys = [k for k in ("dataset", "metric") if k in tests and tests[k].nunique() > 1] + ["baseline"]
    t = tests.assign(cell=tests.apply(cell, axis=1), task=tests.task.map(TASK_LABELS))
    wide = t.pivot_table(index=keys, columns="task", values="cell", aggfunc="first", sort=False)
    wide.columns.name = f"Δ = {tests.candidate.iloc[0]} − baseline" if len(tests) else None
    return wide[[TASK_LABELS[k] for k in TASKS if TASK_LABELS[k] in wide.columns]]


#: The ledger's colour of each verdict (:class:`xmr.study.verdicts.Status`, by its text).
STATUS_COLOURS = {"held": "#d9f0d3", "refuted — reversed": "#f4cccc", "refuted — claimed gain ruled out": "#fce5cd",
                  "not shown": "#fff2cc", "not assessable": "#e6dff0", "descriptive": "#deebf7",
                  "not testable here": "#e0e0e0"}


def _num(v, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def parts_html(parts: Sequence) -> str:
    """A claim's parts (:class:`xmr.study.verdicts.Part`) as a small HTML table: Δ = A − B with its 95 % interval,
    p and Holm p, the share of units where A wins, δ (its source on hover), the units 80 % power needs, the part's
    own reading. Empty for a claim without parts."""
    import html

    if not parts:
        return ""
    head = ("<tr><th>part</th><th>units</th><th>Δ [95 % CI]</th><th>p</th><th>Holm p</th><th>A wins</th>"
            "<th>δ</th><th>units for 80 % power (at Δ / at δ)</th><th>reading</th></tr>")
    body = []
    for p in parts:
        need = f"{p.seeds_needed or '> cap'} / {p.seeds_needed_claimed or '> cap'}" if p.assessable else "—"
        ci = (f"{_num(p.delta, '+.3f')} [{_num(p.ci_low, '+.3f')}, {_num(p.ci_high, '+.3f')}]" if p.assessable
              else _num(p.delta, "+.3f"))
        body.append(
            f"<tr><td>{html.escape(p.label)}</td><td>{p.n_units} {html.escape(p.unit)}{'s' if p.n_units != 1 else ''}</td>"
            f"<td>{ci}</td><td>{_num(p.p, '.2g')}</td><td>{_num(p.p_holm, '.2g')}</td><td>{_num(p.wins, '.0%')}</td>"
            f"<td title=\"{html.escape(p.delta_source)}\">{_num(p.delta_used, '.3f')}</td><td>{need}</td>"
            f"<td>{html.escape(str(p.status))}{(' — ' + html.escape(p.note)) if p.note else ''}</td></tr>")
    return f'<table class="claim-parts">{head}{"".join(body)}</table>'


def ledger_html(rows: Sequence[Mapping], *, compact: bool = False) -> str:
    """The claims ledger as an HTML table, the verdict coloured, each claim linked to its chapter page.

    A row's ``parts`` (if any) open below its reason (:func:`parts_html`); rows with ``old_status`` show the previous
    rule's label under the verdict; rows with ``robustness`` (:func:`xmr.study.multiverse.with_robustness`) get that
    column, its ``flips`` in small print. ``compact`` leaves out the ``where`` column (it goes under the claim).
    """
    import html

    robust = any("robustness" in r for r in rows)
    head = ("<tr><th>id</th><th>claim</th>" + ("" if compact else "<th>where</th>")
            + "<th>verdict</th><th>why</th>" + ("<th>robustness across readings</th>" if robust else "")
            + "<th>chapter</th></tr>")
    body = []
    for r in rows:
        status = str(r["status"])
        link = f'<a href="{html.escape(r["chapter"])}.html">{html.escape(r["chapter"].replace("_", " "))}</a>'
        rob = ""
        if robust:
            flips = r.get("flips") or ""
            rob = (f"<td>{html.escape(str(r.get('robustness') or ''))}"
                   + (f"<br><small>{html.escape(flips)}</small>" if flips else "") + "</td>")
        where = (f"<br><small>{html.escape(r['where'])}</small>" if compact
                 else f"</td><td>{html.escape(r['where'])}")
        old = f"<br><small>previous rule: {html.escape(str(r['old_status']))}</small>" if r.get("old_status") else ""
        pub = r.get("published_status")
        if pub is not None and str(pub) != status:  # judged on the campaign's splits: the published split's beside it
            old += f"<br><small>published split alone: {html.escape(str(pub))}</small>"
        parts = r.get("parts") or ()
        detail = (f"<details><summary>{len(parts)} part(s)</summary>{parts_html(parts)}</details>" if parts else "")
        body.append(
            f"<tr><td>{html.escape(r['id'])}</td><td class=\"claim\">{html.escape(r['claim'])}{where}</td>"
            f"<td class=\"verdict\" style=\"background:{STATUS_COLOURS[status]}\"><b>{html.escape(status)}</b>{old}</td>"
            f"<td class=\"why\">{html.escape(r['reason'])}{detail}</td>{rob}<td>{link}</td></tr>"
        )
    return f'<div class="table-scroll"><table class="claims-ledger">{head}{"".join(body)}</table></div>'


def show(frame: pd.DataFrame | str, *, index: bool | None = None, css: str = "") -> None:
    """Display a frame (as HTML; a plain 0..n-1 index is hidden unless ``index=True``; ``css``: a class for the
    table, styled in ``book/_static/xmr.css``) or an HTML string."""
    from IPython.display import HTML, display

    if isinstance(frame, str):
        display(HTML(frame))
        return
    if index is None:
        index = not isinstance(frame.index, pd.RangeIndex)
    # pandas writes a missing value of a nullable column as "<NA>", ignoring na_rep: show it as every other gap
    nullable = [c for c in frame.columns if isinstance(frame[c].dtype, pd.api.extensions.ExtensionDtype)
                and frame[c].isna().any()]
    if nullable:
        frame = frame.copy()
        for c in nullable:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
    # a wide table scrolls inside its own box (book/_static/xmr.css) instead of being cut at the page's edge
    html = frame.to_html(na_rep="—", escape=True, index=index, classes=css or None)
    display(HTML(f'<div class="table-scroll">{html}</div>'))


def scale_note(scale) -> str:
    """The sentence a page shows about its scale: empty at full scale, a warning at the smoke scale."""
    if not scale.sampled:
        return ""
    return ("**Smoke scale** (1 seed, 4 epochs, small grids): this build checks the machinery; its numbers and "
            "verdicts say nothing about the methods. Build with `--scale full` for the study.")


def public_text(text: str) -> str:
    """``text`` with this machine's data and cache directories written as ``$XMR_DATA_DIR`` and ``$XMR_CACHE_DIR``:
    a page never shows a local path (a message of the data layer names the directory it looked in)."""
    from ..paths import cache_dir, data_root

    for path, name in ((data_root(), "$XMR_DATA_DIR"), (cache_dir(), "$XMR_CACHE_DIR")):
        for form in {str(path), str(path.resolve())}:
            if form and form != ".":
                text = text.replace(form, name)
    return text


def show_not_run(frame: pd.DataFrame) -> None:
    """What a chapter could not run here and why; nothing when everything ran."""
    from IPython.display import Markdown, display

    if frame.empty:
        return
    display(Markdown("**Not run here** (listed as *not run* in the tables above):"))
    show(frame.assign(reason=frame["reason"].map(public_text)) if "reason" in frame else frame)


def page_end(ch) -> None:
    """The end of a chapter page: what could not run here (if anything), and the command that regenerates the page."""
    from IPython.display import Markdown, display

    show_not_run(ch.not_run_frame())
    name = ch.chapter.name
    display(Markdown(f"*Regenerate this page:* `xmr book --only {name}` (from the archived runs; "
                     f"`make book` rebuilds every page), or step through `notebooks/{name}.ipynb`."))
