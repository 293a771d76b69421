"""Evaluation and model selection: an epoch's end and a run's end, the same for both
trainers (:mod:`xmr.engine.single`, :mod:`xmr.engine.batched`).

An epoch's end
    The epoch's loss buffer (steps x terms, written on the device) is read once:
    :func:`locate_divergence` raises on the first non-finite term, :func:`epoch_means`
    averages it. The validation split is encoded and its mAP computed
    (:func:`validation_scores`: i2t, t2i); :class:`Selection` records the epoch and
    keeps the state with the best validation mean (earliest on ties), and says when
    ``patience`` epochs have passed without a new best (early stop).

A run's end
    The test split is read only here, once per run: :func:`final_result` evaluates the
    last epoch's state (what selecting nothing would report), then loads the selected
    state and evaluates it (the reported numbers: mAP over the whole ranking and at
    5 / 25 / 50, and the PR curves). :func:`validation_only` is the result of a run
    that never reads it (``evaluate_test=False``).

``track_test`` (a diagnostic for the book's model-selection chapter, off by default):
:func:`record_test` adds each epoch's test mAP to its history record *after* the
selection step, which never reads it, and the result then reports ``test_best``
(:func:`selected_on_test`: the epoch a loop selecting on the test set would pick, as
DSCMR's reference code does, and its test mAP). Every other field of the result is
identical with and without it.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Mapping

import torch

from .. import metrics
from ..data.dataset import Split
from ..methods.base import Batch, DeepMethod
from .setup import to_device

__all__ = [
    "AT_K",
    "Selection",
    "TrainingDivergedError",
    "epoch_means",
    "evaluate_retrieval",
    "final_result",
    "locate_divergence",
    "record_test",
    "selected_on_test",
    "validation_only",
    "validation_scores",
]

#: The cut-offs reported besides the whole ranking (SMCR reports mAP@k).
AT_K = (5, 25, 50)


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite; the message names epoch, step and term."""


# ---------------------------------------------------------------- evaluation
def evaluate_retrieval(
    z_image: Any,
    z_text: Any,
    labels: Any,
    *,
    metric: str = "cosine",
    ks: Iterable[int] = AT_K,
    pr: bool = False,
) -> dict[str, Any]:
    """Image->text and text->image mAP within one split (queries and gallery are its pairs).

    Returns ``{"i2t", "t2i", "avg", "at": {"5": {...}, ...}}`` and, with ``pr``,
    ``"pr": {"i2t": {"recall", "precision"}, "t2i": ...}``.
    """
    out: dict[str, Any] = {}
    i2t = metrics.mean_average_precision(z_image, z_text, labels, labels, metric=metric)
    t2i = metrics.mean_average_precision(z_text, z_image, labels, labels, metric=metric)
    out.update(i2t=i2t, t2i=t2i, avg=(i2t + t2i) / 2)
    out["at"] = {}
    for k in ks:
        a = metrics.mean_average_precision(z_image, z_text, labels, labels, k=k, metric=metric)
        b = metrics.mean_average_precision(z_text, z_image, labels, labels, k=k, metric=metric)
        out["at"][str(k)] = {"i2t": a, "t2i": b, "avg": (a + b) / 2}
    if pr:
        out["pr"] = {}
        for task, (q, g) in (("i2t", (z_image, z_text)), ("t2i", (z_text, z_image))):
            recall, precision = metrics.precision_recall_curve(q, g, labels, labels, metric=metric)
            out["pr"][task] = {"recall": recall.tolist(), "precision": precision.tolist()}
    return out


def validation_scores(z_image: Any, z_text: Any, labels: Any, metric: str) -> tuple[float, float]:
    """The validation split's (i2t, t2i) mAP over the whole ranking: what selection reads."""
    return (metrics.mean_average_precision(z_image, z_text, labels, labels, metric=metric),
            metrics.mean_average_precision(z_text, z_image, labels, labels, metric=metric))


# ---------------------------------------------------------------- an epoch's losses
def locate_divergence(buf: torch.Tensor, names: list[str], epoch: int) -> None:
    """Raise naming the first (step, term) whose value is not finite; ``buf`` is steps x terms."""
    bad = ~torch.isfinite(buf)
    if bool(bad.any()):
        step, col = (int(v) for v in bad.nonzero()[0])
        value = float(buf[step, col])
        raise TrainingDivergedError(
            f"loss term {names[col]!r} became {value} at epoch {epoch}, step {step + 1}; "
            "check the input features for NaN/inf or lower the learning rate"
        )


def epoch_means(buf: torch.Tensor, use_d: bool, d_count: int) -> list[float | None]:
    """Per-term means of an epoch's steps x terms buffer; the last column, with a discriminator, is
    the mean over the steps that took a D step (``g_steps`` > 1 skips some; None when none did)."""
    means: list[float | None] = buf.mean(0).tolist()
    if use_d:
        means[-1] = float(buf[:, -1].sum()) / d_count if d_count else None
    return means


