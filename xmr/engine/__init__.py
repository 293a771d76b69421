"""The training engine: one way to train or fit every method, with model selection on validation.

:func:`train` is the one entry point: one ``(result, model)`` per seed, whatever the method's kind.
The modules, by role:

* :mod:`~xmr.engine.setup` -- what every run needs before its first step (hyperparameters,
  device, input checks and normalisation, device tensors, optimisers);
* :mod:`~xmr.engine.select` -- evaluation and the one model-selection step (validation mAP ->
  best epoch and state, early stop), and the result dict at a run's end;
* :mod:`~xmr.engine.single` -- one seed of a deep method trained (:func:`train_deep`);
* :mod:`~xmr.engine.batched` -- several seeds of a deep method trained together under
  ``vmap`` (:func:`train_deep_batched`), the same training per seed;
* :mod:`~xmr.engine.closed_form` -- closed-form estimators fitted on train + val
  (:func:`fit_closed_form`).

Layer: imports only :mod:`xmr.data`, :mod:`xmr.features`, :mod:`xmr.methods`,
:mod:`xmr.metrics`, :mod:`xmr.paths` and :mod:`xmr.io` (below it); nothing here knows
about the results cache, the study or the book.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from ..data.dataset import Dataset
from ..methods.registry import MethodSpec
from .batched import NotBatchable, static_obstacle, train_deep_batched
from .closed_form import fit_closed_form
from .select import AT_K, TrainingDivergedError, evaluate_retrieval
from .setup import (D_ORDERS, OPTIMIZERS, Progress, check_schedule, discriminator_lr, resolve_device, resolve_hparams,
                    weighted_total)
from .single import train_deep

__all__ = ["AT_K", "D_ORDERS", "OPTIMIZERS", "NotBatchable", "TrainingDivergedError", "check_schedule",
           "discriminator_lr", "evaluate_retrieval", "fit_closed_form", "resolve_device", "resolve_hparams",
           "static_obstacle", "train", "train_deep", "train_deep_batched", "weighted_total"]

log = logging.getLogger(__name__)


def train(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seeds: Sequence[int],
    without: Iterable[str] = (),
    device: str | torch.device | None = None,
    progress: Mapping[int, Progress | None] | None = None,
    batched: bool | None = None,
    track_test: bool = False,
    evaluate_test: bool = True,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    sparse: bool | None = None,
) -> list[tuple[dict[str, Any], Any]]:
    """Train (deep) or fit (closed-form) ``spec`` on ``dataset`` with resolved hyperparameters ``hp``
    (:func:`resolve_hparams`), once per seed in ``seeds``; one ``(result, model)`` per seed, in order.

    Deep methods are trained with model selection on validation; ``track_test`` records the
    per-epoch test mAP as a diagnostic (never read by selection), ``evaluate_test=False`` never
    reads the test split (the result holds the validation selection only). Closed-form methods
    are fitted on train + val: they have no epochs to track, no validation-only run and no loss
    terms to ablate (``without``). ``progress`` maps a seed to its per-epoch callback.

    Several seeds of a deep method are trained together (:func:`train_deep_batched`) when
    ``batched`` and not ``track_test``; otherwise -- or when :class:`NotBatchable` or a
    divergence is raised -- seed by seed with :func:`train_deep` (a divergence then surfaces
    exactly as in the per-seed loop). ``batched=None`` (default) batches on a CUDA device only:
    on CPU the step is already compute-bound (a DSCMR step reaches 55-75% of the matmul peak on
    one core) and the batched matrix products are not faster than S plain ones (5 seeds on 1
    thread: 1.18x the time of 5 sequential runs, ``benchmarks/README.md``); ``True`` forces
    batching, ``False`` forbids it.

    ``sparse=True`` (seed by seed only): a sparse input's first layer computes on its nonzeros
    (:mod:`~xmr.engine.sparse`; off by default, measured slower on CPU; the batched trainer
    always takes dense input).

    ``on_result(seed, result)`` is called as soon as a seed's result exists (after each seed when
    training seed by seed), so a caller can store it before the next seed starts.
    """
    seeds = [int(s) for s in seeds]
    progress = dict(progress or {})
    if spec.kind != "deep":
        if not evaluate_test:
            raise ValueError(f"{spec.name} is closed-form: it is fitted on train + val and has no validation-only run")
        if tuple(without):
            raise ValueError(f"{spec.name} is closed-form: it has no loss terms to ablate")
    if batched is None:
        batched = resolve_device(device).type == "cuda"
    if batched and spec.kind == "deep" and len(seeds) > 1 and not track_test:
        try:
            runs = train_deep_batched(spec, dataset, hp, seeds=seeds, without=without, device=device, progress=progress,
                                      evaluate_test=evaluate_test)
        except NotBatchable as err:
            log.info("batched seeds not used, training seed by seed: %s", err)
        except Exception as err:  # e.g. TrainingDivergedError: rerun per seed for the per-seed semantics
            log.info("batched run failed (%s: %s); training seed by seed", type(err).__name__, err)
        else:  # outside the try: an error in on_result must not retrain every seed
            if on_result is not None:
                for seed, (result, _) in zip(seeds, runs):
                    on_result(seed, result)
            return runs
    runs = []
    for seed in seeds:
        if spec.kind == "deep":
            runs.append(train_deep(spec, dataset, hp, seed=seed, without=without, device=device,
                                   progress=progress.get(seed), track_test=track_test, evaluate_test=evaluate_test,
                                   sparse=sparse))
        else:
            runs.append(fit_closed_form(spec, dataset, hp, seed=seed, progress=progress.get(seed)))
        if on_result is not None:
            on_result(seed, runs[-1][0])
    return runs
