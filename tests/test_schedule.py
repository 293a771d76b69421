"""The engine's update rules and adversarial schedule (SMCR's Algorithm 1 as written):
plain SGD, lambda = d_lr_scale, k = g_steps mapper steps per discriminator step, the
discriminator's step before or after the mapper's, and validation-only runs that never
read the test split. References are hand computations with autograd on copies."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import xmr.engine as engine
import xmr.engine.select as engine_select
import xmr.engine.setup as engine_setup
from xmr.data.dataset import Dataset, Split
from xmr.methods import get
from xmr.methods.base import Batch
from xmr.engine import resolve_hparams, train_deep, train_deep_batched

SMCR = get("smcr")
TINY = {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3], "input_norm": "none", "shuffle": False, "patience": None}


def _dataset(n: int = 24, n_test: int = 7, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)

    def split(k: int) -> Split:
        y = np.arange(k) % 3
        img = (rng.normal(size=(k, 7)) + y[:, None]).astype(np.float32)
        txt = (rng.normal(size=(k, 5)) - y[:, None]).astype(np.float32)
        return Split(img, txt, y.astype(np.int64), np.arange(k))

    return Dataset("toy", "toy", ("a", "b", "c"), split(n), split(9), split(n_test))


def _batch(ds: Dataset) -> Batch:
    t = ds.train
    labels = torch.from_numpy(t.labels)
    return Batch(torch.from_numpy(t.image), torch.from_numpy(t.text), labels,
                 torch.nn.functional.one_hot(labels, 3).float())


def _init(hp: dict, ds: Dataset, seed: int = 0):
    """The model exactly as the engine constructs it for ``seed`` (before any step)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SMCR.cls(*ds.dims, ds.num_classes, hp)


def test_sgd_takes_one_plain_gradient_step_on_mapper_and_discriminator():
    ds = _dataset()
    lr, lam = 0.05, 3.0
    hp = resolve_hparams(SMCR, {**TINY, "epochs": 1, "batch_size": 24, "optimizer": "sgd", "lr": lr,
                                "d_lr_scale": lam, "g_steps": 1, "d_order": "before"})
    _, trained = train_deep(SMCR, ds, hp, seed=0, device="cpu")

    # By hand: D descends L_adv on the initial features with rate lambda * lr; then the mapper
    # descends L_emb - L_adv against the updated D with rate lr.
    ref = _init(hp, ds)
    batch = _batch(ds)
    with torch.no_grad():
        out0 = {k: v.detach() for k, v in ref(batch).items()}
    d_loss = ref.discriminator_loss(batch, out0)
    d_grads = torch.autograd.grad(d_loss, list(ref.discriminator.parameters()))
    with torch.no_grad():
        for p, g in zip(ref.discriminator.parameters(), d_grads):
            p -= lam * lr * g
    terms = ref.losses(batch, ref(batch))
    w = ref.term_weights()
    total = sum(w[t] * terms[t] for t in ref.active_terms())
    mapper = ref.mapper_parameters()
    grads = torch.autograd.grad(total, mapper)
    with torch.no_grad():
        for p, g in zip(mapper, grads):
            p -= lr * g
    for (name, p), q in zip(ref.named_parameters(), trained.parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=1e-6, msg=name)
    moved = max((q - p).abs().max().item() for p, q in zip(_init(hp, ds).discriminator.parameters(),
                                                              trained.discriminator.parameters()))
    assert moved > 1e-4  # the step was not a no-op


def test_adam_lambda_sets_the_discriminator_rate_from_lr():
    ds = _dataset()
    for lr in (1e-3, 4e-3):  # lambda is kept when lr changes: Adam's first step is lambda * lr per element
        hp = resolve_hparams(SMCR, {**TINY, "epochs": 1, "batch_size": 24, "lr": lr, "d_lr_scale": 0.5,
                                    "g_steps": 1, "d_order": "before"})
        _, trained = train_deep(SMCR, ds, hp, seed=0, device="cpu")
        step = max((q - p).abs().max().item() for p, q in zip(_init(hp, ds).discriminator.parameters(),
                                                             trained.discriminator.parameters()))
        assert step == pytest.approx(0.5 * lr, rel=1e-3)
    assert engine.discriminator_lr({"d_lr": 7.0, "d_lr_scale": None, "lr": 1.0}) == 7.0


def _events(monkeypatch, hp: dict, ds: Dataset) -> list[tuple[str, torch.Tensor]]:
    """In order, each mapper ('G') and discriminator ('D') loss evaluation of a run, with the image
    features it was given."""
    events: list[tuple[str, torch.Tensor]] = []
    losses, d_loss = SMCR.cls.losses, SMCR.cls.discriminator_loss

    def g(self, batch, out):
        events.append(("G", out["image"].detach().clone()))
        return losses(self, batch, out)

    def d(self, batch, out):
        events.append(("D", out["image"].detach().clone()))
        return d_loss(self, batch, out)

    monkeypatch.setattr(SMCR.cls, "losses", g)
    monkeypatch.setattr(SMCR.cls, "discriminator_loss", d)
    train_deep(SMCR, ds, hp, seed=0, device="cpu")
    return events


