"""Deep baselines DCCA, ACMR, DRSL, CMDN, SSACR: their pieces against independent
references (numpy / hand computations / brute-force loops), and each method
training end to end on a tiny synthetic problem through the shared engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from xmr import metrics
from xmr.data.dataset import Dataset, Split
from xmr.methods import get
from xmr.methods._nets import EpochClock, mlp, score_embedding
from xmr.methods.acmr import ACMR, mine_negatives, reversal_schedule, triplet_terms
from xmr.methods.base import Batch
from xmr.methods.cmdn import CMDN
from xmr.methods.dcca import CubeInverse, cca_correlation, linear_cca
from xmr.methods.drsl import DRSL, RelationModule
from xmr.methods.ssacr import SSACR, similarity_matching_loss
from xmr.engine import resolve_hparams, train_deep


# ---------------------------------------------------------------- references
def _np_cca_reference(h1: np.ndarray, h2: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Singular values of T = S11^{-1/2} S12 S22^{-1/2} (Andrew et al. Eq. 10), with scipy's matrix power."""
    m = h1.shape[0]
    a, b = h1 - h1.mean(0), h2 - h2.mean(0)
    s11 = a.T @ a / (m - 1) + r1 * np.eye(a.shape[1])
    s22 = b.T @ b / (m - 1) + r2 * np.eye(b.shape[1])
    s12 = a.T @ b / (m - 1)
    t = scipy.linalg.fractional_matrix_power(s11, -0.5) @ s12 @ scipy.linalg.fractional_matrix_power(s22, -0.5)
    return np.linalg.svd(np.real(t), compute_uv=False)


