"""`xmr methods`: the listing and one method's hyperparameters, loss terms and readings, compared
against the registry and the readings declarations (not against copies of the output)."""

from __future__ import annotations

import json

import pytest

from xmr import methods
from xmr.cli import main
from xmr.cli.data_cmd import fmt_value
from xmr.cli.methods_cmd import hparam_type
from xmr.engine import resolve_hparams
from xmr.methods.base import TRAIN_DEFAULTS


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_listing_has_every_registered_method(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    names = methods.names()
    assert len(names) == 12 and f"{len(names)} methods" in out
    rows = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert sorted(rows) == names
    for name in names:
        spec = methods.get(name)
        assert spec.summary in rows[name]
        assert ("closed-form" if spec.kind == "closed_form" else "deep") in rows[name]
    assert "proposed: dacsl Table" in rows["dacsl"] and "proposed: smcr Table" in rows["smcr"]
    assert "baseline:" in rows["cca"]


def test_listing_as_json(capsys):
    assert main(["methods", "--json"]) == 0
    rows = _json(capsys)["methods"]
    assert [r["name"] for r in rows] == methods.names()
    for r in rows:
        spec = methods.get(r["name"])
        assert (r["kind"], r["summary"]) == (spec.kind, spec.summary)


def test_dacsl_shows_alpha_and_its_readings(capsys):
    spec = methods.get("dacsl")
    assert main(["methods", "dacsl"]) == 0
    out = capsys.readouterr().out
    alpha = [line.split() for line in out.splitlines() if line.split()[:1] == ["alpha"]]
    assert alpha and alpha[0][1] == fmt_value(spec.defaults["alpha"]) and "float" in " ".join(alpha[0])
    assert ", ".join(spec.cls.ablatable_terms()) in out
    readings = spec.cls.readings
    assert readings and f"readings ({len(readings)};" in out
    section = out.split("\nreadings (", 1)[1]
    for r in readings:
        assert f"\n  {r.option}\n" in section
        assert r.interprets in section and r.evidence in section
        assert f"default:      {fmt_value(r.default)}" in section
        for alt in r.alternatives:
            assert fmt_value(alt) in section
    for feature, value in readings[0].per_features.items() if readings[0].per_features else ():
        assert f"{feature}: {fmt_value(value)}" in section


@pytest.mark.parametrize("name", methods.names())
def test_every_method_as_json_matches_the_registry(name, capsys):
    spec = methods.get(name)
    assert main(["methods", name, "--json"]) == 0
    d = _json(capsys)
    assert (d["name"], d["kind"], d["summary"]) == (spec.name, spec.kind, spec.summary)
    resolved = resolve_hparams(spec, {}) if spec.kind == "deep" else spec.defaults
    assert d["defaults"] == {k: _plain(v) for k, v in resolved.items()}
    assert [h["name"] for h in d["hyperparameters"]] == list(spec.defaults)
    for h in d["hyperparameters"]:
        assert h["accepts"] == hparam_type(spec, h["name"]).describe()
        if spec.kind == "deep" and h["name"] in TRAIN_DEFAULTS:
            assert h["group"] == "engine" and h["engine_default"] == _plain(TRAIN_DEFAULTS[h["name"]])
        else:
            assert h["group"] == "method"
    assert [r["option"] for r in d["readings"]] == [r.option for r in spec.cls.readings]
    for got, r in zip(d["readings"], spec.cls.readings):
        assert got["default"] == _plain(r.default) and got["alternatives"] == _plain(list(r.alternatives))
        assert (got["basis"], got["most_literal"]) == (r.basis, _plain(r.literal))
        assert got["per_features"] == {k: _plain(v) for k, v in r.per_features.items()}
    if spec.kind == "deep":
        assert d["terms"] == list(spec.cls.terms) and d["ablatable"] == list(spec.cls.ablatable_terms())
    else:
        assert "terms" not in d


@pytest.mark.parametrize("name", methods.names())
def test_every_declared_value_is_accepted_by_set(name):
    """What ``xmr methods`` says a key accepts takes every value the method declares for it."""
    spec = methods.get(name)
    readings = {r.option: r for r in spec.cls.readings}
    for key, default in spec.defaults.items():
        vtype = hparam_type(spec, key)
        declared = [default]
        if key in readings:
            r = readings[key]
            declared += [*r.values, *r.per_features.values()] + ([r.literal] if r.literal is not None else [])
        for value in declared:
            assert vtype.parse(fmt_value(value)) == _plain(value), (key, value, vtype)


def test_unknown_method_is_an_error_listing_the_valid_ones(capsys):
    assert main(["methods", "dacls"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'dacls'" in err and "did you mean 'dacsl'" in err
    assert all(name in err for name in methods.names()) and "Traceback" not in err


def test_closed_form_method_has_no_engine_section(capsys):
    assert main(["methods", "cca"]) == 0
    out = capsys.readouterr().out
    assert "closed-form" in out and "training (the engine's options)" not in out and "loss terms" not in out
    for key, value in methods.get("cca").defaults.items():
        assert any(line.split()[:2] == [key, fmt_value(value)] for line in out.splitlines())


def test_run_help_points_to_xmr_methods(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "xmr methods" in out and "python -c" not in out
