"""Issue 15, items 5 and 6: CMDN's staged schedule leaves inactive blocks without
gradients (so Adam's state of a block starts with its stage), and DRSL ranks by
relation logits (the float32 sigmoid saturates to exactly 1 and would tie).

References are hand computations: Adam's first step moves each element by at
most about lr, and brute-force AP from logits computed in float64 with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xmr import metrics
from xmr.data import from_arrays
from xmr.methods import get
from xmr.methods.base import Batch
from xmr.methods.cmdn import CMDN
from xmr.engine import resolve_hparams, train_deep

# The blocks each stage of CMDN trains (the module doc), by parameter-name prefix.
STAGE_BLOCKS = {0: ("intra_v.", "intra_t.", "inter."), 1: ("comb_v.", "comb_t."),
                2: ("shared_v.", "shared_t.", "classifier.")}


def _stage_of(name: str) -> int:
    return next(s for s, prefixes in STAGE_BLOCKS.items() if name.startswith(prefixes))


def _dataset(n=(200, 20, 20), dv=6, dt=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    splits = []
    for size in n:
        y = np.arange(size) % c
        splits.append((rng.normal(size=(size, dv)) + y[:, None], rng.normal(size=(size, dt)) - y[:, None], y))
    return from_arrays("toy", *splits)


def _batch(n=12, dv=6, dt=5, c=3, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % c
    return Batch(torch.randn(n, dv, generator=g), torch.randn(n, dt, generator=g), labels, F.one_hot(labels, c).float())


# ---------------------------------------------------------------- CMDN
def test_cmdn_only_the_active_stage_gets_gradients():
    torch.manual_seed(0)
    hp = resolve_hparams(get("cmdn"), {"hidden": 8, "dim": 4, "stage_fractions": [0.34, 0.67]}, epochs=3)
    model = CMDN(6, 5, 3, hp)
    batch = _batch()
    for stage in range(3):
        model.train()
        out = model(batch)
        assert model.stage() == stage
        model.zero_grad(set_to_none=True)
        sum(model.losses(batch, out).values()).backward()
        for name, p in model.named_parameters():
            if _stage_of(name) == stage:
                assert p.grad is not None and float(p.grad.abs().sum()) > 0, (stage, name)
            else:  # None, not zeros: a zero gradient would still advance Adam's state
                assert p.grad is None, (stage, name)
        model.eval()
        model.encode(batch.image, batch.text)  # closes the epoch


def test_cmdn_a_late_block_starts_with_a_fresh_adam_step(monkeypatch):
    """Through the engine: a block does not move before its stage, its first update is Adam's first
    step (max |dw| = lr: m_hat / sqrt(v_hat) = g / |g|), and the blocks below stay frozen.

    With zero gradients before the stage (the old code), the first update after t steps is
    lr (1 - b1) / (1 - b1^t) / sqrt((1 - b2) / (1 - b2^t)): 1.35 lr at t = 201, 1.82 lr at t = 401."""
    spec = get("cmdn")
    hp = resolve_hparams(spec, {"hidden": 8, "dim": 4, "batch_size": 2, "stage_fractions": (0.25, 0.5)}, epochs=8)
    lr = float(hp["lr"])
    snapshots: list[tuple[int, dict[str, torch.Tensor]]] = []
    original = CMDN.forward

    def recording_forward(self, batch):
        if self.training:  # the weights this step starts from
            snapshots.append((self.stage(), {k: v.detach().clone() for k, v in self.named_parameters()}))
        return original(self, batch)

    monkeypatch.setattr(CMDN, "forward", recording_forward)
    train_deep(spec, _dataset(), hp, seed=0, device="cpu")

    stages = [s for s, _ in snapshots]
    assert len(stages) == 800 and stages == sorted(stages)
    first = {s: stages.index(s) for s in range(3)}
    assert (first[1], first[2]) == (200, 400)  # epochs 2 and 4 of 8, 100 steps each
    init = snapshots[0][1]
    for name in init:
        s = _stage_of(name)
        start = snapshots[first[s]][1][name]
        assert torch.equal(start, init[name]), f"{name} moved before its stage"
        step = (snapshots[first[s] + 1][1][name] - start).abs().max().item()
        assert 0.5 * lr < step <= 1.2 * lr, f"{name}: first update {step / lr:.3f} lr"
        if s < 2:  # frozen once the next stage starts
            frozen = snapshots[first[s + 1]][1][name]
            assert all(torch.equal(snap[name], frozen) for _, snap in snapshots[first[s + 1]:]), f"{name} moved after its stage"


def test_cmdn_stage_with_every_term_ablated_still_trains_through_the_engine():
    spec = get("cmdn")
    hp = resolve_hparams(spec, {"hidden": 8, "dim": 4, "stage_fractions": (0.25, 0.5)}, epochs=4)
    result, model = train_deep(spec, _dataset(), hp, seed=0, without=["intra", "inter"], device="cpu")
    h = result["history"]
    assert len(h) == 4 and h[0]["loss"] == 0 and h[1]["combine"] > 0 and h[3]["corr"] > 0
    torch.manual_seed(0)
    fresh = CMDN(6, 5, 3, model.hp, frozenset({"intra", "inter"}))  # the engine's seeded init
    for (name, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters()):
        if _stage_of(name) == 0:  # its stage had nothing to train
            torch.testing.assert_close(p, q, rtol=0, atol=0)


# ---------------------------------------------------------------- DRSL
def _relu(x):
    return np.maximum(x, 0.0)


def _brute_force_ap(score_row: np.ndarray, relevant: np.ndarray) -> float:
    """Sort by score descending; AP = mean over relevant positions of precision at that position."""
    order = sorted(range(len(score_row)), key=lambda j: -score_row[j])
    hits, precisions = 0, []
    for rank, j in enumerate(order, 1):
        if relevant[j]:
            hits += 1
            precisions.append(hits / rank)
    return float(np.mean(precisions)) if precisions else 0.0


def test_drsl_ranks_saturated_relation_scores_by_logit():
    torch.manual_seed(0)
    spec = get("drsl")
    hp = {**spec.cls.defaults, "hidden": (32,), "dim": 16, "relation_hidden": 16}
    model = spec.cls(6, 5, 3, hp, frozenset())
    with torch.no_grad():  # large, distinct logits: every float32 sigmoid is exactly 1
        model.relation.out.weight.mul_(20.0)
        model.relation.out.bias.fill_(40.0)
    g = torch.Generator().manual_seed(1)
    image, text = torch.randn(10, 6, generator=g), torch.randn(10, 5, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])

    # the relation logits by hand, in float64
    w = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    f_v = _relu(_relu(image.double().numpy() @ w["f_image.0.weight"].T + w["f_image.0.bias"]) @ w["f_image.2.weight"].T + w["f_image.2.bias"])
    f_t = _relu(_relu(text.double().numpy() @ w["f_text.0.weight"].T + w["f_text.0.bias"]) @ w["f_text.2.weight"].T + w["f_text.2.bias"])
    logit = np.empty((10, 10))
    for i in range(10):
        for j in range(10):
            h = _relu(w["relation.first.weight"] @ np.concatenate([f_v[i], f_t[j]]) + w["relation.first.bias"])
            logit[i, j] = w["relation.out.weight"][0] @ h + w["relation.out.bias"][0]
    assert logit.min() > 20 and bool((torch.sigmoid(torch.tensor(logit, dtype=torch.float32)) == 1.0).all())
    # distinct within every row and column, well above float32 rounding: both order them alike
    assert np.diff(np.sort(logit, axis=1), axis=1).min() > 1e-4 and np.diff(np.sort(logit, axis=0), axis=0).min() > 1e-4

    lab = labels.numpy()
    ref_i2t = np.array([_brute_force_ap(logit[i], lab == lab[i]) for i in range(10)])
    ref_t2i = np.array([_brute_force_ap(logit[:, j], lab == lab[j]) for j in range(10)])
    tied = np.array([_brute_force_ap(np.zeros(10), lab == lab[i]) for i in range(10)])  # all tied: gallery order
    assert (np.abs(ref_i2t - tied) > 0.01).sum() >= 5 and (np.abs(ref_t2i - tied) > 0.01).sum() >= 5

    model.eval()
    with torch.no_grad():
        zi, zt = model.encode(image, text)
    np.testing.assert_allclose(metrics.average_precision(zi, zt, labels, labels, metric="cosine"), ref_i2t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(metrics.average_precision(zt, zi, labels, labels, metric="cosine"), ref_t2i, rtol=0, atol=1e-12)
    assert metrics.mean_average_precision(zi, zt, labels, labels, metric="cosine") == pytest.approx(ref_i2t.mean(), abs=1e-12)
    cos = (F.normalize(zi, dim=1) @ F.normalize(zt, dim=1).T).numpy()
    np.testing.assert_array_equal(np.argsort(-cos, axis=1, kind="stable"), np.argsort(-logit, axis=1, kind="stable"))
    np.testing.assert_array_equal(np.argsort(-cos, axis=0, kind="stable"), np.argsort(-logit, axis=0, kind="stable"))