def _batch(n=12, dv=6, dt=5, c=3, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % c
    return Batch(torch.randn(n, dv, generator=g), torch.randn(n, dt, generator=g), labels,
                 F.one_hot(labels, c).float())


def _toy_dataset(seed: int = 0, n=(120, 40, 40), dv=16, dt=8, c=4) -> Dataset:
    """Paired features that share a class signal through two different random maps."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(c, 5))
    a, b = rng.normal(size=(5, dv)), rng.normal(size=(5, dt))
    splits = []
    start = 0
    for size in n:
        y = rng.integers(0, c, size)
        z = means[y] + 0.7 * rng.normal(size=(size, 5))
        img = (z @ a + 0.3 * rng.normal(size=(size, dv))).astype(np.float32)
        txt = (z @ b + 0.3 * rng.normal(size=(size, dt))).astype(np.float32)
        splits.append(Split(img, txt, y.astype(np.int64), np.arange(start, start + size)))
        start += size
    return Dataset("toy", "toy", tuple(f"c{i}" for i in range(c)), *splits)


# ---------------------------------------------------------------- DCCA
@pytest.mark.parametrize("top_k", [None, 1, 3])
def test_dcca_correlation_matches_numpy_reference(top_k):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 3))
    h1 = np.c_[z, rng.normal(size=(40, 2))] + 0.5 * rng.normal(size=(40, 5))
    h2 = z @ rng.normal(size=(3, 4)) + 0.8 * rng.normal(size=(40, 4))
    r1, r2 = 1e-3, 1e-2
    sv = _np_cca_reference(h1, h2, r1, r2)
    expected = sv.sum() if top_k is None else np.sort(sv)[::-1][:top_k].sum()
    got = cca_correlation(torch.from_numpy(h1), torch.from_numpy(h2), r1, r2, top_k)
    assert float(got) == pytest.approx(expected, rel=1e-9)


def test_dcca_correlation_gradient_is_exact():
    g = torch.Generator().manual_seed(3)
    h1 = torch.randn(15, 3, dtype=torch.float64, generator=g, requires_grad=True)
    h2 = torch.randn(15, 2, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cca_correlation(a, b, 1e-2, 1e-2), (h1, h2))


def test_dcca_correlation_is_perfect_for_linearly_related_views():
    g = torch.Generator().manual_seed(0)
    h1 = torch.randn(200, 3, dtype=torch.float64, generator=g)
    h2 = h1 @ torch.randn(3, 3, dtype=torch.float64, generator=g)
    assert float(cca_correlation(h1, h2, 1e-10, 1e-10)) == pytest.approx(3.0, abs=1e-6)


def test_dcca_rejects_bad_top_k():
    with pytest.raises(ValueError, match="top_k"):
        cca_correlation(torch.randn(10, 3), torch.randn(10, 2), top_k=3)


def test_linear_cca_whitens_and_diagonalises():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(300, 2))
    h1 = np.c_[z, rng.normal(size=(300, 2))] + 0.3 * rng.normal(size=(300, 4))
    h2 = np.c_[z @ [[1.0, 0.5], [0.2, 1.0]], rng.normal(size=(300, 1))]
    r = 1e-8
    m1, m2, a1, a2, s = linear_cca(torch.from_numpy(h1), torch.from_numpy(h2), 2, r, r)
    x, y = ((torch.from_numpy(h1) - m1) @ a1).numpy(), ((torch.from_numpy(h2) - m2) @ a2).numpy()
    n = len(x)
    np.testing.assert_allclose(x.T @ x / (n - 1), np.eye(2), atol=1e-6)
    np.testing.assert_allclose(y.T @ y / (n - 1), np.eye(2), atol=1e-6)
    np.testing.assert_allclose(x.T @ y / (n - 1), np.diag(s.numpy()), atol=1e-6)
    np.testing.assert_allclose(s.numpy(), _np_cca_reference(h1, h2, r, r)[:2], rtol=1e-6)


def test_cube_inverse_inverts_the_cubic():
    x = torch.linspace(-50, 50, 1001, dtype=torch.float64)
    y = CubeInverse()(x)
    np.testing.assert_allclose((y**3 / 3 + y).numpy(), x.numpy(), atol=1e-9)


def test_dcca_final_cca_is_fitted_on_the_selected_networks():
    ds = _toy_dataset()
    spec = get("dcca")
    hp = resolve_hparams(spec, {"hidden": [16], "dim": 4, "batch_size": 60, "lr": 1e-2, "input_norm": "standardize"}, epochs=4)
    result, model = train_deep(spec, ds, hp, seed=0, device="cpu")
    # The buffers hold a CCA of the *selected* networks' outputs on the whole training split.
    x, t = torch.from_numpy((ds.train.image - ds.train.image.mean(0)) / ds.train.image.std(0)), torch.from_numpy(
        (ds.train.text - ds.train.text.mean(0)) / ds.train.text.std(0))
    with torch.no_grad():
        ref = linear_cca(model.f1(x.float()), model.f2(t.float()), 4, hp["r1"], hp["r2"])
    np.testing.assert_allclose(model.proj1.numpy(), ref[2].numpy(), rtol=1e-3, atol=1e-3)  # float32, other row order
    np.testing.assert_allclose(model.canonical_corr.numpy(), ref[4].numpy(), atol=1e-4)
    corr = [h["corr"] for h in result["history"]]
    assert corr[-1] < corr[0]  # the (negated) correlation goes down


# ---------------------------------------------------------------- ACMR
def test_acmr_gradient_reversal_flips_the_projector_gradient():
    torch.manual_seed(0)
    spec = get("acmr")
    hp = resolve_hparams(spec, {"hidden": [8], "dim": 4, "reversal": "constant"})
    model = ACMR(6, 5, 3, hp, frozenset({"label", "tri"}))
    batch = _batch()
    out = model(batch)
    model.losses(batch, out)["adv"].backward()
    rev_proj = model.f_image[0].weight.grad.clone()
    rev_disc = model.discriminator[0].weight.grad.clone()
    model.zero_grad()
    # The same cross-entropy without the reversal layer.
    out = model(batch)
    logits = model.discriminator(torch.cat([out["image"], out["text"]]))
    media = torch.cat([torch.zeros(12, dtype=torch.long), torch.ones(12, dtype=torch.long)])
    (2 * F.cross_entropy(logits, media)).backward()
    assert rev_proj.abs().sum() > 0
    torch.testing.assert_close(rev_proj, -model.f_image[0].weight.grad)
    torch.testing.assert_close(rev_disc, model.discriminator[0].weight.grad)  # D itself still minimises


def test_acmr_reversal_scale_follows_the_schedule():
    assert reversal_schedule(0.0) == 0.0
    assert reversal_schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert reversal_schedule(1.0) == pytest.approx(0.9999092, abs=1e-7)


def test_acmr_triplet_terms_by_hand():
    u = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    v = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
    idx = torch.tensor([1, 0])
    # Image anchors: max(0, .5 + 1 - 9) = 0 and max(0, .5 + 4 - 2) = 2.5 -> mean 1.25.
    # Text anchors:  max(0, .5 + 1 - 2) = 0 and max(0, .5 + 4 - 9) = 0    -> mean 0.
    assert float(triplet_terms(u, v, idx, idx, 0.5)) == pytest.approx(1.25)


def test_acmr_hardest_negatives_match_a_loop():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(9, 4, generator=g)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 1])
    got = mine_negatives(labels, "hardest", x)
    for i in range(9):
        best, best_sim = None, -2.0
        for j in range(9):
            if labels[j] != labels[i]:
                s = float(F.cosine_similarity(x[i], x[j], dim=0))
                if s > best_sim:
                    best, best_sim = j, s
        assert int(got[i]) == best
    rnd = mine_negatives(labels, "random", generator=torch.Generator().manual_seed(0))
    assert bool((labels[rnd] != labels).all())


# ---------------------------------------------------------------- DRSL
def test_drsl_pairwise_relation_equals_per_pair_concatenation():
    torch.manual_seed(0)
    rel = RelationModule(5, 7)
    a, b = torch.randn(4, 5), torch.randn(6, 5)
    got = rel.pairwise(a, b, chunk=3)
    for i in range(4):
        for j in range(6):
            torch.testing.assert_close(got[i, j], rel(a[i : i + 1], b[j : j + 1])[0])


def test_score_embedding_ranks_exactly_like_the_scores():
    g = torch.Generator().manual_seed(1)
    scores = torch.rand(7, 7, generator=g)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2])
    zi, zt = score_embedding(scores)
    cos = F.normalize(zi, dim=1) @ F.normalize(zt, dim=1).T
    ratio = cos / scores.double()
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])))

    def ap_by_scores(s_row, rel):  # brute force: sort by score, descending
        order = np.argsort(-s_row, kind="stable")
        hits, total = 0, 0.0
        for rank, j in enumerate(order, 1):
            if rel[j]:
                hits += 1
                total += hits / rank
        return total / max(rel.sum(), 1)

    s, lab = scores.numpy(), labels.numpy()
    ref_i2t = np.mean([ap_by_scores(s[i], lab == lab[i]) for i in range(7)])
    ref_t2i = np.mean([ap_by_scores(s[:, j], lab == lab[j]) for j in range(7)])
    assert metrics.mean_average_precision(zi, zt, labels, labels) == pytest.approx(ref_i2t)
    assert metrics.mean_average_precision(zt, zi, labels, labels) == pytest.approx(ref_t2i)


@pytest.mark.parametrize("balance", [False, True])
def test_drsl_relation_loss_by_hand(balance):
    torch.manual_seed(0)
    hp = {"hidden": [8], "dim": 4, "relation_hidden": 5, "balance": balance}
    model = DRSL(6, 5, 3, resolve_hparams(get("drsl"), hp))
    batch = _batch(n=5)
    out = model(batch)
    s = out["scores"].detach().numpy()
    pos, neg = [], []  # squared errors of the positive and the negative pairs, by loop
    for i in range(5):
        for j in range(5):
            same = bool(batch.labels[i] == batch.labels[j])
            (pos if same else neg).append((s[i, j] - float(same)) ** 2)
    expected = 0.5 * (np.mean(pos) + np.mean(neg)) if balance else np.mean(pos + neg)
    assert float(model.losses(batch, out)["rel"].detach()) == pytest.approx(float(expected), rel=1e-6)


# ---------------------------------------------------------------- SSACR
def test_ssacr_similarity_matching_by_loop():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    labels = torch.tensor([0, 1, 0, 2, 1])
    total = 0.0
    for i in range(5):
        for j in range(5):
            c = float(a[i] @ b[j] / (a[i].norm() * b[j].norm()))
            total += (c - float(labels[i] == labels[j])) ** 2
    got = similarity_matching_loss(a, b, F.one_hot(labels, 3).float())
    assert float(got) == pytest.approx(total / 25, rel=1e-6)


def test_ssacr_mapper_adversarial_term_is_minus_the_discriminator_loss():
    torch.manual_seed(0)
    model = SSACR(6, 5, 3, resolve_hparams(get("ssacr"), {"hidden": [8], "dim": 8, "disc_hidden": [4, 4]}))
    batch = _batch()
    out = model(batch)
    assert float(model.losses(batch, out)["adv"].detach()) == pytest.approx(-float(model.discriminator_loss(batch, out).detach()))


# ---------------------------------------------------------------- CMDN
def test_cmdn_stages_follow_the_epoch_clock_and_freeze_lower_blocks():
    torch.manual_seed(0)
    hp = resolve_hparams(get("cmdn"), {"hidden": 8, "dim": 4, "stage_fractions": [0.34, 0.67]}, epochs=3)
    model = CMDN(6, 5, 3, hp)
    batch = _batch()
    seen = []
    for epoch in range(3):
        model.train()
        out = model(batch)
        terms = model.losses(batch, out)
        model.zero_grad()
        sum(terms.values()).backward()
        seen.append((model.stage(), {k for k, v in terms.items() if float(v.detach()) != 0.0}))
        if epoch == 1:  # level 1 trains the combination only: stage-1 blocks get no gradient
            assert model.intra_v.enc.weight.grad is None or float(model.intra_v.enc.weight.grad.abs().sum()) == 0.0
            assert float(model.comb_v.enc.weight.grad.abs().sum()) > 0
        model.eval()
        model.encode(batch.image, batch.text)  # the engine's validation pass closes the epoch
    assert seen == [(0, {"intra", "inter"}), (1, {"combine"}), (2, {"shared_rec", "corr", "label"})]


def test_epoch_clock():
    clock = EpochClock()
    assert not clock.eval_encode() and clock.epoch == 0  # an encode before any training closes nothing
    assert clock.train_step() and not clock.train_step()
    assert clock.eval_encode() and clock.epoch == 1
    assert not clock.eval_encode() and clock.epoch == 1  # test-time encodes do not advance it


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        mlp([3, 4], "swish")


# ---------------------------------------------------------------- end to end
SMALL = {
    "dcca": ({"hidden": [32], "dim": 4, "batch_size": 60, "lr": 1e-2}, "corr"),
    "acmr": ({"hidden": [32], "dim": 8, "lr": 1e-3}, "label"),
    "drsl": ({"hidden": [32], "dim": 16, "relation_hidden": 16, "lr": 1e-3}, "rel"),
    "cmdn": ({"hidden": 16, "dim": 8, "schedule": "joint"}, "loss"),
    "ssacr": ({"hidden": [32], "dim": 8, "disc_hidden": [4, 4], "lr": 1e-3}, "label"),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_method_trains_and_its_loss_decreases(name):
    overrides, watched = SMALL[name]
    spec = get(name)
    hp = resolve_hparams(spec, overrides, epochs=8)
    result, _ = train_deep(spec, _toy_dataset(), hp, seed=0, device="cpu")
    values = [h[watched] for h in result["history"]]
    assert len(values) == 8 and all(math.isfinite(v) for v in values)
    assert values[-1] < values[0], values
    assert 0.0 <= result["i2t"] <= 1.0 and 0.0 <= result["t2i"] <= 1.0


def test_cmdn_staged_schedule_runs_end_to_end():
    spec = get("cmdn")
    hp = resolve_hparams(spec, {"hidden": 16, "dim": 8, "stage_fractions": [1 / 3, 2 / 3]}, epochs=6)
    result, _ = train_deep(spec, _toy_dataset(), hp, seed=0, device="cpu")
    h = result["history"]
    assert h[0]["intra"] > 0 and h[0]["combine"] == 0 and h[2]["combine"] > 0 and h[5]["corr"] > 0 and h[5]["intra"] == 0


@pytest.mark.parametrize("name,term", [("acmr", "adv"), ("acmr", "tri"), ("ssacr", "adv"), ("ssacr", "sim"), ("cmdn", "corr")])
def test_ablation_removes_the_term(name, term):
    spec = get(name)
    overrides = dict(SMALL[name][0])
    result, model = train_deep(spec, _toy_dataset(), resolve_hparams(spec, overrides, epochs=2), seed=0,
                               without=[term], device="cpu")
    assert term not in result["history"][0]
    assert term not in model.active_terms()
    if term == "adv":
        assert "d_loss" not in result["history"][0]
        if name == "acmr":  # the modality classifier never receives a gradient: unchanged from its seeded init
            torch.manual_seed(0)
            fresh = ACMR(16, 8, 4, model.hp, frozenset({"adv"}))
            torch.testing.assert_close(fresh.discriminator[0].weight, model.discriminator[0].weight)


@pytest.mark.parametrize("name", ["dcca", "drsl"])
def test_single_term_methods_refuse_ablation(name):
    spec = get(name)
    with pytest.raises(ValueError, match="cannot run without"):
        train_deep(spec, _toy_dataset(), resolve_hparams(spec, SMALL[name][0], epochs=1), without=[spec.cls.terms[0]])


def test_bad_options_give_clear_errors():
    with pytest.raises(ValueError, match="negatives"):
        ACMR(6, 5, 3, resolve_hparams(get("acmr"), {"negatives": "semi-hard"}))
    with pytest.raises(ValueError, match="stage_fractions"):
        CMDN(6, 5, 3, resolve_hparams(get("cmdn"), {"stage_fractions": [0.7, 0.6]}))
    with pytest.raises(ValueError, match="drop_last"):
        get("dcca").cls(6, 5, 3, resolve_hparams(get("dcca"), {"drop_last": True}))
    with pytest.raises(ValueError, match="adv_form"):
        SSACR(6, 5, 3, resolve_hparams(get("ssacr"), {"adv_form": "wgan"}))
