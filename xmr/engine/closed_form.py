"""Closed-form estimators fitted: :func:`fit_closed_form`.

They have no epochs and so no model selection: each is fitted once on train + val
and evaluated on test, with the same evaluation as the deep methods
(:func:`xmr.engine.select.evaluate_retrieval`).
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Mapping

import numpy as np

from ..data.dataset import Dataset
from ..methods.registry import MethodSpec
from .select import evaluate_retrieval
from .setup import Progress, check_finite

__all__ = ["fit_closed_form"]


def fit_closed_form(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], Any]:
    """Fit a closed-form estimator on train + val (no model selection) and evaluate on test."""
    check_finite(dataset)
    started = time.perf_counter()
    kwargs = dict(hp)
    if "seed" in inspect.signature(spec.cls).parameters:
        kwargs["seed"] = seed
    est = spec.cls(**kwargs)
    tr, va, te = dataset.train, dataset.val, dataset.test
    est.fit(np.concatenate([tr.image, va.image]), np.concatenate([tr.text, va.text]), np.concatenate([tr.labels, va.labels]))
    zi, zt = est.transform(te.image, te.text)
    final = evaluate_retrieval(np.asarray(zi, np.float64), np.asarray(zt, np.float64), te.labels,
                               metric=getattr(est, "metric", "cosine"), pr=True)
    if progress is not None:
        progress({"fitted": spec.name})
    result = {
        "i2t": final["i2t"],
        "t2i": final["t2i"],
        "avg": final["avg"],
        "at": final["at"],
        "best_epoch": None,
        "epochs": None,
        "seconds": time.perf_counter() - started,
        "last_epoch": None,
        "val_best": None,
        "history": [],
        "pr": final["pr"],
    }
    return result, est
