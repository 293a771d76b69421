"""SMCR (paper 003): loss terms against hand computations and loop references, network wiring,
the media discriminator, ablations and a tiny end-to-end run through the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xmr.data.dataset import Dataset, Split
from xmr.methods import get
from xmr.methods.base import Batch
from xmr.methods.smcr import SMCR, adv_loss, con_loss, imd_loss, imi_loss
from xmr.engine import resolve_hparams, train_deep

SPEC = get("smcr")


def _batch(n: int = 6, dv: int = 7, dt: int = 5, c: int = 3, seed: int = 0, shift: float = 0.0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % c
    return Batch(
        torch.randn(n, dv, generator=g) + shift,
        torch.randn(n, dt, generator=g) - shift,
        labels,
        torch.nn.functional.one_hot(labels, c).float(),
    )


def _model(seed: int = 0, without=frozenset(), **over) -> SMCR:
    torch.manual_seed(seed)
    hp = resolve_hparams(SPEC, {"hidden": [16, 8], "dim": 4, "disc_hidden": [6, 3], **over})
    return SMCR(7, 5, 3, hp, frozenset(without))


def _dist(a, b) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


# ---------------------------------------------------------------- loss terms
def test_con_loss_hand_computed():
    # Pair 1: S_V=(0,0), S_T=(3,4), S'_V=(0,0) -> ||S'_V-S_T||=5, ||S'_V-S_V||=0 -> 5;
    #         S'_T=(3,4) -> ||S'_T-S_V||=5, ||S'_T-S_T||=0 -> 5.  Sum 10.
    # Pair 2: S_V=(1,0), S_T=(0,0), S'_V=(0,0) -> max(0, 0 - 1) = 0;
    #         S'_T=(2,0) -> ||S'_T-S_V||=1, ||S'_T-S_T||=2 -> max(0, -1) = 0.  Sum 0.
    s_v = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    s_t = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    r_v = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    r_t = torch.tensor([[3.0, 4.0], [2.0, 0.0]])
    assert con_loss(s_v, s_t, r_v, r_t).item() == pytest.approx((10.0 + 0.0) / 2)


def test_con_loss_matches_loop_reference():
    g = np.random.default_rng(1)
    s_v, s_t, r_v, r_t = (g.normal(size=(9, 4)) for _ in range(4))
    ref = 0.0
    for i in range(9):
        ref += max(0.0, _dist(r_v[i], s_t[i]) - _dist(r_v[i], s_v[i]))  # Eq. 5
        ref += max(0.0, _dist(r_t[i], s_v[i]) - _dist(r_t[i], s_t[i]))  # Eq. 6
    got = con_loss(*(torch.tensor(a) for a in (s_v, s_t, r_v, r_t))).item()
    assert got == pytest.approx(ref / 9, rel=1e-10)


def test_imi_loss_hand_computed():
    # ||l_v - l_t|| = ||(1,0)-(0,1)|| = sqrt 2 and 0; ||S_V - S_T|| = ||(3,4)|| = 5 and 0.
    l_v = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    l_t = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    s_v = torch.tensor([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
    s_t = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert imi_loss(l_v, l_t, s_v, s_t).item() == pytest.approx((math.sqrt(2) + 0) / 2 + (5 + 0) / 2)


def test_imi_sources_against_loop_reference():
    b = _batch()
    for source in ("label", "prediction"):
        m = _model(imi_source=source)
        out = m(b)
        got = m.losses(b, out)["imi"].item()
        s_v, s_t = out["image"].detach().numpy(), out["text"].detach().numpy()
        W, c0 = m.classifier.weight.detach().numpy(), m.classifier.bias.detach().numpy()
        ref = 0.0
        for i in range(len(b.labels)):
            if source == "label":  # l_v = l_t = the pair's label vector: Eq. 2 is 0
                pre = 0.0
            else:
                pv = np.exp(W @ s_v[i] + c0); pv /= pv.sum()
                pt = np.exp(W @ s_t[i] + c0); pt /= pt.sum()
                pre = _dist(pv, pt)
            ref += pre + _dist(s_v[i], s_t[i])
        assert got == pytest.approx(ref / len(b.labels), rel=1e-5), source
    # Under "prediction" Eq. 2 is a live (non-zero, differentiable) term; under "label" it is 0.
    m = _model(imi_source="prediction")
    l_v, l_t = m.semantic_distributions(b, m(b))
    assert (l_v - l_t).norm(dim=1).mean().item() > 1e-4 and l_v.requires_grad


def test_imd_loss_hand_computed_and_loop():
    # Uniform logits over 4 classes: -log(1/4) per medium -> 2 log 4.
    z = torch.zeros(3, 4)
    assert imd_loss(z, z, torch.tensor([0, 1, 3])).item() == pytest.approx(2 * math.log(4))
    g = np.random.default_rng(2)
    a, b = g.normal(size=(5, 4)), g.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    ref = 0.0
    for i in range(5):
        onehot = np.eye(4)[y[i]]
        la = a[i] - math.log(sum(math.exp(v) for v in a[i]))
        lb = b[i] - math.log(sum(math.exp(v) for v in b[i]))
        ref += -(onehot @ la + onehot @ lb)  # Eq. 1: l_i . (log p(v_i) + log p(t_i))
    assert imd_loss(torch.tensor(a), torch.tensor(b), torch.tensor(y)).item() == pytest.approx(ref / 5, rel=1e-10)


def test_adv_loss_matches_eq9():
    dv, dt = np.array([0.3, -2.0, 5.0]), np.array([1.0, 0.0, -4.0])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    ref = -sum(math.log(sig(a)) + math.log(1 - sig(b)) for a, b in zip(dv, dt)) / 3
    assert adv_loss(torch.tensor(dv), torch.tensor(dt)).item() == pytest.approx(ref, rel=1e-10)


def test_term_weights_follow_eqs_8_and_10():
    m = _model(alpha=0.3, beta=7.0)
    assert m.term_weights() == {"imd": 1.0, "imi": 0.3, "con": 7.0, "adv": -1.0}


# ---------------------------------------------------------------- wiring
def _active_hinges(out) -> tuple[int, int]:
    """How many pairs have a positive Eq. 5 / Eq. 6 hinge (where L_con has a gradient at all)."""
    d = lambda a, b: (a - b).norm(dim=1)  # noqa: E731
    v = d(out["refine_image"], out["text"]) > d(out["refine_image"], out["image"])
    t = d(out["refine_text"], out["image"]) > d(out["refine_text"], out["text"])
    return int(v.sum()), int(t.sum())


def test_refine_net_takes_base_net_outputs():
    m, b = _model(seed=2), _batch()  # seed 2: hinges active for both media at initialisation
    out = m(b)
    assert min(_active_hinges(out)) > 0
    assert out["image"].shape == out["text"].shape == (6, 4)
    assert out["refine_image"].shape == out["refine_text"].shape == (6, 4)
    assert m.g_v[0].in_features == m.g_t[0].in_features == 4  # P2's input is P1's output space
    torch.testing.assert_close(out["refine_image"], m.g_v(m.f_v(b.image)))
    torch.testing.assert_close(out["refine_text"], m.g_t(m.f_t(b.text)))
    # Gradient of L_con reaches both nets' parameters (theta_V, theta_T, theta_SV, theta_ST of Eq. 7) ...
    m.zero_grad()
    con_loss(out["image"], out["text"], out["refine_image"], out["refine_text"]).backward()
    for net in (m.f_v, m.f_t, m.g_v, m.g_t):
        assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    # ... and flows through S'_V into the Base-Net: a loss of S'_V alone moves f_V.
    m.zero_grad()
    m(b)["refine_image"].sum().backward()
    assert m.f_v[0].weight.grad.abs().sum() > 0 and m.f_t[0].weight.grad is None


def test_retrieval_representation_option():
    b = _batch()
    m = _model()
    zi, zt = m.encode(b.image, b.text)
    torch.testing.assert_close(zi, m.f_v(b.image))
    m2 = _model(retrieval="refine")
    zi2, zt2 = m2.encode(b.image, b.text)
    torch.testing.assert_close(zt2, m2.g_t(m2.f_t(b.text)))
    assert m.metric == "euclidean" and _model(metric="cosine").metric == "cosine"


@pytest.mark.parametrize("bad", [{"imi_source": "raw"}, {"retrieval": "both"}, {"metric": "dot"}, {"disc_hidden": [4]}])
def test_bad_options_are_rejected(bad):
    with pytest.raises(ValueError, match="smcr"):
        _model(**bad)


def test_discriminator_is_three_layers():
    m = _model()
    linears = [l for l in m.discriminator if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(4, 6), (6, 3), (3, 1)]
    assert set(map(id, m.discriminator_parameters())).isdisjoint(map(id, m.mapper_parameters()))


# ---------------------------------------------------------------- media discriminator
def test_discriminator_separates_media_with_frozen_mapper():
    m = _model(seed=3)
    b = _batch(n=64, shift=1.5, seed=4)  # images around +1.5, texts around -1.5
    with torch.no_grad():
        out = {k: v.detach() for k, v in m(b).items()}
    mapper_before = [p.detach().clone() for p in m.mapper_parameters()]
    opt = torch.optim.Adam(m.discriminator_parameters(), lr=1e-2)
    first = m.discriminator_loss(b, out).item()
    for _ in range(300):
        opt.zero_grad()
        m.discriminator_loss(b, out).backward()
        opt.step()
    last = m.discriminator_loss(b, out).item()
    with torch.no_grad():
        acc = ((m.discriminator(out["image"]) > 0).float().mean() + (m.discriminator(out["text"]) < 0).float().mean()) / 2
    assert first > 1.0 and last < 0.2 and acc.item() > 0.95
    for p, q in zip(mapper_before, m.mapper_parameters()):
        assert torch.equal(p, q)


def _toy_dataset(seed: int = 0, n: int = 60, shift: float = 1.0) -> Dataset:
    rng = np.random.default_rng(seed)

    def split(k: int) -> Split:
        y = np.arange(k) % 3
        img = rng.normal(size=(k, 7)).astype(np.float32) + y[:, None].astype(np.float32) + shift
        txt = rng.normal(size=(k, 5)).astype(np.float32) + y[:, None].astype(np.float32) - shift
        return Split(img, txt, y.astype(np.int64), np.arange(k))

    return Dataset("toy", "toy", ("a", "b", "c"), split(n), split(30), split(30))


def test_engine_trains_discriminator_when_mapper_frozen():
    # lr = 0 freezes the mapper inside the real engine; only the discriminator learns.
    hp = resolve_hparams(SPEC, {"hidden": [16, 8], "dim": 4, "disc_hidden": [6, 3], "epochs": 40, "batch_size": 10,
                                "lr": 0.0, "d_lr": 1e-2, "d_lr_scale": None, "g_steps": 1,
                                "input_norm": "none"})
    res, _ = train_deep(SPEC, _toy_dataset(shift=2.0), hp, seed=0, device="cpu")
    d = [h["d_loss"] for h in res["history"]]
    assert d[-1] < 0.5 * d[0]
    assert [h["imd"] for h in res["history"]][0] == pytest.approx(res["history"][-1]["imd"], rel=1e-5)


# ---------------------------------------------------------------- ablations
def _total(m: SMCR, b: Batch) -> torch.Tensor:
    """The mapper's objective exactly as the engine forms it: active terms, weighted."""
    terms, w = m.losses(b, m(b)), m.term_weights()
    return sum(w[t] * terms[t] for t in m.active_terms())


