"""DACSL's loss terms (Eqs. 1-3) against loop references and hand computations; ablations; training step."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from xmr.methods import get
from xmr.methods.base import Batch
from xmr.methods.dacsl import (
    DACSL,
    gan_objective,
    label_prediction_loss,
    triplet_loss,
    triplet_term,
    wgan_objective,
)
from xmr.engine import resolve_hparams, train_deep

from test_engine import toy_dataset


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def d(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def ref_term(anchors, cands, labels, margin, intra, sampling, reduction):
    """Loop reference of one line of Eq. 1."""
    n = len(labels)
    losses = []
    for a in range(n):
        pos = [p for p in range(n) if labels[p] == labels[a] and not (intra and p == a)]
        neg = [q for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        if sampling == "batch_hard":
            dp = max(d(anchors[a], cands[p]) for p in pos)
            dn = min(d(anchors[a], cands[q]) for q in neg)
            losses.append(max(0.0, dp - dn + margin))
        else:  # all
            for p, q in itertools.product(pos, neg):
                losses.append(max(0.0, d(anchors[a], cands[p]) - d(anchors[a], cands[q]) + margin))
    if not losses:
        return 0.0
    return float(np.mean(losses)) if reduction == "mean" else float(np.sum(losses))


@pytest.fixture
def batch():
    rng = np.random.default_rng(7)
    return rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), np.array([0, 1, 0, 2, 1, 1])


@pytest.mark.parametrize("sampling", ["batch_hard", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("intra", [False, True])
def test_triplet_term_matches_loop(batch, sampling, reduction, intra):
    x, y, labels = batch
    cands = x if intra else y
    got = float(triplet_term(t(x), t(cands), torch.tensor(labels), 1.5, intra=intra, sampling=sampling, reduction=reduction))
    assert got == pytest.approx(ref_term(x, cands, labels, 1.5, intra, sampling, reduction), rel=1e-9)


def test_triplet_term_by_hand():
    # 1-D: anchor 0 (label 0); candidates at 0 (label 0, its pair), 3 (label 0), 1 (label 1)
    anchors = t([[0.0], [3.0], [1.0]])
    labels = torch.tensor([0, 0, 1])
    # cross-modal, batch-hard, margin 0.5, candidates = anchors:
    # a0: hardest pos d=3, hardest neg d=1 -> 3-1+.5 = 2.5; a1: pos max(3,0)=3, neg 2 -> 1.5; a2: pos itself d=0, neg d=1 -> 0
    got = triplet_term(anchors, anchors, labels, 0.5, intra=False, sampling="batch_hard", reduction="sum")
    assert float(got) == pytest.approx(4.0)
    # intra-modal excludes the anchor itself: a0: pos 3, neg 1 -> 2.5; a1: pos 3, neg 2 -> 1.5 (same here)
    got = triplet_term(anchors, anchors, labels, 0.5, intra=True, sampling="batch_hard", reduction="mean")
    assert float(got) == pytest.approx(2.0)


def test_random_sampling_with_unique_choices_equals_hand_value():
    # every anchor has exactly one positive and one negative candidate -> "random" is deterministic
    x = t([[0.0], [1.0]])
    y = t([[2.0], [5.0]])
    labels = torch.tensor([0, 1])
    # a0: pos y0 d=2, neg y1 d=5 -> max(0, 2-5+1)=0; a1: pos y1 d=4, neg y0 d=1 -> 4-1+1 = 4
    got = triplet_term(x, y, labels, 1.0, intra=False, sampling="random", reduction="sum")
    assert float(got) == pytest.approx(4.0)


def test_triplet_loss_sums_the_four_lines_of_eq1(batch):
    x, y, labels = batch
    kw = dict(sampling="batch_hard", reduction="mean")
    ref = (ref_term(x, y, labels, 0.1, False, **kw) + ref_term(x, x, labels, 0.1, True, **kw)
           + ref_term(y, x, labels, 0.1, False, **kw) + ref_term(y, y, labels, 0.1, True, **kw))
    assert float(triplet_loss(t(x), t(y), torch.tensor(labels), 0.1, **kw)) == pytest.approx(ref, rel=1e-9)


def test_gan_objective_eq2_by_hand():
    lx, ly = t([0.0, math.log(3.0)]), t([0.0])  # D(S_x) = 1/2, 3/4; D(S_y) = 1/2
    ref = (math.log(0.5) + math.log(0.75)) / 2 + math.log(1 - 0.5)
    assert float(gan_objective(lx, ly)) == pytest.approx(ref, rel=1e-12)
    assert float(wgan_objective(t([1.0, 3.0]), t([0.5]))) == pytest.approx(1.5)


def test_label_prediction_eq3_by_hand():
    px, py = t([[1.0, 0.0], [0.0, 0.0]]), t([[1.0, 2.0], [0.0, 1.0]])
    onehot = t([[1.0, 0.0], [0.0, 1.0]])
    # ||px - L||_F = 1, ||py - L||_F = 2; n = 2
    assert float(label_prediction_loss(px, py, onehot)) == pytest.approx((1 + 2) / 2)
    assert float(label_prediction_loss(px, py, onehot, "squared")) == pytest.approx((1 + 4) / 2)


def test_defaults_and_structure_follow_the_paper():
    spec = get("dacsl")
    hp = spec.defaults
    assert (hp["epochs"], hp["batch_size"], hp["lr"], hp["alpha"], hp["beta"]) == (100, 50, 1e-4, 0.1, 0.001)
    m = DACSL(7, 5, 3, hp)
    assert m.shared.out_features == 1024 and m.margin == 0.1  # margin = alpha by default
    assert m.classifier.bias is None  # Eq. 3: W only
    assert m.term_weights() == {"tri": 0.1, "dis": 0.001, "pre": 1.0}
    assert set(spec.cls.ablatable_terms()) == {"tri", "dis", "pre"}
    assert DACSL(7, 5, 3, {**hp, "margin": 0.7}).margin == 0.7
    with pytest.raises(ValueError, match="triplet_sampling"):
        DACSL(7, 5, 3, {**hp, "triplet_sampling": "hard"})


def test_losses_combine_the_named_terms():
    hp = get("dacsl").defaults
    torch.manual_seed(0)
    m = DACSL(7, 5, 3, hp)
    labels = torch.tensor([0, 1, 2, 0, 1])
    b = Batch(torch.randn(5, 7), torch.randn(5, 5), labels, torch.nn.functional.one_hot(labels, 3).float())
    with torch.no_grad():
        out = m(b)
        terms = m.losses(b, out)
    assert float(terms["tri"]) == pytest.approx(float(triplet_loss(out["image"], out["text"], labels, 0.1)))
    with torch.no_grad():
        lx, ly = m.discriminator(out["image"])[:, 0], m.discriminator(out["text"])[:, 0]
        assert float(terms["dis"]) == pytest.approx(float(gan_objective(lx, ly)))
        assert float(m.discriminator_loss(b, out)) == pytest.approx(-float(terms["dis"]))
        assert set(DACSL(7, 5, 3, hp, frozenset({"tri"})).losses(b, out)) == {"dis", "pre"}


def _train(**kw):
    spec = get("dacsl")
    without = kw.pop("without", ())
    hp = resolve_hparams(spec, {"epochs": 2, "batch_size": 20, "hidden": 16, "dim": 8, "disc_hidden": 4, **kw})
    return train_deep(spec, toy_dataset(), hp, seed=0, without=without)


@pytest.mark.parametrize("variant", [{}, {"adversarial_update": "reversal"}, {"adversarial_loss": "wgan"},
                                     {"generator_loss": "nonsaturating", "triplet_sampling": "random"}])
def test_trains_in_every_variant(variant):
    res, model = _train(**variant)
    assert {"tri", "dis", "pre", "loss"} <= set(res["history"][-1])
    if variant.get("adversarial_loss") == "wgan":
        assert all(p.abs().max() <= 0.01 + 1e-7 for p in model.discriminator.parameters())


def test_ablation_without_dis_leaves_the_discriminator_untrained():
    torch.manual_seed(0)
    res, model = _train(without={"dis"})
    assert "dis" not in res["history"][0] and "d_loss" not in res["history"][0]
    fresh = _train(without={"dis"}, epochs=1)[1]
    for a, b in zip(model.discriminator.parameters(), fresh.discriminator.parameters()):
        assert torch.equal(a, b)  # same initialisation, never updated
