"""The one training engine: every deep method (:class:`xmr.methods.base.DeepMethod`) and
every closed-form estimator is run and evaluated here, the same way.

Deep methods
    Adam on the mapper (and, for alternating adversarial methods, a second Adam on
    the discriminator; fused kernels where torch has them; ``optimizer="sgd"`` for
    plain SGD, and ``g_steps`` / ``d_order`` / ``d_lr_scale`` for Algorithm 1's
    k mapper steps per discriminator step and lambda, see :mod:`xmr.methods.base`); the whole training split lives on the device and each epoch
    draws a seeded permutation of row indices (no DataLoader). Loss terms are
    written into a device buffer each step and read once per epoch, so training
    never waits on the host. After every epoch the validation split is encoded
    and its mAP (i2t, t2i, their mean) computed; the state with the best
    validation mean is kept (earliest on ties). The test split is read only at
    the end: once for the last epoch's state (what selecting nothing would
    report) and once for the selected state (the reported numbers, mAP over the
    whole ranking and at 5 / 25 / 50, and the PR curves).

    ``track_test=True`` (a diagnostic for the book's model-selection chapter, off
    by default) also records each epoch's test mAP in the history
    (``test_i2t``, ``test_t2i``, ``test_avg``) and reports ``test_best``: the epoch
    a loop selecting on the test set would pick (DSCMR's reference code does) and
    its test mAP. It is computed after the epoch's selection step and never read
    by it, so every other field of the result is identical with and without it.

Closed-form methods
    Have no model selection, so they are fitted on train + val and evaluated on test.

Determinism: a run seeds torch's global RNG inside ``torch.random.fork_rng`` (the
caller's RNG state is untouched) and shuffles with its own ``torch.Generator``, so
the same seed gives identical numbers on CPU.
"""

from __future__ import annotations

import inspect
import math
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np
import torch

from .. import metrics
from ..data.dataset import Dataset, Split
from ..methods.base import Batch, DeepMethod
from ..methods.readings import resolved_defaults
from ..methods.registry import MethodSpec

__all__ = [
    "TrainingDivergedError",
    "resolve_hparams",
    "resolve_device",
    "check_schedule",
    "discriminator_lr",
    "train_deep",
    "fit_closed_form",
    "evaluate_retrieval",
    "run_method",
    "AT_K",
]

#: The cut-offs reported besides the whole ranking (SMCR reports mAP@k).
AT_K = (5, 25, 50)

