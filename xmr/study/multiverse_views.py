"""What the interpretation multiverse's page shows, as frames and Markdown built from :mod:`xmr.study.multiverse`.

The chapter notebook only calls these and displays what comes back (the notebooks hold no logic): the summary
sentence, the universes run, each reading's effect on its method, what validation would pick and which verdicts
that changes, the claims × readings tables, and the robustness per claim.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from .claims import _all_claims
from .group_refs import ReadingGroup
from .multiverse import NOT_REJUDGED, split_groups, validation_pick
from .verdicts import Robustness

if TYPE_CHECKING:
    from .pages import ChapterRuns

__all__ = ["summary_text", "universe_table", "effects_table", "pick_table", "pick_changes", "matrix_views", "depends_text", "not_rejudged_table",
           "robustness_table"]


def summary_text(rob: pd.DataFrame) -> str:
    """The page's one-paragraph finding from a :func:`xmr.study.multiverse.robustness` frame."""
    counts = {r: int((rob["robustness"] == r).sum()) for r in Robustness}
    depends = rob[rob["robustness"] == Robustness.DEPENDS]
    return (f"**What we find.** Of the {len(rob)} claims that read the runs of DACSL, SMCR or DSCMR, "
            f"**{counts[Robustness.SAME]}** keep their verdict under every reading we ran, "
            f"**{counts[Robustness.NO_CONFLICT]}** move only between neighbouring verdicts (never from held to refuted), "
            f"**{len(depends)}** depend on the reading (held under one, refuted under another)"
            + (f" ({', '.join(depends['id'])})" if len(depends) else "")
            + f", and {counts[Robustness.NOT_REJUDGED]} are not re-judged (their rules read runs the multiverse does "
              "not repeat; see the end of the page). Details below.")


def universe_table(ch: ChapterRuns) -> pd.DataFrame:
    """One row per (method, universe, settings) with the stand-ins it ran on; empty when none is declared."""
    _, readings = split_groups(ch.groups)
    rows = [{"method": method.upper(), "universe": r.label,
             "settings": ", ".join(f"{k} = {v}" for k, v in r.hparams.items()) or "our defaults",
             "stand-in": ch.standin(str(ReadingGroup(method, key))).title}
            for method, by_key in readings.items() for key, runs in by_key.items() for r in runs]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    return frame.groupby(["method", "universe", "settings"], sort=False)["stand-in"].agg("; ".join).to_frame()


