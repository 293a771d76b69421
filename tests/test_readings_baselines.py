"""The declared readings of the nine baselines (ACMR, DCCA, DRSL, CMDN, SSACR, CCA, GMA,
LCFS, JFSSL): every reading names a hyperparameter, its default is the method's default,
every alternative is a value the method accepts (deep methods: it builds and one training
forward pass with its losses runs; closed-form methods: it fits), and no evidence rests on
a test number."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xmr.methods import get
from xmr.methods.base import Batch
from xmr.methods.readings import Reading, readings_table
from xmr.engine import check_schedule

DEEP = ("acmr", "dcca", "drsl", "cmdn", "ssacr")
CLOSED_FORM = ("cca", "gma", "lcfs", "jfssl")
METHODS = DEEP + CLOSED_FORM


def _readings(name: str) -> tuple[Reading, ...]:
    return tuple(get(name).cls.readings)


def _cases(names):
    return [pytest.param(name, r.option, value, id=f"{name}-{r.option}-{value!r}")
            for name in names for r in _readings(name) for value in r.values]


def _batch(n=12, dv=6, dt=5, c=3, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % c
    return Batch(torch.randn(n, dv, generator=g), torch.randn(n, dt, generator=g), labels,
                 F.one_hot(labels, c).float())


@pytest.mark.parametrize("name", METHODS)
def test_every_method_declares_readings(name):
    readings = _readings(name)
    assert readings, f"{name} declares no readings"
    assert all(isinstance(r, Reading) for r in readings)
    options = [r.option for r in readings]
    assert len(options) == len(set(options)), f"{name}: an option is declared twice"


@pytest.mark.parametrize("name", METHODS)
def test_readings_name_hyperparameters_with_their_defaults(name):
    spec = get(name)
    for r in _readings(name):
        assert r.option in spec.defaults, f"{name}: {r.option!r} is not a hyperparameter"
        default = spec.defaults[r.option]
        assert r.default == default and type(r.default) is type(default), (name, r.option, r.default, default)
        assert r.default not in r.alternatives, (name, r.option)


@pytest.mark.parametrize("name", METHODS)
def test_evidence_is_a_priori_or_validation_never_a_test_number(name):
    for r in _readings(name):
        assert r.basis in ("a priori", "validation"), (name, r.option, r.basis)
        assert r.evidence.strip() and r.interprets.strip(), (name, r.option)
        assert "test" not in r.evidence.lower(), (name, r.option, r.evidence)
        if r.basis == "validation":
            assert "validation" in r.evidence.lower(), (name, r.option, r.evidence)
        if r.literal is not None:
            assert r.literal in r.values, (name, r.option, r.literal)


@pytest.mark.parametrize("name", METHODS)
def test_readings_table_lists_them(name):
    table = readings_table(name)
    assert list(table.option) == [r.option for r in _readings(name)]


@pytest.mark.parametrize("name,option,value", _cases(DEEP))
def test_deep_alternative_builds_and_trains_one_step(name, option, value):
    spec = get(name)
    hp = {**spec.defaults, option: value}
    check_schedule(hp)
    model = spec.cls(6, 5, 3, hp, frozenset())
    torch.optim.Adam(model.parameters(), lr=float(hp["lr"]), betas=tuple(hp["betas"]))
    model.train()
    batch = _batch()
    out = model(batch)
    terms = model.losses(batch, out)
    weights = model.term_weights()
    total = sum(weights[k] * v for k, v in terms.items())
    assert set(terms) <= set(spec.cls.terms) and torch.isfinite(total)
    total.backward()
    if model.uses_discriminator() and spec.cls.adversarial == "alternating":
        d = model.discriminator_loss(batch, {k: v.detach() for k, v in out.items()})
        assert torch.isfinite(d)
    model.eval()
    with torch.no_grad():
        zi, zt = model.encode(batch.image, batch.text)
    assert zi.shape[0] == zt.shape[0] == len(batch.labels)
    assert torch.isfinite(zi).all() and torch.isfinite(zt).all()


def _views(n=40, dv=7, dt=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    return rng.normal(size=(n, dv)) + y[:, None], rng.normal(size=(n, dt)) - y[:, None], y.astype(np.int64)


@pytest.mark.parametrize("name,option,value", _cases(CLOSED_FORM))
def test_closed_form_alternative_fits(name, option, value):
    spec = get(name)
    model = spec.cls(**{**spec.defaults, option: value})
    xa, xb, y = _views()
    za, zb = model.fit(xa, xb, y).transform(xa, xb)
    assert za.shape[0] == zb.shape[0] == len(y) and za.shape[1] == zb.shape[1]
    assert np.isfinite(za).all() and np.isfinite(zb).all() and math.isfinite(float(np.abs(za).sum()))
