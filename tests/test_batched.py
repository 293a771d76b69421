"""Batched seeds (xmr.engine.batched): per seed the same training as xmr.engine.single, same cache entries, fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import xmr.data as xdata
from xmr import experiments
from xmr import results as cache_mod
from xmr.methods import get
from xmr.methods._nets import EpochClock
from xmr.methods.base import DeepMethod, train_defaults
from xmr.methods.registry import MethodSpec
from xmr.engine import NotBatchable, resolve_hparams, train, train_deep, train_deep_batched

from test_engine import toy_dataset as _engine_toy

SEEDS = [0, 3, 7]
# Small networks, a few epochs: the seconds-scale version of the real configurations.
SMALL = {
    "dscmr": {"epochs": 4, "hidden": 24, "dim": 12, "batch_size": 16},
    "dacsl": {"epochs": 4, "hidden": 24, "dim": 12, "disc_hidden": 8, "batch_size": 16},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy_dataset(seed: int = 0) -> xdata.Dataset:
    """The engine tests' toy data, a little larger (4 classes) so several seeds differ."""
    return _engine_toy(seed, n=80, c=4, d_img=10, d_txt=7)


def _history_matrix(res: dict) -> np.ndarray:
    return np.array([[float(v) for v in rec.values()] for rec in res["history"]])


def _assert_same_run(batched: dict, plain: dict, *, atol: float) -> None:
    assert [list(r) for r in batched["history"]] == [list(r) for r in plain["history"]]  # same columns, same epochs
    np.testing.assert_allclose(_history_matrix(batched), _history_matrix(plain), rtol=0, atol=atol)
    assert batched["best_epoch"] == plain["best_epoch"]
    assert batched["epochs"] == plain["epochs"]
    for key in ("i2t", "t2i", "avg"):
        assert batched[key] == pytest.approx(plain[key], abs=atol)
        assert batched["last_epoch"][key] == pytest.approx(plain["last_epoch"][key], abs=atol)


@pytest.mark.parametrize("name, extra", [("dscmr", {}), ("dacsl", {}),
                                         ("dacsl", {"adversarial_loss": "wgan", "wgan_clip": 0.05})])
def test_batched_equals_plain_per_seed(name, extra):
    """DACSL-wgan also checks after_discriminator_step (weight clipping) acting on the stacked weights."""
    spec = get(name)
    ds = toy_dataset()
    hp = resolve_hparams(spec, {**SMALL[name], **extra})
    batched = train_deep_batched(spec, ds, hp, seeds=SEEDS)
    assert len(batched) == len(SEEDS)
    for seed, (res, model) in zip(SEEDS, batched):
        plain, plain_model = train_deep(spec, ds, hp, seed=seed)
        _assert_same_run(res, plain, atol=1e-5)
        for (k, a), (_, b) in zip(model.state_dict().items(), plain_model.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=f"selected state {k} of seed {seed}")
    # The seeds really are different runs (own initialisation and data order).
    assert batched[0][0]["history"] != batched[1][0]["history"]


def test_initialisation_and_first_step_are_exact():
    """One step of one batch: nothing has been rounded differently yet except the matmuls."""
    spec = get("dscmr")
    ds = toy_dataset()
    hp = resolve_hparams(spec, {**SMALL["dscmr"], "epochs": 1, "batch_size": 80, "lr": 0.0})  # lr 0: weights stay at init
    for (res, model), seed in zip(train_deep_batched(spec, ds, hp, seeds=SEEDS), SEEDS):
        plain, plain_model = train_deep(spec, ds, hp, seed=seed)
        for a, b in zip(model.state_dict().values(), plain_model.state_dict().values()):
            assert torch.equal(a, b)  # identical initialisation per seed
        assert res["i2t"] == plain["i2t"] and res["t2i"] == plain["t2i"]  # identical evaluation


