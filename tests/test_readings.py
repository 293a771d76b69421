"""Readings as data: every method declares them, every default has its evidence, none of it
a test number, validation defaults agree with the recorded validation runs, and each
alternative reading really changes what is computed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from xmr import experiments
from xmr.methods import get, names
from xmr.methods.base import Batch
from xmr.methods.readings import (EVIDENCE_FILE, Reading, feature_set, most_literal, readings_table,
                                  resolved_defaults, validation_evidence)
from xmr.engine import resolve_hparams


def _plain(v):
    return json.loads(json.dumps(v))  # tuples and lists compare alike


@pytest.mark.parametrize("method", names())
def test_every_method_declares_its_readings(method):
    spec = get(method)
    readings = spec.cls.readings
    assert readings, f"{method} declares no readings"
    options = [r.option for r in readings]
    assert len(options) == len(set(options)), f"{method} declares an option twice"
    for r in readings:
        assert isinstance(r, Reading)
        assert r.option in spec.defaults, f"{method}.{r.option} is not a hyperparameter"
        assert _plain(r.default) == _plain(spec.defaults[r.option]), f"{method}.{r.option}: default differs"
        assert r.alternatives, f"{method}.{r.option} declares no alternative"
        assert r.interprets.strip() and r.evidence.strip()
        assert not re.search(r"\btest", r.evidence, re.I), f"{method}.{r.option} cites a test number: {r.evidence}"
        if r.basis == "validation":
            assert re.search(r"\d\.\d|\.\d\d", r.evidence), f"{method}.{r.option}: validation evidence without numbers"


def test_no_docstring_justifies_a_choice_with_a_test_number():
    import importlib

    for method in names():
        doc = importlib.import_module(get(method).cls.__module__).__doc__ or ""
        assert not re.search(r"test (avg )?mAP [0-9.]+ vs", doc), method


@pytest.mark.parametrize("method", ["dscmr", "dacsl", "smcr", "acmr", "dcca", "drsl", "cmdn", "ssacr"])
def test_every_deep_method_declares_input_norm_per_feature_set(method):
    r = {r.option: r for r in get(method).cls.readings}.get("input_norm")
    assert r is not None and r.basis == "validation"
    assert r.default == "none" and r.literal == "none"  # features the study never validated: as the papers feed them


def test_validation_defaults_are_the_validation_argmax():
    """Each per-feature input_norm default and DACSL's triplet reduction are what the recorded
    validation runs (at the method's other defaults) rank first."""
    ev = validation_evidence()
    assert not ev.empty and EVIDENCE_FILE.is_file()
    assert "test" not in " ".join(ev.columns).lower()
    ev = ev[ev["fixed"].map(lambda d: not d)]
    checked = 0
    for method in names():
        for r in get(method).cls.readings:
            if r.option != "input_norm":
                continue
            for features, default in r.per_features.items():
                rows = ev[(ev["method"] == method) & (ev["features"] == features) & (ev["option"] == "input_norm")]
                means = rows.groupby("value")["val_avg"].mean()
                assert set(means.index) == set(r.values), (method, features, sorted(means.index))
                assert rows.groupby("value").size().min() >= 3, (method, features)
                assert means.idxmax() == default, (method, features, means.to_dict())
                checked += 1
    assert checked >= 9
    dacsl = validation_evidence()
    dacsl = dacsl[(dacsl["method"] == "dacsl")]
    for features, norm in get("dacsl").cls.readings[0].per_features.items():
        at = dacsl[(dacsl["features"] == features) & (dacsl["value"] == norm)]
        mean = at[at["fixed"].map(lambda d: not d)]["val_avg"].mean()
        summed = at[at["fixed"].map(lambda d: d == {"triplet_reduction": "sum"})]["val_avg"].mean()
        assert mean > summed, features


def test_feature_sets_and_per_feature_defaults():
    assert feature_set("pascal100", {"fold": 3}) == "pascal" == feature_set("pascal")
    assert feature_set("web_news_cn") == "web_news_cn/doc2vec"
    assert feature_set("web_news_cn", {"text_features": "bow"}) == "web_news_cn/bow"
    assert feature_set("mine") == "mine"
    spec = get("dscmr")
    assert resolve_hparams(spec, features="wikipedia")["input_norm"] == "l2"
    assert resolve_hparams(spec, features="web_news_cn/bow")["input_norm"] == "none"
    assert resolve_hparams(spec, features="mine")["input_norm"] == "none"
    assert resolve_hparams(spec, {"input_norm": "standardize"}, features="wikipedia")["input_norm"] == "standardize"
    assert resolved_defaults(spec.cls, spec.defaults, None)["input_norm"] == "none"
    # The request path: the cache identity holds the resolved value.
    plan = experiments.planned_runs("dscmr", "wikipedia")
    assert plan["hparams"][0]["input_norm"] == "l2"
    plan = experiments.planned_runs("smcr", "web_news_cn", dataset_options={"text_features": "bow"})
    assert plan["hparams"][0]["input_norm"] == "none"


def test_most_literal_takes_every_declared_literal_reading():
    lit = most_literal(get("smcr").cls)
    assert lit["optimizer"] == "sgd" and lit["g_steps"] == 5 and lit["d_order"] == "after"
    assert lit["input_norm"] == "none" and lit["imi_source"] == "label"
    lit = most_literal(get("dacsl").cls)
    assert lit["triplet_reduction"] == "sum" and lit["classifier"] == "shared"
    assert most_literal(get("dscmr").cls)["shuffle"] is False
    hp = resolve_hparams(get("smcr"), most_literal(get("smcr").cls))  # every literal value is accepted
    assert hp["optimizer"] == "sgd"


def test_readings_table_has_a_row_per_reading():
    table = readings_table()
    assert len(table) == sum(len(get(m).cls.readings) for m in names())
    row = table[(table["method"] == "dscmr") & (table["option"] == "input_norm")].iloc[0]
    assert "wikipedia: l2" in row["default"] and row["basis"] == "validation"


def _batch(n: int = 12, dv: int = 7, dt: int = 5, c: int = 3) -> Batch:
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(n) % c
    return Batch(torch.randn(n, dv, generator=g), torch.randn(n, dt, generator=g), labels,
                 torch.nn.functional.one_hot(labels, c).float())


def _terms(method: str, small: dict, **option) -> dict[str, torch.Tensor]:
    spec = get(method)
    hp = resolve_hparams(spec, {**small, **option})
    torch.manual_seed(0)
    model = spec.cls(7, 5, 3, hp)
    batch = _batch()
    return {k: v.detach() for k, v in model.losses(batch, model(batch)).items()}


@pytest.mark.parametrize("method, small, option, value, term", [
    ("dacsl", {"hidden": 16, "dim": 8, "disc_hidden": 4}, "classifier", "separate", "pre"),
    ("dacsl", {"hidden": 16, "dim": 8, "disc_hidden": 4}, "triplet_reduction", "sum", "tri"),
    ("smcr", {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3]}, "classifier_on", "both", "imd"),
    ("smcr", {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3]}, "discriminator_on", "refine", "adv"),
    ("smcr", {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3]}, "imi_source", "prediction", "imi"),
])
def test_an_alternative_reading_changes_its_loss_on_a_fixed_batch(method, small, option, value, term):
    default = _terms(method, small)
    alt = _terms(method, small, **{option: value})
    assert not torch.allclose(default[term], alt[term]), (method, option)


