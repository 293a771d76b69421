"""The training engine (xmr.engine.single): seeding, selection on validation only, divergence errors, ablation plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xmr.data as xdata
from xmr.methods.base import DeepMethod, grad_reverse, train_defaults
from xmr.methods.registry import MethodSpec
from xmr.engine import TrainingDivergedError, resolve_hparams, train_deep


def toy_dataset(seed: int = 0, n: int = 60, c: int = 3, d_img: int = 8, d_txt: int = 5) -> xdata.Dataset:
    """Class-dependent Gaussian features: learnable, tiny."""
    rng = np.random.default_rng(seed)
    mu_i, mu_t = rng.normal(size=(c, d_img)), rng.normal(size=(c, d_txt))

    def split(m: int):
        y = np.arange(m) % c
        return (mu_i[y] + rng.normal(scale=1.5, size=(m, d_img)), mu_t[y] + rng.normal(scale=1.5, size=(m, d_txt)), y)

    return xdata.from_arrays("toy", split(n), split(n // 2), split(n // 2))


class Toy(DeepMethod):
    """Two linear maps and a shared classifier; cross-entropy plus a paired L2 term."""

    defaults = train_defaults(epochs=6, batch_size=16, lr=1e-2) | {"dim": 4}
    terms = ("ce", "pair")

    def __init__(self, image_dim, text_dim, num_classes, hp, without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        self.f, self.g = nn.Linear(image_dim, hp["dim"]), nn.Linear(text_dim, hp["dim"])
        self.cls = nn.Linear(hp["dim"], num_classes)

    def encode(self, image, text):
        return self.f(image), self.g(text)

    def losses(self, batch, out):
        terms = {}
        if "ce" not in self.without:
            terms["ce"] = nn.functional.cross_entropy(self.cls(out["image"]), batch.labels) + nn.functional.cross_entropy(
                self.cls(out["text"]), batch.labels
            )
        if "pair" not in self.without:
            terms["pair"] = (out["image"] - out["text"]).pow(2).sum(1).mean()
        return terms


def spec_of(cls: type, name: str = "toy") -> MethodSpec:
    return MethodSpec(name, "deep", cls, dict(cls.defaults), "")


def run(cls=Toy, ds=None, seed=0, without=(), track_test=False, **over):
    spec = spec_of(cls)
    return train_deep(spec, ds or toy_dataset(), resolve_hparams(spec, over), seed=seed, without=without,
                      track_test=track_test)


def test_same_seed_identical_different_seed_differs():
    a, _ = run(seed=3)
    b, _ = run(seed=3)
    c, _ = run(seed=4)
    assert a["history"] == b["history"]
    assert (a["i2t"], a["t2i"], a["best_epoch"]) == (b["i2t"], b["t2i"], b["best_epoch"])
    assert a["history"] != c["history"]


def test_caller_rng_state_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run(epochs=1)
    assert torch.equal(torch.rand(3), expected)


def test_history_has_every_term_and_validation_map():
    res, _ = run()
    assert len(res["history"]) == 6
    rec = res["history"][0]
    assert {"epoch", "ce", "pair", "loss", "val_i2t", "val_t2i", "val_avg"} <= set(rec)
    assert rec["loss"] == pytest.approx(rec["ce"] + rec["pair"], rel=1e-5)  # unit weights


def test_best_epoch_is_first_argmax_of_validation_and_its_state_is_reported():
    res, _ = run(epochs=8)
    vals = [h["val_avg"] for h in res["history"]]
    assert res["best_epoch"] == int(np.argmax(vals)) + 1
    # Training is deterministic, so stopping at the selected epoch reproduces the selected state:
    short, _ = run(epochs=res["best_epoch"])
    assert short["last_epoch"]["avg"] == pytest.approx(res["avg"], abs=1e-12)
    assert short["history"] == res["history"][: res["best_epoch"]]


def test_selection_never_reads_test_labels():
    ds = toy_dataset()
    rng = np.random.default_rng(0)
    test = xdata.Split(ds.test.image, ds.test.text, rng.permutation(ds.test.labels), ds.test.ids)
    shuffled = xdata.Dataset(ds.name, ds.protocol, ds.classes, ds.train, ds.val, test)
    a, _ = run(ds=ds, epochs=8)
    b, _ = run(ds=shuffled, epochs=8)
    assert a["best_epoch"] == b["best_epoch"]
    assert a["history"] == b["history"]
    assert a["avg"] != b["avg"]  # the test numbers do use the (shuffled) labels


def test_nan_in_features_is_a_clear_error():
    ds = toy_dataset()
    img = ds.train.image.copy()
    img[7, 2] = np.nan
    bad = xdata.Dataset(ds.name, ds.protocol, ds.classes, xdata.Split(img, ds.train.text, ds.train.labels, ds.train.ids),
                        ds.val, ds.test)
    with pytest.raises(ValueError, match=r"train image features contain 1 NaN.*row 7, column 2"):
        run(ds=bad)


class NanAt(Toy):
    """Returns a NaN 'pair' term at the 3rd step of epoch 2 (a diverging loss)."""

    calls = 0

    def losses(self, batch, out):
        terms = super().losses(batch, out)
        type(self).calls += 1
        if type(self).calls == 4 + 3:  # 60 pairs / batch 16 = 4 steps per epoch
            terms["pair"] = terms["pair"] * float("nan")
        return terms


def test_nan_loss_stops_with_epoch_step_and_term():
    NanAt.calls = 0
    with pytest.raises(TrainingDivergedError, match=r"'pair' became nan at epoch 2, step 3"):
        run(NanAt)


def test_without_drops_the_term_and_unknown_terms_are_rejected():
    res, _ = run(without={"pair"})
    assert "pair" not in res["history"][0] and "ce" in res["history"][0]
    with pytest.raises(ValueError, match="ablatable terms are"):
        run(without={"nope"})


def test_unknown_hyperparameter_is_rejected():
    with pytest.raises(ValueError, match="has no hyperparameter 'lrr'"):
        resolve_hparams(spec_of(Toy), {"lrr": 1})


def test_patience_stops_early():
    res, _ = run(epochs=30, patience=2, lr=0.0)  # lr 0: validation never improves after epoch 1
    assert res["best_epoch"] == 1 and res["epochs"] == 3 and len(res["history"]) == 3


def test_drop_last_and_batch_count():
    res, _ = run(batch_size=25, drop_last=True, epochs=1)
    assert res["epochs"] == 1  # 60 // 25 = 2 steps, runs
    with pytest.raises(ValueError, match="exceeds"):
        run(batch_size=100, drop_last=True, epochs=1)


class Adv(Toy):
    """Toy with an alternating modality discriminator; records parameters around each update."""

    terms = ("ce", "pair", "adv")
    adversarial = "alternating"
    adversarial_term = "adv"
    log: list = []

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.discriminator = nn.Linear(self.hp["dim"], 1)

    def _snap(self):
        return ([p.detach().clone() for p in self.mapper_parameters()],
                [p.detach().clone() for p in self.discriminator_parameters()])

    def forward(self, batch):
        type(self).log.append(("before", self._snap()))
        return super().forward(batch)

    def discriminator_loss(self, batch, out):
        li, lt = self.discriminator(out["image"]), self.discriminator(out["text"])
        return nn.functional.softplus(-li).mean() + nn.functional.softplus(lt).mean()

    def after_discriminator_step(self):
        type(self).log.append(("after_d", self._snap()))

    def losses(self, batch, out):
        terms = super().losses(batch, out)
        if "adv" not in self.without:
            terms["adv"] = -self.discriminator_loss(batch, out)
        return terms


def _changed(a, b):
    return [not torch.equal(x, y) for x, y in zip(a, b)]


def test_discriminator_step_updates_only_discriminator_and_mapper_step_only_mapper():
    Adv.log = []
    _, model = run(Adv, epochs=1, batch_size=60)  # one step
    (_, (m0, d0)), (_, (m1, d1)) = Adv.log
    assert not any(_changed(m0, m1)) and all(_changed(d0, d1))  # discriminator step
    m2 = [p.detach() for p in model.mapper_parameters()]
    d2 = [p.detach() for p in model.discriminator_parameters()]
    assert all(_changed(m1, m2)) and not any(_changed(d1, d2))  # mapper step
    assert all(p.requires_grad for p in model.parameters())


def test_ablating_the_adversarial_term_skips_discriminator_steps():
    Adv.log = []
    res, model = run(Adv, epochs=1, batch_size=60, without={"adv"})
    assert [tag for tag, _ in Adv.log] == ["before"]
    assert "d_loss" not in res["history"][0] and "adv" not in res["history"][0]


def test_grad_reverse_flips_and_scales_the_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    (grad_reverse(x, 0.5) * torch.tensor([3.0, 4.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-1.5, -2.0]))


def test_train_defaults_rejects_method_keys():
    with pytest.raises(ValueError, match="not engine hyperparameters"):
        train_defaults(alpha=1)


def _without_test_record(res):
    out = {k: v for k, v in res.items() if k not in ("seconds", "test_best", "history")}
    out["history"] = [{k: v for k, v in h.items() if not k.startswith("test_")} for h in res["history"]]
    return out


def test_track_test_changes_no_reported_number_and_records_each_epochs_test_map():
    plain, _ = run(epochs=8, seed=1)
    tracked, _ = run(epochs=8, seed=1, track_test=True)
    assert _without_test_record(tracked) == _without_test_record(plain)
    assert "test_best" not in plain and all(not k.startswith("test_") for k in plain["history"][0])
    hist = tracked["history"]
    # The per-epoch record agrees with the engine's two independent end-of-run test evaluations:
    assert hist[-1]["test_avg"] == pytest.approx(tracked["last_epoch"]["avg"], abs=1e-12)
    assert hist[tracked["best_epoch"] - 1]["test_avg"] == pytest.approx(tracked["avg"], abs=1e-12)
    # test_best is the earliest epoch of highest test mAP, found here by brute force:
    test_avgs = [h["test_avg"] for h in hist]
    top = int(np.argmax(test_avgs))
    assert tracked["test_best"]["epoch"] == top + 1
    assert tracked["test_best"]["avg"] == test_avgs[top] >= tracked["avg"]
    assert tracked["test_best"]["i2t"] == hist[top]["test_i2t"]


def test_track_test_never_feeds_selection():
    ds = toy_dataset()
    rng = np.random.default_rng(1)
    test = xdata.Split(ds.test.image, ds.test.text, rng.permutation(ds.test.labels), ds.test.ids)
    shuffled = xdata.Dataset(ds.name, ds.protocol, ds.classes, ds.train, ds.val, test)
    a, _ = run(ds=ds, epochs=8, track_test=True)
    b, _ = run(ds=shuffled, epochs=8, track_test=True)
    assert a["best_epoch"] == b["best_epoch"]
    assert [h["val_avg"] for h in a["history"]] == [h["val_avg"] for h in b["history"]]
    assert [h["test_avg"] for h in a["history"]] != [h["test_avg"] for h in b["history"]]
