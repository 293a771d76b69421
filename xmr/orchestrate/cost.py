"""What a training run costs, from counted FLOPs: the plan's estimate without executing a run.

``xmr book --plan`` needs, for each planned run, about how long it will take. This module
answers with arithmetic instead of timing probe runs:

1. **FLOPs of a run** (:func:`step_flops`, :func:`run_flops`). The model is built as the
   engine builds it (``torch.manual_seed(0); spec.cls(d_image, d_text, n_classes, hp,
   frozenset(without))``) and one training step at the method's batch size is executed on
   random inputs of the dataset's shapes under :class:`torch.utils.flop_counter.FlopCounterMode`:
   the mapper's forward, its loss terms (``model.losses``, weighted by ``model.term_weights()``
   over ``model.active_terms()``) and their backward; for an alternating adversarial method
   (``model.adversarial == "alternating"`` and ``model.uses_discriminator()``) also the
   discriminator update (``d_steps`` x ``discriminator_loss`` on detached features + backward,
   plus the no-grad forward that ``d_order="after"`` recomputes), taken on every
   ``g_steps``-th mapper step of the run as :func:`xmr.engine.train_deep` schedules it
   (a global step counter that runs across epochs). The tensors live on PyTorch's ``meta``
   device, so nothing is computed: a count takes the same ~0.1 s whatever the sizes. A
   method whose step does not run on ``meta`` (an operation that needs the data) is counted
   on the CPU with real random tensors instead; the counts are the same.

   Steps per epoch: ``ceil(n_train / batch_size)`` (``n_train // batch_size`` with
   ``drop_last``), as the engine forms index mini-batches; a batch larger than the training
   split is the split. The short last batch of an epoch is charged pro rata to its rows
   (``r / b`` of a full step): exact for the products linear in the batch (every layer),
   an over-count of those quadratic in it (in-batch similarity matrices, e.g. DSCMR's
   label-similarity term, ~7 % of its step), so under 0.5 % of a run; one count per
   configuration instead of two.

   Evaluation: each epoch the validation split is encoded once (``model.encode`` in eval
   mode, counted after an epoch of training forwards, so DCCA's per-epoch linear-CCA fit on
   the training outputs is in it) and ranked both ways; the end of the run encodes the test
   split twice (the last and the selected state) and ranks it 12 times (last epoch i2t / t2i;
   selected state i2t / t2i, @5 / @25 / @50 each way, and the two PR curves); with
   ``track_test`` each epoch also encodes and ranks the test split. A ranking of ``n``
   queries against ``n`` gallery items in ``d`` dimensions counts its score product,
   ``2 n^2 d`` (float64 in :mod:`xmr.metrics`); the sort that follows is not counted.

   What is counted: the matrix products (``mm``, ``addmm``, ``bmm``, convolutions ...),
   which is what :class:`FlopCounterMode` counts. Elementwise work, the optimiser's update,
   the sort of a ranking and Python overhead are not: they are what the inefficiency factor
   (below) absorbs. A ``Linear(i, o)`` on ``b`` rows counts ``2 b i o`` forward and twice
   that backward (input and weight gradients), or once when its input needs no gradient
   (the first layer): ``tests/test_cost.py`` checks DSCMR's count against this rule exactly.

   Staged methods (CMDN): a model exposing ``stage()`` and ``boundaries`` (the epochs where
   its stages begin) is counted once per stage -- the instance's ``stage()`` answers that
   stage, which is all CMDN's forward and losses read of its epoch clock: the hierarchy is
   encoded in full, the other stages' blocks are detached and only the stage's own terms
   are backpropagated -- and each stage's count is charged to its epochs. Early stopping
   (``patience``) is ignored: a run is costed for all its epochs, an upper bound.

   Closed-form methods (CCA, GMA, LCFS, JFSSL) run in numpy (float64), which the counter
   cannot see; :func:`closed_form_flops` counts them analytically, roughly: the
   covariance/scatter products (``2 n d^2``), each dense symmetric eigendecomposition or
   solve as ``~ 10 d^3`` (``d^3 / 3`` for a Cholesky solve), the k-NN graph of JFSSL as its
   ``2 n^2 d`` distance product, the reweighting iterations as their products; fitted on
   train + val (the engine's rule), then the transform and the 10 test rankings.

2. **The machine's rate** (:func:`matmul_peak`): the best of several float32 ``torch.mm`` of
   2048 x 2048 matrices at torch's current thread count, measured once per machine (host
   name, CPU model, torch version, thread count) and remembered in
   ``results_dir()/matmul_peak.json``.

3. **Seconds** (:func:`estimate`): ``floor_seconds`` = (train + eval FLOPs) / peak, the time
   at 100 % of the matmul rate; ``est_seconds`` = floor x an inefficiency factor, per method
   the median of (stored ``seconds`` / floor) over the results-cache entries of this machine
   that can be re-costed (:func:`calibrate`), else :data:`DEFAULT_FACTORS` for the method's
   kind. Cached rows get ``est_seconds`` 0 but keep their FLOPs. A calibrated factor carries
   the conditions its cached runs were trained in (``xmr book --jobs 2`` trains two runs side
   by side with one thread each; a loaded machine inflates every stored time), so the
   estimate predicts runs trained the same way; the defaults are for a run alone.

Costing a plan: each distinct (method, dims, hyperparameters but :data:`COST_FREE_HPARAMS`,
ablation) is counted once per process (a book's runs share few such shapes: ``xmr book --plan`` prints how long
its plan took), plus the cache entries :func:`calibrate` re-costs; each (dataset, protocol, options) is loaded once.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..engine import weighted_total
from ..methods import get as get_method
from ..methods.base import Batch
from ..methods.registry import MethodSpec
from ..paths import results_dir

__all__ = ["Dims", "dims_of", "step_flops", "run_flops", "closed_form_flops", "ranking_flops", "matmul_peak",
           "measure_matmul_rate", "machine_id", "calibrate", "estimate", "DEFAULT_FACTORS", "FINAL_TEST_RANKINGS",
           "CLOSED_FORM_TEST_RANKINGS", "COST_FREE_HPARAMS", "CALIBRATION_ENTRIES", "MIN_CALIBRATION_FLOOR",
           "PEAK_FILE"]

#: Rankings of the test split at the end of a deep run: the last epoch's state (i2t, t2i), the selected
#: state (i2t, t2i, then i2t / t2i at each of @5 / @25 / @50) and its two PR curves (xmr.engine.select.final_result).
FINAL_TEST_RANKINGS = 12
#: Rankings of the test split after a closed-form fit: the selected numbers, @k and PR (no "last epoch").
CLOSED_FORM_TEST_RANKINGS = 10
#: The file (under :func:`xmr.paths.results_dir`) that remembers each machine's matmul rate.
PEAK_FILE = "matmul_peak.json"

#: Wall seconds / floor seconds when no cached run of the method can calibrate it (see :func:`calibrate`).
#: Provenance: ``benchmarks/bench_flops.py --threads 1`` on this 2-core AMD EPYC machine (torch 2.13.0+cpu),
#: 2026-11-27 10:05-10:19 UTC, load average 9-13 from other work: each run's engine ``seconds`` against its
#: floor at the matmul peak measured in the same process (1 thread; the ratios by CPU time agreed within
#: ~10 %, and DSCMR's 1.34 matches the 1.32 of the quiet machine's 1-thread run in benchmarks/README.md):
#:
#: * ``deep``: 2.5, the median over the eight deep methods, 5 epochs on Wikipedia: DSCMR 1.34, CMDN 1.49,
#:   DCCA 1.50, DACSL 1.70 (large products) and SMCR 3.25, DRSL 3.82, ACMR 4.58, SSACR 4.84 (small products,
#:   where per-step overhead dominates). With 2 threads a run uses the wider peak less well: DSCMR alone
#:   on the quiet machine took 236 s for 500 epochs against a 135.6 s floor at its 235 GFLOP/s 2-thread
#:   peak (1.74, against 1.32 with one thread).
#: * ``closed_form``: 3.3, the median over CCA, GMA, LCFS and JFSSL fitted on Wikipedia, the news set (Doc2Vec
#:   and BoW) and ``pascal100`` fold 0 (16 fits, 0.8 to 16.5; the large fits, which are what costs time,
#:   0.8 to 4.9; the analytic count is rough, GMA's eigendecomposition of a few leading vectors is over-counted).
DEFAULT_FACTORS: dict[str, float] = {"deep": 2.5, "closed_form": 3.3}


# ----------------------------------------------------------------------------- shapes
class Dims(NamedTuple):
    """The shapes that determine a run's cost: feature sizes, classes, rows per split."""

    image: int
    text: int
    classes: int
    train: int
    val: int
    test: int


