"""DSCMR's three loss terms against loop references in numpy, and its network structure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xmr.methods import get
from xmr.methods.base import Batch
from xmr.methods.dscmr import DSCMR, label_loss, label_similarity_loss, pair_loss


@pytest.fixture
def tiny():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels = np.array([0, 1, 0, 2])
    onehot = np.eye(3)[labels]
    pu, pv = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    return u, v, labels, onehot, pu, pv


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_label_loss_by_hand():
    # one pair labelled (1, 0): image ||(1,2) - (1,0)|| = 2, text ||(0,0) - (1,0)|| = 1
    assert float(label_loss(t([[1.0, 2.0]]), t([[0.0, 0.0]]), t([[1.0, 0.0]]))) == pytest.approx(3.0)
    assert float(label_loss(t([[1.0, 2.0]]), t([[0.0, 0.0]]), t([[0.0, 1.0]]))) == pytest.approx(math.sqrt(2) + 1)


def test_label_loss_loop(tiny):
    u, v, labels, onehot, pu, pv = tiny
    ref = np.mean([math.sqrt(sum((pu[i, k] - onehot[i, k]) ** 2 for k in range(3))) for i in range(4)]) + np.mean(
        [math.sqrt(sum((pv[i, k] - onehot[i, k]) ** 2 for k in range(3))) for i in range(4)]
    )
    assert float(label_loss(t(pu), t(pv), t(onehot))) == pytest.approx(ref, rel=1e-12)


def test_label_similarity_loss_loop(tiny):
    u, v, labels, onehot, *_ = tiny

    def nll(a, b):
        total = 0.0
        for i in range(4):
            for j in range(4):
                cos = float(np.dot(a[i], b[j]) / (np.linalg.norm(a[i]) * np.linalg.norm(b[j])))
                g = cos / 2
                s = 1.0 if labels[i] == labels[j] else 0.0
                total += math.log(1 + math.exp(g)) - s * g
        return total / 16

    ref = nll(u, u) + nll(u, v) + nll(v, v)
    assert float(label_similarity_loss(t(u), t(v), t(onehot))) == pytest.approx(ref, rel=1e-12)


def test_label_similarity_loss_single_pair_by_hand():
    # u = v = (1, 0), same label: Gamma = 1/2 for each of the three pairs
    val = float(label_similarity_loss(t([[1.0, 0.0]]), t([[2.0, 0.0]]), t([[1.0]])))
    assert val == pytest.approx(3 * (math.log(1 + math.exp(0.5)) - 0.5))


def test_pair_loss_by_hand():
    u, v = t([[0.0, 0.0], [1.0, 1.0]]), t([[3.0, 4.0], [1.0, 1.0]])
    assert float(pair_loss(u, v)) == pytest.approx((5.0 + 0.0) / 2)


def test_network_and_total_weights():
    spec = get("dscmr")
    assert spec.kind == "deep" and spec.defaults["epochs"] == 500 and spec.defaults["batch_size"] == 100
    assert spec.defaults["betas"] == (0.5, 0.999) and spec.defaults["alpha"] == 1e-3 and spec.defaults["beta"] == 1e-1
    torch.manual_seed(0)
    m = DSCMR(7, 5, 3, spec.defaults)
    assert m.image_net.out_features == 2048 and m.text_net.out_features == 2048
    assert m.shared.in_features == 2048 and m.shared.out_features == 1024
    assert m.classifier.in_features == 1024 and m.classifier.out_features == 3
    x, y = torch.randn(4, 7), torch.randn(4, 5)
    labels = torch.tensor([0, 1, 2, 0])
    batch = Batch(x, y, labels, torch.nn.functional.one_hot(labels, 3).float())
    out = m(batch)
    # the shared layer is the same weights for both modalities
    manual_u = torch.relu(x @ m.image_net.weight.T + m.image_net.bias) @ m.shared.weight.T + m.shared.bias
    manual_v = torch.relu(y @ m.text_net.weight.T + m.text_net.bias) @ m.shared.weight.T + m.shared.bias
    assert torch.allclose(out["image"], manual_u, atol=1e-5) and torch.allclose(out["text"], manual_v, atol=1e-5)
    terms = m.losses(batch, out)
    assert set(terms) == {"label", "sim", "pair"}
    assert m.term_weights() == {"label": 1.0, "sim": 1e-3, "pair": 1e-1}