def test_dacsl_separate_classifiers_are_two_independent_maps():
    spec = get("dacsl")
    hp = resolve_hparams(spec, {"hidden": 16, "dim": 8, "disc_hidden": 4, "classifier": "separate"})
    m = spec.cls(7, 5, 3, hp)
    assert m._text_classifier() is not m.classifier
    # The shared default registers no second module (batched seeds need untied weights).
    hp = resolve_hparams(spec, {"hidden": 16, "dim": 8, "disc_hidden": 4})
    m = spec.cls(7, 5, 3, hp)
    assert "text_classifier.weight" not in m.state_dict() and m._text_classifier() is m.classifier


def test_smcr_classifier_on_both_adds_the_refine_net_cross_entropy():
    spec = get("smcr")
    small = {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3]}
    hp = resolve_hparams(spec, {**small, "classifier_on": "both"})
    torch.manual_seed(0)
    m = spec.cls(7, 5, 3, hp)
    batch = _batch()
    out = m(batch)
    f = torch.nn.functional.cross_entropy
    by_hand = (f(m.classifier(out["image"]), batch.labels) + f(m.classifier(out["text"]), batch.labels)
               + f(m.classifier(out["refine_image"]), batch.labels) + f(m.classifier(out["refine_text"]), batch.labels))
    torch.testing.assert_close(m.losses(batch, out)["imd"], by_hand)
    np.testing.assert_array_equal(m.discriminator_loss(batch, out).shape, ())


def test_fidelity_page_directives_render_each_methods_tables():
    """The Sphinx directives of book/fidelity.md, rendered by docutils: one row per reading, plain text."""
    from docutils.core import publish_doctree
    from docutils.parsers.rst import directives

    from xmr.publish import fidelity

    class App:
        def add_directive(self, name, cls):
            directives.register_directive(name, cls)

    fidelity.setup(App())
    tree = publish_doctree(".. readings:: smcr\n\n.. validation-evidence:: smcr\n\n.. validation-evidence:: cca\n")
    tables = [n for n in tree.findall() if n.tagname == "table"]
    assert len(tables) == 2
    rows = [r for r in tables[0].findall() if r.tagname == "row"]
    assert len(rows) == 1 + len(get("smcr").cls.readings)
    assert "Algorithm 1: theta <- theta - mu * grad (plain SGD)" in tables[0].astext()
    summary = fidelity.evidence_summary("smcr")
    assert len([r for r in tables[1].findall() if r.tagname == "row"]) == 1 + len(summary)
    assert "No validation runs of this method are recorded" in tree.astext()
    book = (Path(__file__).resolve().parents[1] / "book" / "fidelity.md").read_text()
    for method in names():
        assert f"```{{readings}} {method}\n```" in book, method
