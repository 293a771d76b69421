"""xmr.study.validation: readings compared on the validation split only, bundles without test items,
and a sweep that resumes where it stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xmr.data as xdata
from xmr.study.validation import BUNDLE_SETTINGS, export_bundle, load_bundle, pending, study_jobs, validate


def _dataset(test_shift: float = 0.0) -> xdata.Dataset:
    rng = np.random.default_rng(0)

    def split(k: int, shift: float = 0.0):
        y = np.arange(k) % 3
        return ((rng.normal(size=(k, 6)) + y[:, None] + shift).astype(np.float32),
                (rng.normal(size=(k, 4)) - y[:, None] + shift).astype(np.float32), y)

    train, val = split(30), split(12)
    return xdata.from_arrays("toy", train, val, split(9, test_shift))


def test_validate_gives_one_record_per_value_and_seed_and_ignores_the_test_split():
    small = {"epochs": 2, "hidden": 8, "dim": 4, "batch_size": 10}
    a = validate("dscmr", _dataset(), option="input_norm", values=["none", "l2"], seeds=[0, 1], fixed=small)
    b = validate("dscmr", _dataset(test_shift=100.0), option="input_norm", values=["none", "l2"], seeds=[0, 1], fixed=small)
    assert [(r["value"], r["seed"]) for r in a] == [("none", 0), ("none", 1), ("l2", 0), ("l2", 1)]
    assert all(0.0 < r["val_avg"] <= 1.0 and r["features"] == "toy" and r["fixed"] == small for r in a)
    assert [r["val_avg"] for r in a] == [r["val_avg"] for r in b]  # another test split changes nothing
    assert a[0]["val_avg"] != a[2]["val_avg"]  # the option is applied
    assert not any("test" in key for r in a for key in r)
    with pytest.raises(ValueError, match="closed-form"):
        validate("cca", _dataset(), option=None)


def test_pending_skips_recorded_jobs_and_splits_values(tmp_path):
    jobs = [{"method": "smcr", "setting": "wikipedia", "option": "input_norm", "values": ["none", "l2"],
             "seeds": [0], "fixed": {"g_steps": 5}}]
    log = tmp_path / "ev.jsonl"
    log.write_text(json.dumps({"method": "smcr", "setting": "wikipedia", "value": "none", "fixed": {"g_steps": 5},
                               "seed": 0, "val_avg": 0.2}) + "\n")
    todo = pending(jobs, [log, tmp_path / "missing.jsonl"])
    assert todo == [{**jobs[0], "values": ["l2"]}]
    assert len(pending(jobs, [])) == 2


def test_study_jobs_cover_every_deep_methods_input_norm_on_its_book_settings():
    jobs = study_jobs()
    assert all(j["setting"] in BUNDLE_SETTINGS for j in jobs)
    norms = {(j["method"], j["setting"]) for j in jobs if j["option"] == "input_norm" and not j["fixed"]}
    for method in ("dscmr", "dacsl", "smcr", "acmr", "dcca", "drsl", "cmdn", "ssacr"):
        assert any(m == method for m, _ in norms), method
    pascal = [j for j in jobs if j["setting"].startswith("pascal_f")]
    assert pascal and all(j["seeds"] == [0] for j in pascal)


@pytest.mark.data
def test_a_bundle_holds_train_and_validation_but_no_test_item(tmp_path, real_data):
    (path,) = export_bundle(tmp_path, ["wikipedia"])
    with np.load(path) as z:
        assert not any(name.startswith("test") for name in z.files)
    ds, features = load_bundle(path)
    real = xdata.load("wikipedia", protocol="dscmr")
    assert features == "wikipedia" and len(ds.test.labels) == 0
    np.testing.assert_array_equal(ds.train.image, real.train.image)
    np.testing.assert_array_equal(ds.val.labels, real.val.labels)