@pytest.mark.parametrize("order, expected", [("after", "GGDGGDGGD"), ("before", "GDGGDGGDG")])
def test_k_mapper_steps_per_discriminator_step(monkeypatch, order, expected):
    ds = _dataset()
    hp = resolve_hparams(SMCR, {**TINY, "epochs": 2, "batch_size": 8, "g_steps": 2, "d_order": order})
    events = _events(monkeypatch, hp, ds)  # 3 batches per epoch: 6 mapper steps, a D step on every 2nd
    assert "".join(kind for kind, _ in events) == expected
    for i, (kind, features) in enumerate(events):
        if kind != "D":
            continue
        if order == "before":  # D judges the batch first: the mapper's step that follows sees the same features
            assert torch.equal(features, events[i + 1][1])
        else:  # Algorithm 1: the same batch, through the mapper just updated
            assert features.shape == events[i - 1][1].shape and not torch.equal(features, events[i - 1][1])


def test_before_and_after_orders_train_different_discriminators():
    ds = _dataset()
    params = []
    for order in ("before", "after"):
        hp = resolve_hparams(SMCR, {**TINY, "epochs": 2, "batch_size": 8, "g_steps": 1, "d_order": order, "lr": 1e-2})
        _, m = train_deep(SMCR, ds, hp, seed=0, device="cpu")
        params.append(torch.cat([p.flatten() for p in m.discriminator.parameters()]))
    assert not torch.allclose(params[0], params[1])


def test_d_loss_history_averages_only_the_steps_with_a_d_step():
    buf = torch.tensor([[1.0, 0.0], [2.0, 4.0], [3.0, 0.0], [4.0, 8.0]])
    assert engine_select.epoch_means(buf, True, 2) == [2.5, 6.0]
    assert engine_select.epoch_means(buf[:, :1], False, 0) == [2.5]
    assert engine_select.epoch_means(buf, True, 0)[-1] is None


def test_batched_seeds_follow_the_same_schedule():
    ds = _dataset(n=40)
    hp = resolve_hparams(SMCR, {**TINY, "epochs": 3, "batch_size": 8, "g_steps": 3, "d_order": "after",
                                "optimizer": "sgd", "lr": 0.05, "shuffle": True})
    batched = train_deep_batched(SMCR, ds, hp, seeds=[0, 5], device="cpu")
    for seed, (res, _) in zip([0, 5], batched):
        plain, _ = train_deep(SMCR, ds, hp, seed=seed, device="cpu")
        hb = np.array([[v for k, v in r.items() if k != "epoch"] for r in res["history"]], dtype=float)
        hp_ = np.array([[v for k, v in r.items() if k != "epoch"] for r in plain["history"]], dtype=float)
        np.testing.assert_allclose(hb, hp_, rtol=0, atol=1e-5)


def test_bad_schedule_is_a_clear_error():
    ds = _dataset()
    for bad, match in (({"optimizer": "rmsprop"}, "optimizer"), ({"d_order": "during"}, "d_order"),
                       ({"g_steps": 0}, "g_steps"), ({"d_lr_scale": -1.0}, "d_lr_scale")):
        hp = resolve_hparams(SMCR, {**TINY, "epochs": 1, **bad})
        with pytest.raises(ValueError, match=match):
            train_deep(SMCR, ds, hp, seed=0, device="cpu")


def test_validation_only_runs_never_put_the_test_split_on_the_device(monkeypatch):
    ds = _dataset(n_test=7)
    sizes: list[int] = []
    to_device = engine_setup.to_device

    def spy(split, num_classes, dev):
        sizes.append(len(split.labels))
        return to_device(split, num_classes, dev)

    for module in (engine_setup, engine_select):  # train / val are placed by setup, test by select
        monkeypatch.setattr(module, "to_device", spy)
    hp = resolve_hparams(SMCR, {**TINY, "epochs": 2, "batch_size": 8})
    res, _ = train_deep(SMCR, ds, hp, seed=0, device="cpu", evaluate_test=False)
    assert 7 not in sizes and sizes  # train (24) and val (9) only
    assert set(res) == {"best_epoch", "epochs", "seconds", "val_best", "history"}
    sizes.clear()
    train_deep(SMCR, ds, hp, seed=0, device="cpu")
    assert 7 in sizes  # the ordinary run reads it once, at the end
    with pytest.raises(ValueError, match="track_test"):
        train_deep(SMCR, ds, hp, seed=0, device="cpu", evaluate_test=False, track_test=True)


def test_d_lr_cannot_be_silently_ignored_under_lambda():
    with pytest.raises(ValueError, match="d_lr_scale"):
        resolve_hparams(SMCR, {"d_lr": 1e-3})  # SMCR's default lambda = 1 would ignore it
    assert engine.discriminator_lr(resolve_hparams(SMCR, {"d_lr": 1e-3, "d_lr_scale": None})) == 1e-3
    assert engine.discriminator_lr(resolve_hparams(SMCR, {"lr": 2e-4})) == pytest.approx(2e-4)