# ---------------------------------------------------------------- selection
class Selection:
    """Model selection on validation for one seed: the one selection step of both trainers.

    :meth:`observe` takes an epoch's losses and validation mAP, appends the epoch's record
    to :attr:`history` and, when the validation mean beats every earlier epoch's (strictly:
    the earliest best wins ties), keeps the epoch, its scores and ``snapshot()`` (the state)
    in :attr:`best`. :attr:`stopped` turns true once ``patience`` epochs have passed
    without a new best (``patience=None``: never).
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"avg": -math.inf, "epoch": 0, "state": None, "i2t": None, "t2i": None}

    @property
    def epochs_run(self) -> int:
        """The last epoch observed (the run's length, early stop included)."""
        return self.history[-1]["epoch"] if self.history else 0

    @property
    def stopped(self) -> bool:
        """Whether ``patience`` epochs have passed since the best one (checked after each epoch)."""
        return (self.patience is not None and bool(self.history)
                and self.epochs_run - self.best["epoch"] >= int(self.patience))

    def observe(self, epoch: int, losses: Mapping[str, Any], i2t: float, t2i: float,
                snapshot: Callable[[], dict[str, torch.Tensor]]) -> dict[str, Any]:
        """Record epoch ``epoch`` (its record, also appended to :attr:`history`, is returned)."""
        avg = (i2t + t2i) / 2
        record = {"epoch": epoch, **losses, "val_i2t": i2t, "val_t2i": t2i, "val_avg": avg}
        self.history.append(record)
        if avg > self.best["avg"]:
            self.best.update(avg=avg, epoch=epoch, i2t=i2t, t2i=t2i, state=snapshot())
        return record

    def report(self, record: Mapping[str, Any], epochs: int) -> dict[str, Any]:
        """What a progress callback receives for ``record``: the record, ``best_epoch`` and ``epochs``."""
        return {**record, "best_epoch": self.best["epoch"], "epochs": epochs}


def record_test(model: DeepMethod, test: Batch, record: dict[str, Any]) -> None:
    """Add this epoch's test mAP to ``record`` (the ``track_test`` diagnostic; never used for selection)."""
    with torch.no_grad():
        zi, zt = model.encode(test.image, test.text)
    scores = evaluate_retrieval(zi, zt, test.labels, metric=model.metric, ks=())
    record.update(test_i2t=scores["i2t"], test_t2i=scores["t2i"], test_avg=scores["avg"])


def selected_on_test(history: list[dict[str, Any]]) -> dict[str, Any]:
    """What selecting the epoch on the test set would report: the earliest epoch of highest test mAP."""
    top = max(history, key=lambda rec: (rec["test_avg"], -rec["epoch"]))
    return {"epoch": top["epoch"], "i2t": top["test_i2t"], "t2i": top["test_t2i"], "avg": top["test_avg"]}


# ---------------------------------------------------------------- a run's end
def final_result(model: DeepMethod, selection: Selection, test_split: Split, num_classes: int,
                 dev: torch.device, started: float) -> dict[str, Any]:
    """The test split, read for the first time: ``model``'s last state, then the selected state
    (loaded into ``model``); the run's result dict (keys: :func:`xmr.experiments.run`)."""
    best, history = selection.best, selection.history
    test = to_device(test_split, num_classes, dev)
    model.eval()
    with torch.no_grad():
        zi, zt = model.encode(test.image, test.text)
    last = evaluate_retrieval(zi, zt, test.labels, metric=model.metric, ks=())
    model.load_state_dict(best["state"])
    with torch.no_grad():
        zi, zt = model.encode(test.image, test.text)
    final = evaluate_retrieval(zi, zt, test.labels, metric=model.metric, pr=True)
    return {
        "i2t": final["i2t"],
        "t2i": final["t2i"],
        "avg": final["avg"],
        "at": final["at"],
        "best_epoch": best["epoch"],
        "epochs": selection.epochs_run,
        "seconds": time.perf_counter() - started,
        "last_epoch": {k: last[k] for k in ("i2t", "t2i", "avg")},
        "val_best": {"i2t": best["i2t"], "t2i": best["t2i"], "avg": best["avg"]},
        "history": history,
        "pr": final["pr"],
        **({"test_best": selected_on_test(history)} if history and "test_avg" in history[0] else {}),
    }


def validation_only(model: DeepMethod, selection: Selection, started: float) -> dict[str, Any]:
    """The result of a run that never reads the test split (``evaluate_test=False``: choosing a
    reading); ``model`` is given the selected state."""
    best = selection.best
    model.load_state_dict(best["state"])
    return {"best_epoch": best["epoch"], "epochs": selection.epochs_run, "seconds": time.perf_counter() - started,
            "val_best": {"i2t": best["i2t"], "t2i": best["t2i"], "avg": best["avg"]}, "history": selection.history}
