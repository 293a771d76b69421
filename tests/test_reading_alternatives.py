"""Each declared alternative reading really changes what is computed (issue 17).

The multiverse re-runs DACSL, SMCR and DSCMR under each alternative reading, one at a
time; an alternative that changed nothing computed would be a fake universe. The cases
are generated from the methods' ``readings`` declarations (one per alternative value),
so a newly declared reading is covered without editing this file.

Two kinds of option, told apart by where they live:

* an engine hyperparameter (:data:`xmr.methods.base.TRAIN_DEFAULTS`: optimiser, schedule,
  input normalisation, shuffling, early stopping ...) changes the training procedure: the
  method is trained for a few epochs on a tiny seeded synthetic dataset through
  :func:`xmr.engine.train`, once at the default and once at the alternative, and the trained
  run (per-epoch loss and validation history, selected epoch, run length, final weights)
  must differ;
* any other option is read by the method's module: the model is built twice as the engine
  builds it (``torch.manual_seed(seed)`` then the constructor) and its computation on one
  fixed batch (loss terms, the weighted total the engine minimises, the discriminator's
  loss, the retrieval features, the parameter shapes, the retrieval metric, the
  adversarial schedule) must differ; an option the module reads only while training (a
  clip after the discriminator's step, say) falls back to the trained comparison.

"Differ" means beyond float rounding (not ``allclose`` at rtol 1e-4): a reordering of the
same sums is not a different universe. Values are only ever compared with each other.

Where an alternative acts only on some data, the data is built so that it acts, and the
limit is said here rather than the test weakened:

* DSCMR ``cos_eps`` (1e-6 vs 1e-8) clamps the product of two representations' norms: on
  ordinary representations (norms near 1) both readings compute bit for bit the same losses
  and train bit for bit the same weights. It differs only where representations are near
  zero, which the model computation probes: the loss terms on the forward outputs rescaled
  to tiny norms (``NEAR_ZERO_NORM``).
* ``shuffle`` acts only with more than one mini-batch per epoch (one batch: the same mean
  over a reordered batch, equal up to rounding), and SMCR's schedule (``g_steps``, ``d_order``,
  ``d_lr_scale``) only once discriminator steps are taken: the runs use batches of 5.
* ``patience`` acts only when the validation score stops improving for longer than the
  patience: its runs have a one-class validation split (mAP 1 at every epoch) and are two
  epochs longer than the patience, and the documented difference is asserted: the run stops
  early (the selected state is epoch 1's either way).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import torch

from xmr.data import from_arrays
from xmr.engine import resolve_hparams, train
from xmr.methods import get, names
from xmr.methods.base import TRAIN_DEFAULTS, Batch
from xmr.methods.readings import most_literal

METHODS = ("dacsl", "smcr", "dscmr")
D_IMAGE, D_TEXT, N_CLASSES = 16, 12, 3
N_TRAIN, N_VAL, N_TEST = 30, 12, 12
#: Training runs: 3 epochs of 6 mini-batches, 18 mapper steps. The declared batch sizes exceed
#: 30 pairs: one batch per epoch would make ``shuffle`` a mere reordering inside it, and SMCR's
#: k = 5 mapper steps per discriminator step would take no discriminator step in 3 epochs (with
#: 9 steps, one: ``d_order`` and ``d_lr_scale`` then reach only the discriminator's weights).
TRAIN_OVERRIDES = {"epochs": 3, "batch_size": 5}
#: The near-zero probe: the forward outputs rescaled (one factor for all) so that the image
#: representations' median row norm is this; norm products of about 1e-7 then fall between
#: the clamps a method may declare (DSCMR's cos_eps: 1e-6 vs 1e-8).
NEAR_ZERO_NORM = 3e-4
RTOL, ATOL = 1e-4, 1e-6


def _cases() -> list[Any]:
    out = []
    for method in METHODS:
        for r in get(method).cls.readings:
            for value in r.alternatives:
                out.append(pytest.param(method, r.option, value, id=f"{method}-{r.option}={json.dumps(value)}"))
    return out


CASES = _cases()


def _is_engine_option(option: str) -> bool:
    return option in TRAIN_DEFAULTS


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True, scope="module")
def _forget_trained_runs():
    yield
    _trained.cache_clear()  # the trained weights of every run, kept for the module only
    _model_computation.cache_clear()


# ---------------------------------------------------------------- data
def _split(rng: np.random.Generator, n: int, single_class: bool = False):
    labels = np.zeros(n, np.int64) if single_class else rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    centres_i = np.linspace(-1.0, 1.0, N_CLASSES)[:, None]
    image = rng.normal(size=(n, D_IMAGE)) + centres_i[labels] + 0.5  # off-centre: every normalisation acts
    text = rng.normal(size=(n, D_TEXT)) - centres_i[labels] + 0.5
    return image.astype(np.float32), text.astype(np.float32), labels


@lru_cache(maxsize=None)
def _dataset(single_class_val: bool = False):
    """A tiny seeded dataset; ``single_class_val``: a validation split of one class, whose mAP is
    the same (1) every epoch, so the validation score stops improving after epoch 1."""
    rng = np.random.default_rng(0)
    train_split = _split(rng, N_TRAIN)
    val = _split(rng, N_VAL, single_class=single_class_val)
    test = _split(rng, N_TEST)
    return from_arrays("reading-alternatives", train_split, val, test)


def _batch() -> Batch:
    split = _dataset().train
    image, text, labels = (torch.from_numpy(a) for a in (split.image, split.text, split.labels))
    return Batch(image, text, labels, torch.nn.functional.one_hot(labels, N_CLASSES).to(torch.float32))


# ---------------------------------------------------------------- comparing computations
def _plain(value: Any) -> Any:
    """Tensors and arrays as float64 arrays, tuples as lists: one form to compare."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.astype(np.float64)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal up to float rounding (rtol 1e-4); structure, keys, shapes and strings exactly."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    return type(a) is type(b) and a == b


