"""The book's figures (seaborn): published beside ours, precision-recall, training curves, SMCR's α × β heatmaps."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from .stats import TASK_LABELS, TASKS, score_column
from .tables import STATUS_COLOURS

__all__ = ["set_style", "plot_comparison", "plot_pr", "plot_history", "plot_heatmaps", "plot_verdicts", "VERDICT_COLOURS"]


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
