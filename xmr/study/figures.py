"""The book's figures (seaborn): published beside ours, precision-recall, training curves, SMCR's α × β heatmaps."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from .stats import TASK_LABELS, TASKS, score_column
from .tables import STATUS_COLOURS

__all__ = ["set_style", "plot_comparison", "plot_pr", "plot_history", "plot_heatmaps", "plot_verdicts", "VERDICT_COLOURS",
           "plot_forest", "plot_reading_effects"]


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
    long = history.melt(id_vars=[c for c in ("epoch", "seed", "fold", "split", hue) if c in history], value_vars=cols, var_name="term", value_name="value")
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
        col = score_column(task, value)
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


#: The ledger's verdict colours, and one for a claim not re-judged under a reading.
VERDICT_COLOURS = {**STATUS_COLOURS, "not re-judged": "#cfe2f3"}


def plot_verdicts(m: pd.DataFrame, *, title: str = ""):
    """The multiverse at a glance: a heatmap of verdicts, claims × "method: universe" (a
    :func:`xmr.study.multiverse.matrix`), coloured as in the ledger, verdicts that differ from the default's marked ×."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    order = list(VERDICT_COLOURS)
    d = m.assign(verdict=m.status.where(m.status != "", "not re-judged"),
                 column=m.method.str.upper() + ": " + m.universe,
                 flip=(m.status != "") & (m.status != m["default"]))
    rows, cols = list(dict.fromkeys(d.id)), list(dict.fromkeys(d.column))
    z = d.pivot_table(index="id", columns="column", values="verdict", aggfunc="first").reindex(index=rows, columns=cols)
    z = z.map(lambda v: order.index(v) if isinstance(v, str) else np.nan).astype(float)
    marks = d.pivot_table(index="id", columns="column", values="flip", aggfunc="any").reindex(index=rows, columns=cols)
    marks = marks.map(lambda f: "×" if f is True else "")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.42 * len(cols) + 2.5), max(3.0, 0.3 * len(rows) + 1.5)))
    sns.heatmap(z, cmap=ListedColormap([VERDICT_COLOURS[s] for s in order]), vmin=-0.5, vmax=len(order) - 0.5,
                cbar=False, annot=marks, fmt="", annot_kws={"size": 11, "weight": "bold", "color": "#333333"},
                linewidths=0.5, linecolor="#bbbbbb", ax=ax)
    ax.grid(False)
    methods = [c.split(":")[0] for c in cols]
    for i in range(1, len(cols)):
        if methods[i] != methods[i - 1]:  # a line between the methods' blocks of universes
            ax.axvline(i, color="#333333", lw=1.5)
    ax.set_xlabel("")
    ax.set_ylabel("claim")
    ax.tick_params(axis="x", rotation=90, labelsize=8)
    ax.tick_params(axis="y", rotation=0, labelsize=8)
    handles = [Patch(facecolor=VERDICT_COLOURS[s], edgecolor="#888888", label=s) for s in order]
    handles.append(Patch(facecolor="white", edgecolor="white", label="× differs from the default"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="verdict")
    if title:
        ax.set_title(title)
    plt.show()
    return fig


#: Darker tones of the ledger's colours, for marks on a white plot.
_MARK_COLOURS = {"held": "#2e7d32", "refuted — reversed": "#c62828", "refuted — claimed gain ruled out": "#e65100",
                 "not shown": "#b28704", "not assessable": "#6a1b9a", "descriptive": "#1f77b4",
                 "not testable here": "#757575"}


def _forest_panel(ax, rows: pd.DataFrame, labels: Sequence[str], colour_by: str) -> None:
    """One forest panel: a row per label, Δ with its 95 % interval, 0 dashed, δ as a red tick."""
    y = range(len(labels))
    for i, (_, r) in zip(y, rows.iterrows()):
        colour = _MARK_COLOURS.get(str(r[colour_by]), "#333333")
        if pd.notna(r["ci_low"]):
            ax.plot([r["ci_low"], r["ci_high"]], [i, i], color=colour, lw=2, solid_capstyle="butt")
        ax.plot(r["delta"], i, "o", color=colour, ms=4)
        if pd.notna(r.get("delta_used")):
            ax.plot(r["delta_used"], i, "|", color="#c62828", ms=9, mew=1.5)
    ax.axvline(0, color="#444444", lw=0.8, ls="--")
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", visible=False)


def plot_forest(parts: pd.DataFrame, *, columns: int = 2, title: str = ""):
    """Every claim part's Δ = A − B with its 95 % interval (:func:`xmr.study.claims.parts_frame`), one panel per
    claim, coloured by the part's reading; the dashed line is 0, the red tick the claimed gain δ of that part.
    A part with no interval (one unit) is a dot alone."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    ids = list(dict.fromkeys(parts["id"]))
    if not ids:
        return None
    rows = math.ceil(len(ids) / columns)
    sizes = [max(len(parts[parts.id == i]) for i in ids[r * columns:(r + 1) * columns]) for r in range(rows)]
    fig, axes = plt.subplots(rows, columns, figsize=(5.0 * columns, sum(0.2 * s + 0.9 for s in sizes)), squeeze=False,
                             gridspec_kw={"height_ratios": [0.2 * s + 0.9 for s in sizes]})
    for ax, cid in zip(axes.flat, ids):
        p = parts[parts.id == cid]
        _forest_panel(ax, p, list(p["label"]), "status")
        ax.set_title(f"{cid}: {p['claim_status'].iloc[0]}", fontsize=9,
                     color=_MARK_COLOURS.get(p["claim_status"].iloc[0], "#333333"))
    for ax in list(axes.flat)[len(ids):]:
        ax.axis("off")
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=s) for s, c in _MARK_COLOURS.items()
               if s in set(parts["status"])]
    handles.append(Line2D([], [], color="#c62828", marker="|", lw=0, ms=9, label="δ (claimed gain)"))
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 3), frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=1.02)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    plt.show()
    return fig


def plot_reading_effects(effects: pd.DataFrame, *, columns: int = 3, title: str = ""):
    """The effects of each claim under every reading (:func:`xmr.study.multiverse.effects`): one panel per claim, a
    row per (universe, part), Δ with its 95 % interval coloured by the claim's verdict under that reading; 0 dashed,
    δ the red tick. Where the intervals of two readings overlap, their conclusions cannot exclude each other."""
    import matplotlib.pyplot as plt

    ids = list(dict.fromkeys(effects["id"]))
    if not ids:
        return None
    rows = math.ceil(len(ids) / columns)
    n = [len(effects[effects.id == i]) for i in ids]
    sizes = [max(n[r * columns:(r + 1) * columns]) for r in range(rows)]
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, sum(0.13 * s + 1.0 for s in sizes)), squeeze=False,
                             gridspec_kw={"height_ratios": [0.13 * s + 1.0 for s in sizes]})
    for ax, cid in zip(axes.flat, ids):
        e = effects[effects.id == cid]
        labels = (list(e["label"]) if "label" in e else
                  [f"{m.upper()} {u} · {p}" for m, u, p in zip(e.method, e.universe, e.part)])
        _forest_panel(ax, e, labels, "status")
        ax.set_title(cid, fontsize=9)
    for ax in list(axes.flat)[len(ids):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    plt.show()
    return fig
