"""What every run needs before its first step, shared by both trainers (one seed:
:mod:`xmr.engine.single`; several together: :mod:`xmr.engine.batched`).

Hyperparameters (:func:`resolve_hparams`, :func:`check_schedule`,
:func:`discriminator_lr`), the device (:func:`resolve_device`), the input checks
(:func:`check_finite`) and normalisation (:func:`normalised_splits`, statistics from
the training split only), the splits as device tensors (:func:`to_device`), the
optimisers (:func:`make_optimizer`), and :func:`prepare`, which does all of it for a
deep run.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np
import torch

from ..data.dataset import Dataset, Split
from ..methods.base import Batch, DeepMethod
from ..methods.readings import resolved_defaults
from ..methods.registry import MethodSpec
from .sparse import SparseRows, use_sparse

__all__ = [
    "OPTIMIZERS",
    "D_ORDERS",
    "Progress",
    "RunSetup",
    "adam",
    "check_finite",
    "check_schedule",
    "discriminator_lr",
    "make_optimizer",
    "normalised_splits",
    "prepare",
    "resolve_device",
    "resolve_hparams",
    "to_device",
    "weighted_total",
]

#: A per-epoch callback: it receives the epoch's history record plus ``best_epoch`` and ``epochs``.
Progress = Callable[[dict[str, Any]], None]

OPTIMIZERS = ("adam", "sgd")
D_ORDERS = ("before", "after")


# ---------------------------------------------------------------- hyperparameters
def resolve_hparams(spec: MethodSpec, overrides: Mapping[str, Any] | None = None, epochs: int | None = None,
                    features: str | None = None) -> dict[str, Any]:
    """Defaults (with the method's per-feature-set readings for ``features``, see
    :func:`xmr.methods.readings.feature_set`) merged with ``overrides``; unknown names are an
    error that lists the known ones."""
    overrides = dict(overrides or {})
    if epochs is not None:
        if spec.kind != "deep":
            raise ValueError(f"{spec.name} is a closed-form method: it has no epochs")
        overrides["epochs"] = epochs
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"{spec.name} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(spec.defaults))}"
        )
    hp = {**resolved_defaults(spec.cls, spec.defaults, features), **overrides}
    if "d_lr" in overrides and hp.get("d_lr_scale") is not None:  # d_lr would be silently ignored
        raise ValueError(
            f"{spec.name}: d_lr is ignored while d_lr_scale (lambda, the discriminator's lr / lr) is "
            f"{hp['d_lr_scale']!r}; set d_lr_scale instead, or d_lr_scale=None to give d_lr directly")
    for key, value in hp.items():  # JSON round-trips tuples as lists; keep one form for hashing
        if isinstance(value, tuple):
            hp[key] = list(value)
    return hp


def check_schedule(hp: Mapping[str, Any]) -> None:
    """Reject an unknown optimiser or adversarial schedule with a message that says what is allowed."""
    if hp["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {hp['optimizer']!r}")
    if hp["d_order"] not in D_ORDERS:
        raise ValueError(f"d_order must be one of {D_ORDERS}, got {hp['d_order']!r}")
    if int(hp["g_steps"]) < 1 or int(hp["g_steps"]) != hp["g_steps"]:
        raise ValueError(f"g_steps (mapper steps per discriminator step) must be a positive integer, got {hp['g_steps']!r}")
    if hp["d_lr_scale"] is not None and not float(hp["d_lr_scale"]) > 0:
        raise ValueError(f"d_lr_scale (lambda, the discriminator's lr / lr) must be positive or None, got {hp['d_lr_scale']!r}")


def discriminator_lr(hp: Mapping[str, Any]) -> float:
    """The discriminator's learning rate: ``d_lr_scale * lr`` when lambda is given, else ``d_lr``."""
    return float(hp["d_lr"]) if hp["d_lr_scale"] is None else float(hp["d_lr_scale"]) * float(hp["lr"])


# ---------------------------------------------------------------- device and inputs
def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def check_finite(dataset: Dataset) -> None:
    """Reject NaN / infinite features, naming the split, modality and first offending cell."""
    for split_name, split in dataset.splits.items():
        for modality in ("image", "text"):
            arr = getattr(split, modality)
            bad = ~np.isfinite(arr)
            if bad.any():
                row, col = map(int, np.argwhere(bad)[0])
                raise ValueError(
                    f"{dataset.name} {split_name} {modality} features contain {int(bad.sum())} NaN/infinite "
                    f"value(s) (first at row {row}, column {col}); clean or re-extract the features"
                )


def _check_norm(kind: str) -> None:
    if kind not in ("none", "standardize", "l2"):
        raise ValueError(f"input_norm must be 'none', 'standardize' or 'l2', got {kind!r}")