def dims_of(dataset: Any) -> Dims:
    """The :class:`Dims` of a loaded :class:`xmr.data.Dataset`."""
    d_image, d_text = dataset.dims
    return Dims(int(d_image), int(d_text), int(dataset.num_classes), len(dataset.train), len(dataset.val),
                len(dataset.test))


_DIMS: dict[str, Dims | Exception] = {}


def _dataset_dims(dataset: str, protocol: str | None, options: Mapping[str, Any]) -> Dims:
    """Load ``dataset`` once per (dataset, protocol, options) in this process and remember its shapes
    (or why it does not load: asked again, the same error, without loading again)."""
    key = json.dumps([dataset, protocol, dict(options)], sort_keys=True, default=str)
    if key not in _DIMS:
        from .. import data

        try:
            _DIMS[key] = dims_of(data.load(dataset, protocol=protocol, **dict(options)))
        except Exception as err:  # noqa: BLE001 - e.g. DataUnavailableError; re-raised below
            _DIMS[key] = err
    found = _DIMS[key]
    if isinstance(found, Exception):
        raise found
    return found


def ranking_flops(n_query: int, n_gallery: int, dim: int) -> int:
    """FLOPs of one ranking: the ``n_query x n_gallery`` score product in ``dim`` dimensions (the sort is not counted)."""
    return 2 * int(n_query) * int(n_gallery) * int(dim)


