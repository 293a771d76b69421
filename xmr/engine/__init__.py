"""The training engine: one way to train or fit every method, with model selection on validation.

Layer: imports only :mod:`xmr.data`, :mod:`xmr.features`, :mod:`xmr.methods`,
:mod:`xmr.metrics`, :mod:`xmr.paths` and :mod:`xmr.io` (below it); nothing here knows
about the results cache, the study or the book.
"""

from .batched import NotBatchable, run_seeds, static_obstacle, train_deep_batched
from .single import (
    AT_K,
    D_ORDERS,
    OPTIMIZERS,
    TrainingDivergedError,
    check_schedule,
    discriminator_lr,
    evaluate_retrieval,
    fit_closed_form,
    resolve_device,
    resolve_hparams,
    run_method,
    train_deep,
)

__all__ = ["AT_K", "D_ORDERS", "OPTIMIZERS", "NotBatchable", "TrainingDivergedError", "check_schedule",
           "discriminator_lr", "evaluate_retrieval", "fit_closed_form", "resolve_device", "resolve_hparams",
           "run_method", "run_seeds", "static_obstacle", "train_deep", "train_deep_batched"]