def _standardize_stats(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training split (float64); a constant feature gets std 1,
    so it stays constant (0) instead of dividing by 0."""
    mean = train.mean(0, dtype=np.float64)
    std = train.std(0, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return mean, std


def _row_norms(x: np.ndarray) -> np.ndarray:
    """Each row's l2 norm, floored at 1e-12 so an all-zero row stays zero."""
    return np.maximum(np.linalg.norm(x, axis=1), 1e-12)


def _normaliser(kind: str, train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function applying ``kind`` with statistics from the training split only."""
    _check_norm(kind)
    if kind == "standardize":
        mean, std = _standardize_stats(train)
        return lambda x: ((x - mean) / std).astype(np.float32)
    if kind == "l2":
        return lambda x: (x / _row_norms(x)[:, None]).astype(np.float32)
    return lambda x: x


def sparse_rows(dataset: Dataset, split: str, modality: str, kind: str, dev: torch.device) -> SparseRows:
    """``split``'s ``modality`` as :class:`SparseRows` normalised as :func:`_normaliser` does (train statistics)."""
    _check_norm(kind)
    raw = getattr(getattr(dataset, split), modality)
    if kind == "standardize":
        mean, std = _standardize_stats(getattr(dataset.train, modality))
        return SparseRows(raw, mean=mean, scale=std, device=dev)
    if kind == "l2":
        return SparseRows(raw, row_norm=_row_norms(raw), device=dev)
    return SparseRows(raw, device=dev)


def normalised_splits(dataset: Dataset, kind: str) -> dict[str, Split]:
    """Every split with input normalisation ``kind`` (``input_norm``) applied, fitted on train."""
    f_img = _normaliser(kind, dataset.train.image)
    f_txt = _normaliser(kind, dataset.train.text)
    return {
        name: Split(f_img(s.image), f_txt(s.text), s.labels, s.ids) for name, s in dataset.splits.items()
    }


def to_device(split: Split, num_classes: int, device: torch.device) -> Batch:
    """A split as one :class:`~xmr.methods.base.Batch` of device tensors (with one-hot labels)."""
    labels = torch.from_numpy(split.labels).to(device)
    return Batch(
        torch.from_numpy(split.image).to(device),
        torch.from_numpy(split.text).to(device),
        labels,
        torch.nn.functional.one_hot(labels, num_classes).to(torch.float32),
    )


# ---------------------------------------------------------------- optimisers
def adam(params: list[torch.nn.Parameter], **kw: Any) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch build supports it (3x faster steps on CPU, same update rule)."""
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kw)


def make_optimizer(params: list[torch.nn.Parameter], hp: Mapping[str, Any], *,
                   discriminator: bool = False) -> torch.optim.Optimizer:
    """The mapper's (or the discriminator's) optimiser: Adam with the run's betas, or plain SGD
    (theta <- theta - lr * grad, no momentum: Algorithm 1 of ACMR / SMCR as written)."""
    lr = discriminator_lr(hp) if discriminator else float(hp["lr"])
    wd = 0.0 if discriminator else float(hp["weight_decay"])
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    betas = tuple(hp["d_betas"] if discriminator else hp["betas"])
    return adam(params, lr=lr, betas=betas, weight_decay=wd)


# ---------------------------------------------------------------- a deep run's setup
class RunSetup(NamedTuple):
    """What both trainers need before the first step."""

    without: frozenset[str]
    dev: torch.device
    splits: dict[str, Split]
    num_classes: int
    train: Batch
    val: Batch
    batch_size: int
    n_steps: int
    epochs: int
    patience: int | None


def prepare(spec: MethodSpec, dataset: Dataset, hp: Mapping[str, Any], without: Iterable[str], device,
            sparse: bool | None = None) -> RunSetup:
    """Validate a deep run's settings, normalise the splits and put train / val on the device
    (test stays on the host until the run's end, see :mod:`xmr.engine.select`).

    With ``sparse=True``, a modality whose training input is sparse enough goes in as
    :class:`~xmr.engine.sparse.SparseRows` (:func:`~xmr.engine.sparse.use_sparse`)."""
    cls: type[DeepMethod] = spec.cls
    without = frozenset(without)
    bad_terms = without - set(cls.ablatable_terms())
    if bad_terms:
        raise ValueError(
            f"{spec.name} cannot run without {sorted(bad_terms)}; its ablatable terms are {list(cls.ablatable_terms())}"
        )
    check_finite(dataset)
    check_schedule(hp)
    dev = resolve_device(device)
    splits = normalised_splits(dataset, hp["input_norm"])
    c = dataset.num_classes
    train, val = to_device(splits["train"], c, dev), to_device(splits["val"], c, dev)
    for modality in ("image", "text"):
        if use_sparse(getattr(dataset.train, modality), sparse, batched=False):
            train = train._replace(**{modality: sparse_rows(dataset, "train", modality, hp["input_norm"], dev)})
            val = val._replace(**{modality: sparse_rows(dataset, "val", modality, hp["input_norm"], dev)})
    n = train.labels.shape[0]
    bsz = int(hp["batch_size"])
    if bsz < 1:
        raise ValueError(f"batch_size must be positive, got {bsz}")
    n_steps = n // bsz if hp["drop_last"] else math.ceil(n / bsz)
    if n_steps == 0:
        raise ValueError(f"batch_size {bsz} exceeds the {n} training pairs with drop_last=True")
    epochs = int(hp["epochs"])
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    return RunSetup(without, dev, splits, c, train, val, bsz, n_steps, epochs, hp["patience"])


def weighted_total(name: str, terms: Mapping[str, torch.Tensor], weights: Mapping[str, float],
                   active: Iterable[str]) -> torch.Tensor:
    """The mapper's objective: the weighted sum of the active loss terms (e.g. DACSL Eq. 4,
    α·L_tri + β·L_dis + L_pre; an ablated term is simply not active). ``terms`` may hold one value per
    seed (the batched trainer): the sum is then per seed. A missing active term is a method bug."""
    active = list(active)
    missing = [t for t in active if t not in terms]
    if missing:
        raise RuntimeError(f"{name}.losses() did not return active term(s) {missing}")
    return sum(weights[t] * terms[t] for t in active)