def _differing(default: dict[str, Any], alternative: dict[str, Any]) -> list[str]:
    return [part for part in default if not _same(default[part], alternative[part])]


# ---------------------------------------------------------------- model options
def _build(method: str, overrides: dict[str, Any]):
    spec = get(method)
    hp = resolve_hparams(spec, overrides)
    torch.manual_seed(0)  # as the engine: seed, then construct
    return spec.cls(D_IMAGE, D_TEXT, N_CLASSES, hp, frozenset())


def _losses(model, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, Any]:
    torch.manual_seed(1)  # a loss that samples (DACSL triplet_sampling="random") draws the same numbers
    terms = model.losses(batch, out)
    weights = model.term_weights()
    total = sum(weights[t] * terms[t] for t in model.active_terms())
    return {"terms": {k: v.detach() for k, v in terms.items()}, "weights": weights, "total": total.detach()}


@lru_cache(maxsize=None)
def _model_computation(method: str, option_json: str) -> dict[str, Any]:
    """What a model built with ``overrides`` computes on the fixed batch, part by part."""
    overrides = json.loads(option_json)
    model = _build(method, overrides)
    batch = _batch()
    model.train()
    out = model(batch)
    parts: dict[str, Any] = {"losses": _losses(model, batch, out)}
    # Near-zero representations: the regime where a method's norm clamps act.
    shrink = NEAR_ZERO_NORM / out["image"].detach().norm(dim=1).median()
    parts["losses_near_zero"] = _losses(model, batch, {k: v * shrink for k, v in out.items()})
    if model.adversarial == "alternating" and model.uses_discriminator():
        parts["discriminator_loss"] = model.discriminator_loss(batch, {k: v.detach() for k, v in out.items()}).detach()
    else:
        parts["discriminator_loss"] = None
    model.eval()
    with torch.no_grad():
        parts["encoded"] = list(model.encode(batch.image, batch.text))
    parts["parameter_shapes"] = {k: list(v.shape) for k, v in model.state_dict().items()}
    parts["metric"] = model.metric  # what the engine ranks by (select.validation_scores / final_result)
    parts["adversarial"] = model.adversarial  # how the engine trains it (alternating / reversal / none)
    return _plain(parts)