def test_without_imi_removes_exactly_its_contribution():
    b = _batch()
    full, abl = _model(seed=5, alpha=0.7), _model(seed=5, alpha=0.7, without={"imi"})
    terms = full.losses(b, full(b))
    assert "imi" not in abl.losses(b, abl(b))
    assert _total(abl, b).item() == pytest.approx(_total(full, b).item() - 0.7 * terms["imi"].item(), rel=1e-6)
    # Its gradient contribution is gone too: d(total)/d theta_V of the ablated model == that of the
    # full model's objective with the imi term subtracted.
    full.zero_grad()
    out = full(b)
    (_total(full, b) - 0.7 * imi_loss(b.onehot, b.onehot, out["image"], out["text"])).backward()
    abl.zero_grad()
    _total(abl, b).backward()
    torch.testing.assert_close(abl.f_v[0].weight.grad, full.f_v[0].weight.grad)


def test_without_con_leaves_refine_net_without_gradient():
    b = _batch()
    m = _model(without={"con"})
    assert "con" not in m.losses(b, m(b))
    m.zero_grad()
    _total(m, b).backward()
    for p in list(m.g_v.parameters()) + list(m.g_t.parameters()):
        assert p.grad is None
    assert m.f_v[0].weight.grad is not None
    # With con present, the Refine-Net does get gradient (so the check above can fail).
    m2 = _model(seed=2)
    assert min(_active_hinges(m2(b))) > 0
    m2.zero_grad()
    _total(m2, b).backward()
    for net in (m2.g_v, m2.g_t):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_without_adv_drops_discriminator():
    b = _batch()
    m = _model(without={"adv"})
    assert not m.uses_discriminator() and "adv" not in m.losses(b, m(b))
    m.zero_grad()
    _total(m, b).backward()
    assert all(p.grad is None for p in m.discriminator_parameters())
    assert _model().uses_discriminator()