Progress = Callable[[dict[str, Any]], None]


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite; the message names epoch, step and term."""


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


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def _check_finite(dataset: Dataset) -> None:
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


# ---------------------------------------------------------------- input normalisation
def _normaliser(kind: str, train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function applying ``kind`` with statistics from the training split only."""
    if kind == "none":
        return lambda x: x
    if kind == "standardize":
        mean = train.mean(0, dtype=np.float64)
        std = train.std(0, dtype=np.float64)
        std[std < 1e-12] = 1.0  # constant features stay constant (0) instead of dividing by 0
        return lambda x: ((x - mean) / std).astype(np.float32)
    if kind == "l2":
        return lambda x: (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    raise ValueError(f"input_norm must be 'none', 'standardize' or 'l2', got {kind!r}")


def _normalised_splits(dataset: Dataset, kind: str) -> dict[str, Split]:
    f_img = _normaliser(kind, dataset.train.image)
    f_txt = _normaliser(kind, dataset.train.text)
    return {
        name: Split(f_img(s.image), f_txt(s.text), s.labels, s.ids) for name, s in dataset.splits.items()
    }


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


# ---------------------------------------------------------------- deep training
def _to_device(split: Split, num_classes: int, device: torch.device) -> Batch:
    labels = torch.from_numpy(split.labels).to(device)
    return Batch(
        torch.from_numpy(split.image).to(device),
        torch.from_numpy(split.text).to(device),
        labels,
        torch.nn.functional.one_hot(labels, num_classes).to(torch.float32),
    )


def _locate_divergence(buf: torch.Tensor, names: list[str], epoch: int) -> None:
    """Raise naming the first (step, term) whose value is not finite; ``buf`` is steps x terms."""
    bad = ~torch.isfinite(buf)
    if bool(bad.any()):
        step, col = (int(v) for v in bad.nonzero()[0])
        value = float(buf[step, col])
        raise TrainingDivergedError(
            f"loss term {names[col]!r} became {value} at epoch {epoch}, step {step + 1}; "
            "check the input features for NaN/inf or lower the learning rate"
        )


def _epoch_means(buf: torch.Tensor, use_d: bool, d_count: int) -> list[float | None]:
    """Per-term means of an epoch's steps x terms buffer; the last column, with a discriminator, is
    the mean over the steps that took a D step (``g_steps`` > 1 skips some; None when none did)."""
    means: list[float | None] = buf.mean(0).tolist()
    if use_d:
        means[-1] = float(buf[:, -1].sum()) / d_count if d_count else None
    return means


def _adam(params: list[torch.nn.Parameter], **kw: Any) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch build supports it (3x faster steps on CPU, same update rule)."""
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kw)


OPTIMIZERS = ("adam", "sgd")
D_ORDERS = ("before", "after")


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


def _optimizer(params: list[torch.nn.Parameter], hp: Mapping[str, Any], *, discriminator: bool = False) -> torch.optim.Optimizer:
    """The mapper's (or the discriminator's) optimiser: Adam with the run's betas, or plain SGD
    (theta <- theta - lr * grad, no momentum: Algorithm 1 of ACMR / SMCR as written)."""
    lr = discriminator_lr(hp) if discriminator else float(hp["lr"])
    wd = 0.0 if discriminator else float(hp["weight_decay"])
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    betas = tuple(hp["d_betas"] if discriminator else hp["betas"])
    return _adam(params, lr=lr, betas=betas, weight_decay=wd)


def _final_result(
    model: DeepMethod,
    best: Mapping[str, Any],
    history: list[dict[str, Any]],
    epochs_run: int,
    test_split: Split,
    num_classes: int,
    dev: torch.device,
    started: float,
) -> dict[str, Any]:
    """The test split, read for the first time: ``model``'s last state, then the selected ``best["state"]``
    (loaded into ``model``); the run's result dict (shared with :mod:`xmr.engine.batched`)."""
    test = _to_device(test_split, num_classes, dev)
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
        "epochs": epochs_run,
        "seconds": time.perf_counter() - started,
        "last_epoch": {k: last[k] for k in ("i2t", "t2i", "avg")},
        "val_best": {"i2t": best["i2t"], "t2i": best["t2i"], "avg": best["avg"]},
        "history": history,
        "pr": final["pr"],
        **({"test_best": _test_selected(history)} if history and "test_avg" in history[0] else {}),
    }


def _validation_only(best: Mapping[str, Any], history: list[dict[str, Any]], epochs_run: int, started: float) -> dict[str, Any]:
    """The result of a run that never reads the test split (``evaluate_test=False``: choosing a reading)."""
    return {"best_epoch": best["epoch"], "epochs": epochs_run, "seconds": time.perf_counter() - started,
            "val_best": {"i2t": best["i2t"], "t2i": best["t2i"], "avg": best["avg"]}, "history": history}


def _test_selected(history: list[dict[str, Any]]) -> dict[str, Any]:
    """What selecting the epoch on the test set would report: the earliest epoch of highest test mAP."""
    top = max(history, key=lambda rec: (rec["test_avg"], -rec["epoch"]))
    return {"epoch": top["epoch"], "i2t": top["test_i2t"], "t2i": top["test_t2i"], "avg": top["test_avg"]}


def _track_test(model: DeepMethod, test: Batch, record: dict[str, Any]) -> None:
    """Add this epoch's test mAP to ``record`` (the ``track_test`` diagnostic; never used for selection)."""
    with torch.no_grad():
        zi, zt = model.encode(test.image, test.text)
    scores = evaluate_retrieval(zi, zt, test.labels, metric=model.metric, ks=())
    record.update(test_i2t=scores["i2t"], test_t2i=scores["t2i"], test_avg=scores["avg"])