def _number(v: Any, digits: int = 3, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Each reading's effect on its method (:func:`xmr.study.multiverse.reading_effects`) formatted for the page:
    validation mAP, test mAP with its 95 % interval, Δ test against the default, its paired p and the units."""
    def col(name: str) -> pd.Series:
        return effects[name] if name in effects else pd.Series(math.nan, index=effects.index)

    def test(r: pd.Series) -> str:
        if pd.isna(r.get("test mAP", math.nan)):
            return "not run"
        lo, hi = r["test 95% CI"]
        return _number(r["test mAP"]) + ("" if pd.isna(lo) else f" [{_number(lo)}, {_number(hi)}]")

    shown = pd.DataFrame({
        "method": effects["method"].str.upper(), "stand-in": effects["stand-in"], "universe": effects["universe"],
        "validation mAP": [_number(v) for v in col("val mAP")],
        "test mAP [95% CI]": [test(r) for _, r in effects.iterrows()],
        "Δ test vs default": [_number(v, sign=True) for v in col("Δ test")],
        "p (paired t)": ["—" if pd.isna(v) else f"{v:.2g}" for v in col("p (paired t)")],
        "units": ["—" if pd.isna(n) else int(n) for n in col("units")],
    })
    return shown.set_index(["method", "stand-in", "universe"])


def pick_table(effects: pd.DataFrame) -> pd.DataFrame:
    """What validation would pick per method and stand-in (:func:`xmr.study.multiverse.validation_pick`), with
    whether it is our default; empty without validation scores."""
    pick = validation_pick(effects) if "val mAP" in effects else pd.DataFrame()
    if pick.empty:
        return pick
    shown = pick.assign(method=pick["method"].str.upper(),
                        **{"is our default": ["yes" if u == "default" else "no" for u in pick["validation picks"]]})
    return shown.set_index(["method", "stand-in"]).round(4)


def pick_changes(effects: pd.DataFrame, m: pd.DataFrame) -> str:
    """Where validation would pick another reading than ours: the verdicts that reading changes, as Markdown
    (empty when validation picks our defaults everywhere)."""
    pick = validation_pick(effects) if "val mAP" in effects else pd.DataFrame()
    if pick.empty:
        return ""
    lines = []
    other = pick[pick["validation picks"] != "default"]
    for (method, universe), p in other.groupby(["method", "validation picks"], sort=False):
        changed = m[(m.method == method) & (m.universe == universe) & (m.status != "") & (m.status != m["default"])]
        what = "; ".join(f"{r.id} {r.default} → {r.status}" for r in changed.itertuples()) or "no verdict changes"
        lines.append(f"* {method.upper()} *{universe}* (picked on {', '.join(p['stand-in'])}): {what}")
    if not lines:
        return ""
    return ("Where validation would pick another reading than ours, the verdicts that reading changes "
            "(on every stand-in it ran on):\n\n" + "\n".join(lines))


def matrix_views(m: pd.DataFrame) -> tuple[list[tuple[str, pd.DataFrame | None, str]], str]:
    """The claims × readings matrix (:func:`xmr.study.multiverse.matrix`) as one table per method: a row per claim
    re-judged under one of its universes, a column per universe, × where the verdict differs from the default's;
    a line naming the claims re-judged under none (with the note why); and the notes, as Markdown."""
    notes = {n: i + 1 for i, n in enumerate(dict.fromkeys(m.loc[m.status == "", "note"]))}

    def cell(r: Any) -> str:
        if r.status == "":
            return f"not re-judged [{notes[r.note]}]"
        return str(r.status) + (" ×" if r.status != r.default else "")

    views = []
    shown = m.assign(cell=[cell(r) for r in m.itertuples()])
    for method, g in shown.groupby("method", sort=False):
        judged = g.groupby("id", sort=False)["status"].transform(lambda s: (s != "").any())
        wide = None
        if judged.any():
            wide = g[judged].assign(default=g["default"].map(str)).pivot_table(
                index=["id", "default"], columns="universe", values="cell", aggfunc="first", sort=False)
            wide = wide[[u for u in dict.fromkeys(g.universe) if u in wide.columns]].fillna("")
            wide.index.names = ["claim", "default verdict"]
            wide.columns.name = f"{method.upper()} universe"
        rest = g[~judged]
        line = ""
        if len(rest):  # claims with no cell re-judged: one line per reason instead of a row of "not re-judged"
            line = (f"Not re-judged under any {method.upper()} reading: " + "; ".join(
                f"{', '.join(dict.fromkeys(r.id))} [{notes[n]}]" for n, r in rest.groupby("note", sort=False)) + ".")
        views.append((method.upper(), wide, line))
    note_text = "Notes:\n\n" + "\n".join(f"{i}. {n}" for n, i in notes.items()) if notes else ""
    return views, note_text


def robustness_table(rob: pd.DataFrame) -> pd.DataFrame:
    """Per claim: its text, robustness and the universes that change its verdict."""
    text = {c.id: c.text for c in _all_claims()}
    return rob.assign(claim=rob["id"].map(text), robustness=rob["robustness"].map(str)).set_index("id")[
        ["claim", "robustness", "flips"]]


def depends_text(rob: pd.DataFrame, m: pd.DataFrame) -> str:
    """The verdicts that depend on the reading (held under one, refuted under another) and the universes that change
    them, as Markdown; or a sentence saying there is none."""
    depends = rob[rob["robustness"] == Robustness.DEPENDS]
    if depends.empty:
        return ("**No verdict depends on the reading** among the universes run here: no reading holds a claim that "
                "another refutes.")
    text = {c.id: c.text for c in _all_claims()}
    base = m.drop_duplicates("id").set_index("id")["default"]
    return "**Verdicts that depend on the reading**, and the universes that flip them:\n\n" + "\n".join(
        f"* **{r.id}** ({text[r.id]}): {base[r.id]} by default; {r.flips}" for r in depends.itertuples())


def not_rejudged_table(m: pd.DataFrame) -> pd.DataFrame:
    """The kinds of claims no reading re-judges (:data:`xmr.study.multiverse.NOT_REJUDGED`), why, and which claims
    of this page they are."""
    notes = m["note"] if "note" in m else pd.Series(dtype=str)
    return pd.DataFrame([{"kind": kind, "why": why,
                          "claims here": ", ".join(dict.fromkeys(m.loc[notes == why, "id"])) or "—"}
                         for kind, why in NOT_REJUDGED.items()]).set_index("kind")