def test_unknown_ablation_rejected_by_engine():
    hp = resolve_hparams(SPEC, {"epochs": 1})
    with pytest.raises(ValueError, match="ablatable"):
        train_deep(SPEC, _toy_dataset(), hp, without={"imd"}, device="cpu")


def test_end_to_end_tiny_run_learns():
    hp = resolve_hparams(SPEC, {"hidden": [32, 16], "dim": 8, "disc_hidden": [4, 2], "epochs": 30, "batch_size": 20,
                                "lr": 3e-3})  # lambda = 1: the discriminator also at 3e-3
    res, model = train_deep(SPEC, _toy_dataset(seed=1, shift=0.0), hp, seed=0, device="cpu")
    assert set(res["history"][0]) >= {"imd", "imi", "con", "adv", "loss", "d_loss", "val_avg"}
    assert res["history"][-1]["imd"] < res["history"][0]["imd"]
    assert res["avg"] > 0.5  # 3 separable classes: chance mAP is ~1/3
    assert set(res["at"]) == {"5", "25", "50"}


def test_seeds_batch_like_separate_runs():
    # experiments.run trains several seeds together under vmap; SMCR must batch (no fallback) and agree.
    from xmr.engine import static_obstacle, train_deep_batched

    hp = resolve_hparams(SPEC, {"hidden": [32, 16], "dim": 8, "disc_hidden": [4, 2], "epochs": 5, "batch_size": 20,
                                "lr": 3e-3})
    ds = _toy_dataset(seed=1, shift=0.0)
    assert static_obstacle(_model()) is None
    batched = train_deep_batched(SPEC, ds, hp, seeds=[0, 1])
    for seed, (res, _) in zip((0, 1), batched):
        ref, _ = train_deep(SPEC, ds, hp, seed=seed, device="cpu")
        assert res["best_epoch"] == ref["best_epoch"]
        assert res["avg"] == pytest.approx(ref["avg"], abs=1e-4)
        assert res["history"][-1]["loss"] == pytest.approx(ref["history"][-1]["loss"], abs=1e-4)