class _Setup(NamedTuple):
    """What both trainers (one seed here, several in :mod:`xmr.engine.batched`) need before the first step."""

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


def _setup(spec: MethodSpec, dataset: Dataset, hp: Mapping[str, Any], without: Iterable[str], device) -> _Setup:
    """Validate the run's settings, normalise the splits and put train / val on the device."""
    cls: type[DeepMethod] = spec.cls
    without = frozenset(without)
    bad_terms = without - set(cls.ablatable_terms())
    if bad_terms:
        raise ValueError(
            f"{spec.name} cannot run without {sorted(bad_terms)}; its ablatable terms are {list(cls.ablatable_terms())}"
        )
    _check_finite(dataset)
    check_schedule(hp)
    dev = resolve_device(device)
    splits = _normalised_splits(dataset, hp["input_norm"])
    c = dataset.num_classes
    train, val = _to_device(splits["train"], c, dev), _to_device(splits["val"], c, dev)
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
    return _Setup(without, dev, splits, c, train, val, bsz, n_steps, epochs, hp["patience"])


def train_deep(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seed: int = 0,
    without: Iterable[str] = (),
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    track_test: bool = False,
    evaluate_test: bool = True,
) -> tuple[dict[str, Any], DeepMethod]:
    """Train deep method ``spec`` on ``dataset`` with resolved hyperparameters ``hp``.

    Returns ``(result, model)``: ``result`` is JSON-serialisable (see
    :func:`xmr.experiments.run` for its keys), ``model`` holds the selected state.
    ``track_test`` records per-epoch test mAP as a diagnostic (module doc); selection never reads it.
    ``evaluate_test=False`` never reads the test split: the result holds the selection on
    validation only (``best_epoch``, ``val_best``, ``history``), as :mod:`xmr.study.validation` needs.
    """
    if track_test and not evaluate_test:
        raise ValueError("track_test needs the test split; it cannot be combined with evaluate_test=False")
    cls: type[DeepMethod] = spec.cls
    without, dev, splits, c, train, val, bsz, n_steps, epochs, patience = _setup(spec, dataset, hp, without, device)
    n = train.labels.shape[0]
    test = _to_device(splits["test"], c, dev) if track_test else None

    started = time.perf_counter()
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = cls(dataset.dims[0], dataset.dims[1], c, hp, without).to(dev)
        use_d = model.adversarial == "alternating" and model.uses_discriminator()
        # Alternating: the mapper's optimiser never holds discriminator parameters (even when ablated).
        mapper_params = model.mapper_parameters() if model.adversarial == "alternating" else list(model.parameters())
        opt = _optimizer(mapper_params, hp)
        d_params = model.discriminator_parameters() if use_d else []
        d_opt = _optimizer(d_params, hp, discriminator=True) if use_d else None
        weights = model.term_weights()
        active = model.active_terms()
        g_steps, d_after = int(hp["g_steps"]), hp["d_order"] == "after"
        d_last = torch.zeros((), device=dev)

        def d_update(batch: Batch, features: dict[str, torch.Tensor]) -> torch.Tensor:
            for _ in range(int(hp["d_steps"])):
                d_opt.zero_grad(set_to_none=True)
                d_loss = model.discriminator_loss(batch, features)
                d_loss.backward()
                d_opt.step()
                model.after_discriminator_step()
            return d_loss.detach()

        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"avg": -math.inf, "epoch": 0, "state": None, "i2t": None, "t2i": None}
        names: list[str] | None = None
        epoch = 0
        global_step = 0
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(n, generator=gen) if hp["shuffle"] else torch.arange(n)
            order = order.to(dev)
            buf: torch.Tensor | None = None
            d_count = 0
            for step in range(n_steps):
                idx = order[step * bsz : (step + 1) * bsz]
                batch = Batch(train.image[idx], train.text[idx], train.labels[idx], train.onehot[idx])
                out = model(batch)
                global_step += 1
                d_now = use_d and global_step % g_steps == 0  # every k-th mapper step (k = g_steps)
                if d_now and not d_after:
                    d_last = d_update(batch, {k: v.detach() for k, v in out.items()})
                if use_d:
                    for p in d_params:  # the mapper step must not build discriminator gradients
                        p.requires_grad_(False)
                terms = model.losses(batch, out)
                missing = [t for t in active if t not in terms]
                if missing:
                    raise RuntimeError(f"{spec.name}.losses() did not return active term(s) {missing}")
                total = sum(weights[t] * terms[t] for t in active)
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                if use_d:
                    for p in d_params:
                        p.requires_grad_(True)
                if d_now and d_after:  # Algorithm 1: D ascends on the features of the updated mapper
                    with torch.no_grad():
                        fresh = model(batch)
                    d_last = d_update(batch, fresh)
                if names is None:  # fixed at the first step: returned terms, the total, the discriminator's loss
                    names = [t for t in model.terms if t in terms] + ["loss"] + (["d_loss"] if use_d else [])
                d_count += d_now
                extra = [d_last.float() * d_now] if use_d else []  # 0 on steps without a D step (see _epoch_means)
                row = torch.stack([terms[t].detach().float() for t in names if t in terms] + [total.detach().float()] + extra)
                if buf is None:
                    buf = torch.empty(n_steps, len(row), device=dev)
                buf[step] = row
            assert buf is not None and names is not None
            _locate_divergence(buf, names, epoch)  # the epoch's one host sync for the losses
            means = _epoch_means(buf, use_d, d_count)

            model.eval()
            with torch.no_grad():
                zi, zt = model.encode(val.image, val.text)
            v_i2t = metrics.mean_average_precision(zi, zt, val.labels, val.labels, metric=model.metric)
            v_t2i = metrics.mean_average_precision(zt, zi, val.labels, val.labels, metric=model.metric)
            v_avg = (v_i2t + v_t2i) / 2
            record = {"epoch": epoch, **dict(zip(names, means)), "val_i2t": v_i2t, "val_t2i": v_t2i, "val_avg": v_avg}
            history.append(record)
            if v_avg > best["avg"]:
                best.update(avg=v_avg, epoch=epoch, i2t=v_i2t, t2i=v_t2i,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            if test is not None:  # after the selection above, which must not see it
                _track_test(model, test, record)
            if progress is not None:
                progress({**record, "best_epoch": best["epoch"], "epochs": epochs})
            if patience is not None and epoch - best["epoch"] >= int(patience):
                break

        if evaluate_test:
            result = _final_result(model, best, history, epoch, splits["test"], c, dev, started)
        else:
            model.load_state_dict(best["state"])
            result = _validation_only(best, history, epoch, started)
    return result, model


# ---------------------------------------------------------------- closed form
def fit_closed_form(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], Any]:
    """Fit a closed-form estimator on train + val (no model selection) and evaluate on test."""
    _check_finite(dataset)
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


def run_method(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seed: int = 0,
    without: Iterable[str] = (),
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    track_test: bool = False,
    evaluate_test: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Train / fit ``spec`` whatever its kind; see :func:`train_deep` and :func:`fit_closed_form`
    (``track_test`` and ``evaluate_test`` apply to deep methods; closed-form ones have no epochs
    to track and no validation selection)."""
    if spec.kind == "deep":
        return train_deep(spec, dataset, hp, seed=seed, without=without, device=device, progress=progress,
                          track_test=track_test, evaluate_test=evaluate_test)
    if not evaluate_test:
        raise ValueError(f"{spec.name} is closed-form: it is fitted on train + val and has no validation-only run")
    if tuple(without):
        raise ValueError(f"{spec.name} is closed-form: it has no loss terms to ablate")
    return fit_closed_form(spec, dataset, hp, seed=seed, progress=progress)