# ----------------------------------------------------------------------------- counting a deep method
def _hp_key(spec: MethodSpec, dims: Dims, hp: Mapping[str, Any], without: Iterable[str]) -> str:
    return json.dumps([spec.name, list(dims), dict(hp), sorted(without)], sort_keys=True, default=str)


def _batch(dims: Dims, rows: int, device: torch.device) -> Batch:
    with torch.device(device):
        labels = torch.arange(rows) % dims.classes  # every class present, deterministic
        onehot = torch.zeros(rows, dims.classes).scatter_(1, labels[:, None], 1.0)
        return Batch(torch.randn(rows, dims.image), torch.randn(rows, dims.text), labels, onehot)


def _counted(fn) -> tuple[int, Any]:
    with FlopCounterMode(display=False) as counter:
        value = fn()
    return int(counter.get_total_flops()), value


def _build(spec: MethodSpec, dims: Dims, hp: Mapping[str, Any], without: frozenset[str], device: torch.device):
    """The model as the engine builds it (seeded, inside a forked RNG so the caller's state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with torch.device(device):
            return spec.cls(dims.image, dims.text, dims.classes, dict(hp), without)


def _uses_d(model: Any) -> bool:
    return model.adversarial == "alternating" and model.uses_discriminator()


def _step_counts(model: Any, batch: Batch, hp: Mapping[str, Any]) -> tuple[int, int]:
    """(mapper FLOPs, discriminator-update FLOPs) of one engine step on ``batch`` (see :func:`xmr.engine.train_deep`)."""
    model.train()
    use_d = _uses_d(model)
    d_params = model.discriminator_parameters() if use_d else []
    weights, active = model.term_weights(), model.active_terms()
    d_steps, d_after = int(hp.get("d_steps", 1)), hp.get("d_order", "before") == "after"

    def d_update(features: dict[str, torch.Tensor]) -> None:
        for _ in range(d_steps):
            loss = model.discriminator_loss(batch, features)
            loss.backward()
            for p in d_params:
                p.grad = None

    def mapper() -> dict[str, torch.Tensor]:
        out = model(batch)
        for p in d_params:  # the mapper step builds no discriminator gradients
            p.requires_grad_(False)
        total = weighted_total(type(model).__name__, model.losses(batch, out), weights, active)
        if isinstance(total, torch.Tensor) and total.requires_grad:
            total.backward()
        for p in d_params:
            p.requires_grad_(True)
        return out

    mapper_flops, out = _counted(mapper)
    for p in model.parameters():
        p.grad = None
    d_flops = 0
    if use_d:
        if d_after:  # D ascends on features recomputed with the updated mapper
            def recompute_and_update() -> None:
                with torch.no_grad():
                    fresh = model(batch)
                d_update(fresh)
            d_flops, _ = _counted(recompute_and_update)
        else:
            d_flops, _ = _counted(lambda: d_update({k: v.detach() for k, v in out.items()}))
    for p in model.parameters():
        p.grad = None
    return mapper_flops, d_flops


def _count_deep(spec: MethodSpec, dims: Dims, hp: Mapping[str, Any], without: frozenset[str],
                device: torch.device) -> dict[str, Any]:
    n, bsz = dims.train, int(hp["batch_size"])
    if bsz < 1:
        raise ValueError(f"batch_size must be positive, got {bsz}")
    drop_last = bool(hp.get("drop_last", False))
    n_steps = n // bsz if drop_last else math.ceil(n / bsz)
    if n_steps == 0:
        raise ValueError(f"batch_size {bsz} exceeds the {n} training pairs with drop_last=True")
    b = min(bsz, n)
    last = b if drop_last or n % bsz == 0 or n < bsz else n % bsz
    full = _batch(dims, b, device)

    model = _build(spec, dims, hp, without, device)
    staged = _staged(model)
    stages = []
    for stage in range(len(model.boundaries) + 1) if staged else [None]:
        if stage is not None:  # the step as it is taken in that stage (the instance's stage() answers it)
            model.stage = lambda stage=stage: stage
        mapper, disc = _step_counts(model, full, hp)
        # the short last batch pro rata to its rows (module doc): exact for products linear in the batch
        stages.append({"mapper": mapper, "discriminator": disc,
                       "mapper_last": mapper * last // b, "discriminator_last": disc * last // b})

    # Evaluation: a fresh model after an epoch of training forwards (uncounted; DCCA collects its rows for
    # the linear CCA that the validation encode then fits), the validation encode, the test encode.
    model = _build(spec, dims, hp, without, device)
    model.train()
    with torch.no_grad():
        if device.type == "meta":  # shapes only: one forward of the whole split costs what one batch costs
            model(_batch(dims, n_steps * b if drop_last else n, device))
        else:
            for start in range(0, n_steps * b if drop_last else n, b):
                model(_batch(dims, min(b, n - start), device))
    model.eval()
    with torch.no_grad():
        val_batch, test_batch = _batch(dims, dims.val, device), _batch(dims, dims.test, device)
        encode_val, (zi_val, _) = _counted(lambda: model.encode(val_batch.image, val_batch.text))
        encode_test, (zi_test, _) = _counted(lambda: model.encode(test_batch.image, test_batch.text))
    return {
        "batch_size": b, "last_batch": last, "steps_per_epoch": n_steps, "stages": stages,
        "uses_discriminator": _uses_d(model), "g_steps": int(hp.get("g_steps", 1)),
        "encode_val": encode_val, "encode_test": encode_test,
        "rank_val": ranking_flops(dims.val, dims.val, zi_val.shape[1]),
        "rank_test": ranking_flops(dims.test, dims.test, zi_test.shape[1]),
        "device": device.type, "staged": staged,
    }


def _staged(model: Any) -> bool:
    """A staged method (CMDN): ``stage()`` answers a stage index and ``boundaries`` lists the epochs where stages begin."""
    return callable(getattr(model, "stage", None)) and hasattr(model, "boundaries") and model.stage() is not None


#: Engine hyperparameters that cannot change the FLOPs of a step or an evaluation (the update rule,
#: its rates, the order of rows, the input normalisation, early stopping, the run's length): left out
#: of the memo key of a step's count, so runs that differ only in these are counted once.
COST_FREE_HPARAMS = frozenset({"epochs", "lr", "betas", "weight_decay", "d_lr", "d_betas", "d_lr_scale", "shuffle",
                               "input_norm", "patience", "optimizer"})

_STEPS: dict[str, dict[str, Any]] = {}


def step_flops(spec: MethodSpec | str, dims: Dims, hp: Mapping[str, Any], without: Iterable[str] = ()) -> dict[str, Any]:
    """FLOPs of one training step and one evaluation of deep method ``spec`` on data of shape ``dims``.

    ``hp`` are the run's resolved hyperparameters (:func:`xmr.engine.resolve_hparams`), ``without``
    its ablated terms. Returns ``batch_size`` (capped at the training split), ``last_batch`` (the
    short last batch's rows), ``steps_per_epoch``, ``segments`` (one per stage, each
    ``{"start_epoch", "mapper", "discriminator", "mapper_last", "discriminator_last"}``: FLOPs
    of a mapper step and of a discriminator update at the full and at the last batch size),
    ``uses_discriminator``, ``g_steps``, ``encode_val`` / ``encode_test`` (one encode of the split),
    ``rank_val`` / ``rank_test`` (one ranking's score product), ``device`` (``"meta"``, or
    ``"cpu"`` when the step needed real tensors), and ``step`` / ``epoch``: the mapper step plus
    its share ``1 / g_steps`` of a discriminator update, and one epoch's training FLOPs, in the
    first segment. Memoised per (method, dims, hp, without) in this process, ``hp`` without
    :data:`COST_FREE_HPARAMS` (a staged method's boundaries are read from ``hp`` on every call).
    """
    spec = get_method(spec) if isinstance(spec, str) else spec
    if spec.kind != "deep":
        raise ValueError(f"{spec.name} is {spec.kind}: use closed_form_flops")
    without = frozenset(without)
    dims = Dims(*dims)
    key = _hp_key(spec, dims, {k: v for k, v in hp.items() if k not in COST_FREE_HPARAMS}, without)
    if key not in _STEPS:
        with torch.random.fork_rng(devices=[]):  # random inputs: the caller's RNG state is untouched
            try:
                counts = _count_deep(spec, dims, hp, without, torch.device("meta"))
            except (NotImplementedError, RuntimeError, TypeError, IndexError):
                counts = _count_deep(spec, dims, hp, without, torch.device("cpu"))  # needs real data: run it
        _STEPS[key] = counts
    counts = dict(_STEPS[key])
    # Stage boundaries depend on the run's epochs (left out of the key): read them from a model built with hp.
    starts = [0]
    if counts["staged"]:
        model = _build(spec, dims, hp, without, torch.device("meta"))
        starts += [int(e) for e in model.boundaries]
    counts["segments"] = [{"start_epoch": start, **stage} for start, stage in zip(starts, counts["stages"])]
    first, g, n = counts["segments"][0], counts["g_steps"], counts["steps_per_epoch"]
    d_share = first["discriminator"] / g if counts["uses_discriminator"] else 0.0
    counts["step"] = first["mapper"] + d_share
    counts["epoch"] = (n - 1) * first["mapper"] + first["mapper_last"] + n * d_share
    return counts


def run_flops(spec: MethodSpec | str, dims: Dims, hp: Mapping[str, Any], without: Iterable[str] = (), *,
              epochs: int | None = None, track_test: bool = False) -> dict[str, float]:
    """FLOPs of a whole run: ``{"train_flops", "eval_flops", "steps", "d_steps"}``.

    Deep methods: ``epochs`` (default ``hp["epochs"]``; the model, and so a staged method's
    stage boundaries, is built with ``hp`` as given) epochs of :func:`step_flops`'s steps, a
    discriminator update on every ``g_steps``-th step of the run, the validation encode and
    ranking each epoch (and the test's with ``track_test``), and the final test encodes and
    :data:`FINAL_TEST_RANKINGS` rankings. Closed-form methods: :func:`closed_form_flops`.
    """
    spec = get_method(spec) if isinstance(spec, str) else spec
    dims = Dims(*dims)
    if spec.kind != "deep":
        return closed_form_flops(spec, dims, hp)
    c = step_flops(spec, dims, hp, without)
    epochs = int(hp["epochs"] if epochs is None else epochs)
    n, g = c["steps_per_epoch"], c["g_steps"]
    segments = c["segments"]
    train = 0.0
    d_count = 0
    # in closed form per segment (a loop over epochs took minutes for absurd epoch counts): the epochs
    # [start, end) of a segment; global steps start*n+1 .. end*n, a discriminator update where the step is a
    # multiple of g, on an epoch's last step exactly when (e + 1) * n is a multiple of g, i.e. when e + 1 is a
    # multiple of q = g / gcd(n, g)
    bounds = [min(max(int(seg["start_epoch"]), 0), epochs) for seg in segments] + [epochs]
    q = g // math.gcd(n, g) if g else 1
    for seg, start, end in zip(segments, bounds, bounds[1:]):
        if end <= start:
            continue
        train += (end - start) * ((n - 1) * seg["mapper"] + seg["mapper_last"])
        if c["uses_discriminator"]:
            k = end * n // g - start * n // g
            on_last = end // q - start // q
            train += (k - on_last) * seg["discriminator"] + on_last * seg["discriminator_last"]
            d_count += k
    per_epoch_eval = c["encode_val"] + 2 * c["rank_val"]
    if track_test:
        per_epoch_eval += c["encode_test"] + 2 * c["rank_test"]
    evaluation = epochs * per_epoch_eval + 2 * c["encode_test"] + FINAL_TEST_RANKINGS * c["rank_test"]
    return {"train_flops": float(train), "eval_flops": float(evaluation), "steps": epochs * n, "d_steps": d_count}


# ----------------------------------------------------------------------------- closed-form methods
_EIG = 10  # FLOPs of a dense symmetric eigendecomposition with vectors, / d^3 (Golub & Van Loan: ~9 d^3)


class _Fit(NamedTuple):
    """What a closed-form formula needs: rows fitted on (train + val), the views' sizes, the classes."""

    n: int
    da: int
    db: int
    c: int

    def cov(self, d1: int, d2: int) -> float:  # a covariance / scatter / Gram product
        return 2.0 * self.n * d1 * d2


def _eig(d: int) -> float:
    return _EIG * float(d) ** 3


def _chol_solve(d: int, rhs: int) -> float:
    return float(d) ** 3 / 3 + 2.0 * d * d * rhs


def _cca_flops(f: _Fit, hp: Mapping[str, Any]) -> tuple[float, int]:
    """CCA: both views' covariances and cross-covariance, their inverse square roots, the whitened product's SVD."""
    da, db = f.da, f.db
    k = min(int(hp.get("n_components", 10)), da, db)
    fit = f.cov(da, da) + f.cov(db, db) + f.cov(da, db) + _eig(da) + _eig(db) + 2.0 * (da**3 + db**3)
    m, s = max(da, db), min(da, db)
    fit += 2.0 * da * da * db + 2.0 * da * db * db + 4.0 * m * s * s + 8.0 * s**3
    return fit, k


def _gma_flops(f: _Fit, hp: Mapping[str, Any]) -> tuple[float, int]:
    """GMA: optional PCA of each view, the within-class scatters, a generalized eigenproblem of both views."""
    pca = hp.get("pca_dim")
    ra = min(f.da, int(pca)) if pca else f.da
    rb = min(f.db, int(pca)) if pca else f.db
    fit = 0.0
    if pca and int(pca) < f.da:
        fit += 4.0 * f.n * f.da * f.da + 8.0 * f.da**3 + 2.0 * f.n * f.da * ra
    if pca and int(pca) < f.db:
        fit += 4.0 * f.n * f.db * f.db + 8.0 * f.db**3 + 2.0 * f.n * f.db * rb
    fit += f.cov(ra, ra) + f.cov(rb, rb)  # within-class scatter (between-class: c x d^2, small)
    fit += 2.0 * f.c * (ra * ra + rb * rb + ra * rb)
    if hp.get("cross") == "pairs":
        fit += f.cov(ra, rb)
    fit += 4 * _eig(ra + rb) / 3 + 2 * (ra + rb) ** 3  # generalized: Cholesky reduction + eigh
    return fit, f.c - 1 if hp.get("n_components") is None else int(hp["n_components"])


def _lcfs_flops(f: _Fit, hp: Mapping[str, Any]) -> tuple[float, int]:
    """LCFS: a ridge start per view, then ``n_iter`` reweighted solves and projections."""
    c = f.c
    fit = sum(f.cov(d, d) + _chol_solve(d, c) + 2.0 * f.n * d * c for d in (f.da, f.db))
    fit += sum(f.cov(d, d) + 2.0 * f.n * d * c for d in (f.da, f.db))  # the Grams and X^T Y the iterations reuse
    per_iter = sum(2.0 * f.n * d * c for d in (f.da, f.db)) + 2 * 2.0 * f.n * (2 * c) ** 2 + 4.0 * f.n * (2 * c) ** 2
    per_iter += sum(2 * 2.0 * f.n * 2 * c * d + 2.0 * 2 * c * d * d + f.cov(d, d) + _chol_solve(d, c) for d in (f.da, f.db))
    return fit + int(hp.get("n_iter", 5)) * per_iter, c


def _jfssl_flops(f: _Fit, hp: Mapping[str, Any]) -> tuple[float, int]:
    """JFSSL: each view's k-NN distances and graph blocks, a ridge start, ``n_iter`` joint solves."""
    c, dd = f.c, f.da + f.db
    fit = sum(2.0 * f.n * f.n * d for d in (f.da, f.db))  # k-NN distances of each view
    fit += sum(2 * f.cov(d, d) + 2.0 * f.n * d * c for d in (f.da, f.db)) + 2.0 * c * f.da * f.db  # graph blocks
    fit += sum(f.cov(d, d) + _chol_solve(d, c) + 2.0 * f.n * d * c for d in (f.da, f.db))  # ridge start
    return fit + int(hp.get("n_iter", 10)) * _chol_solve(dd, c), c


def _generic_flops(f: _Fit, hp: Mapping[str, Any]) -> tuple[float, int]:
    """A closed-form method with no formula of its own (e.g. one you registered): one covariance and one
    eigendecomposition of both views."""
    fit = f.cov(f.da, f.da) + f.cov(f.db, f.db) + f.cov(f.da, f.db) + _eig(f.da) + _eig(f.db)
    return fit, min(f.da, f.db)


#: Each closed-form method's FLOP formula: ``(fit FLOPs, output dimension)`` of a fit. Declared here, one function
#: per method, rather than in the method modules, whose code is part of every run's fingerprint (a cost formula
#: changes no number); a test checks that every registered closed-form method has one.
CLOSED_FORM_FLOPS: dict[str, Callable[[_Fit, Mapping[str, Any]], tuple[float, int]]] = {
    "cca": _cca_flops, "gma": _gma_flops, "lcfs": _lcfs_flops, "jfssl": _jfssl_flops}


def closed_form_flops(spec: MethodSpec | str, dims: Dims, hp: Mapping[str, Any]) -> dict[str, float]:
    """A rough analytic FLOP count of a closed-form fit on train + val, then the test transform and rankings.

    ``{"train_flops": fit, "eval_flops": transform + CLOSED_FORM_TEST_RANKINGS rankings}``. Counted:
    the products that form covariance / scatter / Gram matrices (``2 n d^2``), dense symmetric
    eigendecompositions and SVDs (``~10 d^3``), Cholesky solves (``d^3 / 3 + 2 d^2 c``), JFSSL's
    k-NN distances (``2 n^2 d`` per view) and each reweighting iteration's products: the method's own
    formula in :data:`CLOSED_FORM_FLOPS`, else one covariance and one eigendecomposition of both views.
    """
    spec = get_method(spec) if isinstance(spec, str) else spec
    dims = Dims(*dims)
    fit, out_dim = CLOSED_FORM_FLOPS.get(spec.name, _generic_flops)(
        _Fit(dims.train + dims.val, dims.image, dims.text, dims.classes), hp)
    transform = 2.0 * dims.test * (dims.image + dims.text) * out_dim
    evaluation = transform + CLOSED_FORM_TEST_RANKINGS * ranking_flops(dims.test, dims.test, out_dim)
    return {"train_flops": float(fit), "eval_flops": float(evaluation), "steps": 0, "d_steps": 0}


# ----------------------------------------------------------------------------- the machine's rate
def machine_id() -> str:
    """What the matmul rate is remembered by: host name, CPU model, torch version, torch's thread count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{socket.gethostname()} | {cpu} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def measure_matmul_rate(n: int = 2048, reps: int = 8) -> dict[str, float]:
    """Time ``reps`` float32 ``torch.mm`` of two ``n x n`` matrices (after one warm-up) at torch's current
    thread count: ``{"best", "median"}`` in FLOP/s (``2 n^3`` FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(int(reps)):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * n**3
    return {"best": flops / min(times), "median": flops / statistics.median(times)}


_PEAKS: dict[str, float] = {}


def _peak_file() -> Path:
    return results_dir() / PEAK_FILE


def _read_peaks(path: Path) -> dict[str, Any]:
    try:
        peaks = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return peaks if isinstance(peaks, dict) else {}


def _quiet_again(stored: Mapping[str, Any]) -> bool:
    """A rate remembered from a loaded machine (load average above the core count) while the machine is now quiet
    (at most half its cores busy): worth measuring again."""
    cores = os.cpu_count() or 1
    then = stored.get("load_average")
    if then is None or float(then) <= cores or not hasattr(os, "getloadavg"):
        return False
    return os.getloadavg()[0] <= cores / 2


def matmul_peak(refresh: bool = False) -> float:
    """This machine's float32 matmul rate in FLOP/s: the best of several 2048^3 ``torch.mm``
    (:func:`measure_matmul_rate`), measured once per :func:`machine_id` and remembered in
    ``results_dir()/matmul_peak.json`` (with the time and load average of the measurement);
    ``refresh=True`` measures again and replaces the remembered value. A rate measured under load
    (load average above the core count: a warning says so) is measured again by the first call
    that finds the machine quiet (load average at most half the cores)."""
    from ..io import write_json_atomic

    mid = machine_id()
    path = _peak_file()
    memo_key = f"{path}\n{mid}"
    if not refresh:
        if memo_key in _PEAKS:
            return _PEAKS[memo_key]
        stored = _read_peaks(path).get(mid)
        if isinstance(stored, dict) and float(stored.get("flops_per_second", 0)) > 0 and not _quiet_again(stored):
            _PEAKS[memo_key] = float(stored["flops_per_second"])
            return _PEAKS[memo_key]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rate = measure_matmul_rate()
    if load is not None and load > (os.cpu_count() or 1):
        print(f"xmr.orchestrate.cost: the matmul peak ({rate['best'] / 1e9:.1f} GFLOP/s) was measured under load "
              f"(load average {load:.1f} on {os.cpu_count()} cores) and is remembered; measure again on a quiet "
              "machine with matmul_peak(refresh=True)", file=sys.stderr)
    peaks = _read_peaks(path)
    peaks[mid] = {"flops_per_second": rate["best"], "median_flops_per_second": rate["median"], "n": 2048,
                  "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average": load}
    write_json_atomic(path, peaks)
    _PEAKS[memo_key] = rate["best"]
    return rate["best"]


# ----------------------------------------------------------------------------- calibration and the estimate
def _row_flops(method: str, dataset: str, protocol: str | None, options: Mapping[str, Any], hp: Mapping[str, Any],
               without: Iterable[str], epochs: int | None, track_test: bool) -> dict[str, float]:
    """FLOPs of a run on a named dataset; ``epochs``: the epochs it trains (default ``hp["epochs"]``)."""
    spec = get_method(method)
    dims = _dataset_dims(dataset, protocol, options)
    if spec.kind == "deep":
        return run_flops(spec, dims, hp, without, epochs=epochs, track_test=track_test)
    return closed_form_flops(spec, dims, hp)


_CALIBRATION: dict[str, dict[str, float]] = {}
#: At most this many cache entries calibrate a method (its most recent ones; current before stale).
CALIBRATION_ENTRIES = 10
#: Entries whose floor is shorter than this many seconds do not calibrate: a smoke-scale run (a DSCMR run of
#: 4 epochs on Wikipedia has a ~1 s floor at 235 GFLOP/s) is dominated by its fixed costs (the final test
#: evaluation, the first steps), and a closed-form fit of a second by overhead, not by its arithmetic.
MIN_CALIBRATION_FLOOR = 2.0


def calibrate(peak: float | None = None, *, root: Path | None = None, refresh: bool = False) -> dict[str, float]:
    """Per method, the median of (stored ``seconds`` / floor seconds) over results-cache entries
    (:func:`xmr.results.entries`) whose identity can be re-costed: a registered method, a dataset that
    loads (not your own arrays), hyperparameters the method still builds with, and a floor of at least
    :data:`MIN_CALIBRATION_FLOOR` seconds (a longer run than a smoke test). The entries current
    for this code are used when a method has any, else its stale ones (a timing is the machine's
    more than the code's); at most :data:`CALIBRATION_ENTRIES` per method, the most recently written.
    A deep entry is costed for the epochs it really ran (``run["epochs"]``: early stopping), with
    ``track_test`` when it holds the per-epoch test record. Methods without such an entry are absent
    (:func:`estimate` then uses :data:`DEFAULT_FACTORS`). Memoised per results directory and peak in
    this process (``refresh`` recomputes)."""
    from .. import results

    peak = matmul_peak() if peak is None else float(peak)
    root = root or results_dir()
    memo = f"{root}\n{peak}"
    if memo in _CALIBRATION and not refresh:
        return dict(_CALIBRATION[memo])
    by_method: dict[str, list[Any]] = {}
    for entry in results.entries(root):
        if entry.state != "unknown":
            by_method.setdefault(entry.method, []).append(entry)
    factors: dict[str, float] = {}
    for method, found in sorted(by_method.items()):
        for pool in ([e for e in found if e.state == "current"], [e for e in found if e.state != "current"]):
            ratios: list[float] = []
            for e in sorted(pool, key=lambda e: e.path.stat().st_mtime, reverse=True):
                r = _ratio(e.path, root, peak)
                if r is not None:
                    ratios.append(r)
                    if len(ratios) == CALIBRATION_ENTRIES:
                        break
            if ratios:
                factors[method] = float(statistics.median(ratios))
                break
    _CALIBRATION[memo] = factors
    return dict(factors)


def _ratio(path: Path, root: Path, peak: float) -> float | None:
    """Stored seconds / floor seconds of one cache entry, or None when it cannot be re-costed."""
    from .. import results

    try:
        ident = json.loads(path.read_text())["identity"]
        run = results.load(ident, root)
        options = dict(ident.get("dataset_options") or {})
        if run is None or "fingerprint" in options or not float(run.get("seconds") or 0) > 0:
            return None
        spec = get_method(ident["method"])
        hp = {**spec.defaults, **{k: v for k, v in dict(ident["hparams"]).items() if k in spec.defaults}}
        epochs = run.get("epochs") if spec.kind == "deep" else None
        if spec.kind == "deep" and not epochs:
            return None
        flops = _row_flops(spec.name, ident["dataset"], ident["protocol"], options, hp, ident.get("without") or (),
                           epochs, spec.kind == "deep" and "test_best" in run)
    except Exception as err:  # noqa: BLE001 - an entry we cannot re-cost does not calibrate
        print(f"xmr.orchestrate.cost: not calibrating from {path.name} ({type(err).__name__}: {err})", file=sys.stderr)
        return None
    floor = (flops["train_flops"] + flops["eval_flops"]) / peak
    return float(run["seconds"]) / floor if floor >= MIN_CALIBRATION_FLOOR else None


def estimate(rows: Any, *, peak: float | None = None, factors: Mapping[str, float] | None = None) -> Any:
    """``rows`` (a DataFrame of planned runs: method, kind, dataset, protocol, options (dict), without
    (comma string), epochs, hparams (dict), track_test, seed, cached) with ``train_flops``,
    ``eval_flops``, ``floor_seconds`` (all FLOPs / ``peak``, default :func:`matmul_peak`), ``factor``
    and ``est_seconds`` (floor x factor) added. A cached row costs nothing and is not costed (NaN FLOPs,
    ``est_seconds`` 0): costing needs each dataset's dimensions, i.e. loading it, and on a fresh clone
    whose runs are all archived that meant extracting the news set's features (about 2.5 of the 3 minutes
    ``xmr book --plan`` took there).

    ``factors``: per-method inefficiency factors; default :func:`calibrate` (this machine's cached runs),
    and :data:`DEFAULT_FACTORS` by kind for a method it has none for. Each (dataset, protocol,
    options) is loaded once; FLOP counts are memoised per (method, dims, hp, without), so a plan of
    hundreds of runs costs seconds. A row that cannot be costed (a dataset that does not load, your
    own arrays) gets NaN and a line on standard error. ``attrs["peak"]`` and ``attrs["factors"]`` say
    what was used.
    """
    import pandas as pd

    out = rows.copy()
    peak = matmul_peak() if peak is None else float(peak)
    factors = dict(calibrate(peak) if factors is None else factors)
    train, evaluation, floor, factor, est = [], [], [], [], []
    for _, row in out.iterrows():
        spec = get_method(row["method"])
        if bool(row.get("cached", False)):
            train.append(math.nan), evaluation.append(math.nan), floor.append(math.nan)
            factor.append(math.nan), est.append(0.0)
            continue
        options = dict(row.get("options") or {})
        without = [t for t in str(row.get("without") or "").split(",") if t]
        epochs = row.get("epochs")
        epochs = None if epochs is None or (isinstance(epochs, float) and math.isnan(epochs)) else int(epochs)
        try:
            if "fingerprint" in options:
                raise ValueError("a dataset of your own arrays cannot be reloaded by name")
            hp = dict(row["hparams"])
            if spec.kind == "deep" and epochs is not None:
                hp["epochs"] = epochs  # the run's length (built with it: a staged method's boundaries follow)
            flops = _row_flops(spec.name, row["dataset"], row.get("protocol"), options, hp, without, None,
                               bool(row.get("track_test", False)))
        except Exception as err:  # noqa: BLE001
            print(f"xmr.orchestrate.cost: cannot cost {spec.name} on {row['dataset']} ({type(err).__name__}: {err})",
                  file=sys.stderr)
            train.append(math.nan), evaluation.append(math.nan), floor.append(math.nan)
            factor.append(math.nan), est.append(0.0 if bool(row.get("cached", False)) else math.nan)
            continue
        f = float(factors.get(spec.name, DEFAULT_FACTORS.get(spec.kind, DEFAULT_FACTORS["deep"])))
        seconds = (flops["train_flops"] + flops["eval_flops"]) / peak
        train.append(flops["train_flops"]), evaluation.append(flops["eval_flops"]), floor.append(seconds)
        factor.append(f), est.append(0.0 if bool(row.get("cached", False)) else seconds * f)
    out["train_flops"] = pd.Series(train, index=out.index, dtype="float64")
    out["eval_flops"] = pd.Series(evaluation, index=out.index, dtype="float64")
    out["floor_seconds"] = pd.Series(floor, index=out.index, dtype="float64")
    out["factor"] = pd.Series(factor, index=out.index, dtype="float64")
    out["est_seconds"] = pd.Series(est, index=out.index, dtype="float64")
    out.attrs["peak"] = peak
    out.attrs["factors"] = factors
    return out