def test_stacked_adam_is_independent_adams():
    """The claim the design rests on: one (fused) Adam over [S, ...] stacks == S Adams, bit for bit."""
    from xmr.engine.setup import adam

    g = torch.Generator().manual_seed(0)
    shapes = [(3, 13, 7), (3, 10), (3, 5)]
    stacked = [torch.randn(s, generator=g).requires_grad_() for s in shapes]
    singles = [[p[i].detach().clone().requires_grad_() for p in stacked] for i in range(3)]
    opt = adam(stacked, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    opts = [adam(ps, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3) for ps in singles]
    for _ in range(4):
        grads = [torch.randn(s, generator=g) for s in shapes]
        for p, gr in zip(stacked, grads):
            p.grad = gr.clone()
        opt.step()
        for i in range(3):
            for p, gr in zip(singles[i], grads):
                p.grad = gr[i].clone()
            opts[i].step()
    for i in range(3):
        for p, q in zip(stacked, singles[i]):
            assert torch.equal(p[i], q)


def test_early_stopping_is_per_seed():
    spec = get("dscmr")
    ds = toy_dataset()
    hp = resolve_hparams(spec, {**SMALL["dscmr"], "epochs": 8, "patience": 1, "lr": 3e-2})
    batched = train_deep_batched(spec, ds, hp, seeds=SEEDS)
    plain = [train_deep(spec, ds, hp, seed=s)[0] for s in SEEDS]
    for (res, _), ref in zip(batched, plain):
        _assert_same_run(res, ref, atol=1e-5)
    assert any(r["epochs"] < 8 for r in plain), "the test needs at least one early stop"


class Clocked(DeepMethod):
    """Keeps an EpochClock (a per-epoch schedule): cannot be batched."""

    defaults = train_defaults(epochs=2, batch_size=16, lr=1e-2)
    terms = ("pair",)

    def __init__(self, image_dim, text_dim, num_classes, hp, without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        self.f, self.g = nn.Linear(image_dim, 3), nn.Linear(text_dim, 3)
        self._clock = EpochClock()

    def encode(self, image, text):
        return self.f(image), self.g(text)

    def losses(self, batch, out):
        return {"pair": (out["image"] - out["text"]).pow(2).sum(1).mean()}


class Opted(Clocked):
    batchable = False

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        del self._clock


def test_fallback_on_random_losses():
    """DACSL's 'random' triplet sampling draws numbers inside losses: batching raises, xmr.engine.train falls back exactly."""
    spec = get("dacsl")
    ds = toy_dataset()
    hp = resolve_hparams(spec, {**SMALL["dacsl"], "epochs": 2, "triplet_sampling": "random"})
    with pytest.raises(NotBatchable, match="vmap"):
        train_deep_batched(spec, ds, hp, seeds=SEEDS[:2])
    reversal = resolve_hparams(spec, {**SMALL["dacsl"], "epochs": 1, "adversarial_update": "reversal"})
    with pytest.raises(NotBatchable, match="autograd.Function"):  # gradient reversal layer
        train_deep_batched(spec, ds, reversal, seeds=SEEDS[:2])
    runs = train(spec, ds, hp, seeds=SEEDS[:2])
    for seed, (res, _) in zip(SEEDS[:2], runs):
        plain, _ = train_deep(spec, ds, hp, seed=seed)
        assert res["history"] == plain["history"] and res["avg"] == plain["avg"]
        assert "batched_seeds" not in res


@pytest.mark.parametrize("cls, reason", [(Clocked, "EpochClock"), (Opted, "batchable = False")])
def test_fallback_on_python_state_or_opt_out(cls, reason):
    spec = MethodSpec("clocked", "deep", cls, dict(cls.defaults), "")
    hp = resolve_hparams(spec, {})
    with pytest.raises(NotBatchable, match=reason):
        train_deep_batched(spec, toy_dataset(), hp, seeds=[0, 1])
    runs = train(spec, toy_dataset(), hp, seeds=[0, 1])
    assert [r["history"] for r, _ in runs] == [train_deep(spec, toy_dataset(), hp, seed=s)[0]["history"] for s in (0, 1)]


def test_experiments_cache_keys_identical(tmp_path, monkeypatch):
    """Batched and per-seed runs write the same cache entries; each path finds the other's runs."""
    ds = toy_dataset()
    over = {**SMALL["dscmr"], "epochs": 2}
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "a"))
    a = experiments.run("dscmr", ds, seeds=SEEDS, batched=True, **over)
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "b"))
    b = experiments.run("dscmr", ds, seeds=SEEDS, batched=False, **over)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json"))
    assert files_a == files_b and len(files_a) == len(SEEDS)
    assert all(r["batched_seeds"] == SEEDS for r in a.runs) and not any("batched_seeds" in r for r in b.runs)
    for ra, rb in zip(a.runs, b.runs):
        assert ra["seed"] == rb["seed"] and ra["best_epoch"] == rb["best_epoch"]
        assert cache_mod.run_key({k: ra[k] for k in cache_mod.identity("m", "d", "p", 0, {})}) == \
            cache_mod.run_key({k: rb[k] for k in cache_mod.identity("m", "d", "p", 0, {})})
        assert ra["avg"] == pytest.approx(rb["avg"], abs=1e-5)
    # The per-seed path reads what the batched path wrote (and vice versa): nothing is retrained.
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "a"))
    again = experiments.run("dscmr", ds, seeds=SEEDS, batched=False, **over)
    assert all(r["cached"] for r in again.runs)
    # A partly cached request trains only the missing seeds, batched, and keeps the order asked for.
    mixed = experiments.run("dscmr", ds, seeds=[11, 0, 12], batched=True, **over)
    assert [r["seed"] for r in mixed.runs] == [11, 0, 12]
    assert [r["cached"] for r in mixed.runs] == [False, True, False]
    assert not math.isnan(mixed.table["avg"].mean())


def test_default_batches_on_cuda_only():
    spec = get("dscmr")
    hp = resolve_hparams(spec, {**SMALL["dscmr"], "epochs": 1})
    runs = train(spec, toy_dataset(), hp, seeds=[0, 1], device="cpu")
    assert not any("batched_seeds" in r for r, _ in runs)
    forced = train(spec, toy_dataset(), hp, seeds=[0, 1], device="cpu", batched=True)
    assert all(r["batched_seeds"] == [0, 1] for r, _ in forced)