# ---------------------------------------------------------------- engine options
def _training_overrides(option: str, values: tuple[Any, ...]) -> tuple[dict[str, Any], bool]:
    """The run's fixed overrides and whether validation is single-class.

    ``patience`` can only act when a run is longer than the patience and the validation score
    stops improving: validation is one class (mAP 1 from epoch 1 on, so epoch 1 stays the best)
    and the run is 2 epochs longer than the longest patience declared, so early stopping cuts it.
    """
    if option == "patience":
        longest = max(int(v) for v in values if v is not None)
        return {**TRAIN_OVERRIDES, "epochs": longest + 2, "batch_size": N_TRAIN}, True
    return dict(TRAIN_OVERRIDES), False


@lru_cache(maxsize=None)
def _trained(method: str, overrides_json: str, single_class_val: bool) -> dict[str, Any]:
    spec = get(method)
    hp = resolve_hparams(spec, json.loads(overrides_json))  # user arrays: the generic defaults
    ((result, model),) = train(spec, _dataset(single_class_val), hp, seeds=[0], device="cpu")
    return _plain({
        "history": result["history"],  # per epoch: every loss term, the total, d_loss, validation mAP
        "epochs_run": result["epochs"],
        "best_epoch": result["best_epoch"],
        "val_best": result["val_best"],
        "test": {k: result[k] for k in ("i2t", "t2i", "avg")},
        "weights": {k: v for k, v in model.state_dict().items()},  # the selected state
    })


# ---------------------------------------------------------------- the tests
def test_cases_are_generated_from_every_declared_alternative():
    covered = {(p.values[0], p.values[1], json.dumps(p.values[2])) for p in CASES}
    for method in METHODS:
        spec = get(method)
        assert spec.kind == "deep" and spec.cls.readings, method
        for r in spec.cls.readings:
            assert r.option in spec.defaults, (method, r.option)  # resolve_hparams accepts it
            for value in r.alternatives:
                assert (method, r.option, json.dumps(value)) in covered, (method, r.option, value)
    assert len(CASES) == len(covered)  # no alternative declared twice


@pytest.mark.parametrize("method, option, value", CASES)
def test_alternative_reading_changes_what_is_computed(method, option, value):
    spec = get(method)
    reading = {r.option: r for r in spec.cls.readings}[option]
    if _is_engine_option(option):
        base, single_class_val = _training_overrides(option, reading.values)
        default = _trained(method, json.dumps(base), single_class_val)
        alternative = _trained(method, json.dumps({**base, option: value}), single_class_val)
        if option == "patience":  # the documented difference: the run stops early
            assert alternative["epochs_run"] < default["epochs_run"] == base["epochs"], (
                alternative["epochs_run"], default["epochs_run"])
    else:
        default = _model_computation(method, json.dumps({}))
        alternative = _model_computation(method, json.dumps({option: value}))
        if not _differing(default, alternative):  # read by the module, but acting only while training
            base, single_class_val = _training_overrides(option, reading.values)
            default = _trained(method, json.dumps(base), single_class_val)
            alternative = _trained(method, json.dumps({**base, option: value}), single_class_val)
    assert _plain(resolve_hparams(spec, {option: value})[option]) != _plain(resolve_hparams(spec)[option])
    differing = _differing(default, alternative)
    assert differing, f"{method}: {option}={value!r} computes the same as the default {reading.default!r}"


@pytest.mark.parametrize("method", names())
def test_most_literal_sets_every_declared_literal(method):
    spec = get(method)
    literal = most_literal(spec.cls)
    declared = {r.option: r.literal for r in spec.cls.readings if r.literal is not None}
    assert literal == declared  # every option that declares a literal, at exactly that value, and no other
    for option in literal:
        assert option in spec.defaults, (method, option)  # a deep method's defaults hold the engine's too
    hp = resolve_hparams(spec, literal)  # the multiverse's most-literal universe is accepted
    for option, value in literal.items():
        assert _plain(hp[option]) == _plain(value), (method, option)
    if method in METHODS:  # and it builds
        model = spec.cls(D_IMAGE, D_TEXT, N_CLASSES, hp, frozenset())
        assert sum(p.numel() for p in model.parameters()) > 0
