"""The results cache (xmr.results) and the experiments API (xmr.experiments) on a toy dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from test_engine import toy_dataset
from xmr import experiments, results


@pytest.fixture
def rdir(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path))
    return tmp_path


SMALL = dict(epochs=2, batch_size=20, hidden=16, dim=8)


def test_run_is_stored_and_returned_from_the_cache(rdir):
    ds = toy_dataset()
    first = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert [r["cached"] for r in first.runs] == [False, False]
    files = sorted(rdir.rglob("*.json"))
    assert len(files) == 2
    # Tamper with a stored number: a cached run must return exactly what is stored, not recompute.
    entry = json.loads(files[0].read_text())
    entry["run"]["i2t"] = 0.123456
    files[0].write_text(json.dumps(entry))
    again = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert [r["cached"] for r in again.runs] == [True, True]
    assert 0.123456 in set(again.table["i2t"])
    untouched = [a for a, b in zip(again.runs, first.runs) if a["i2t"] != 0.123456]
    assert untouched[0]["history"] == [b for b in first.runs if b["seed"] == untouched[0]["seed"]][0]["history"]


def test_half_written_or_corrupt_entry_is_ignored_and_recomputed(rdir):
    ds = toy_dataset()
    fresh = experiments.run("dscmr", ds, **SMALL)
    (path,) = rdir.rglob("*.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # interrupted writer
    redo = experiments.run("dscmr", ds, **SMALL)
    assert redo.runs[0]["cached"] is False and redo.runs[0]["avg"] == fresh.runs[0]["avg"]
    json.loads(path.read_text())  # rewritten whole
    path.write_text(json.dumps({"key": "something else"}))
    assert experiments.run("dscmr", ds, **SMALL).runs[0]["cached"] is False


def test_key_covers_hyperparameters_seed_without_epochs_and_version(monkeypatch):
    base = results.identity("m", "d", "p", 0, {"a": 1})
    variants = [
        results.identity("m", "d", "p", 1, {"a": 1}),
        results.identity("m", "d", "p", 0, {"a": 2}),
        results.identity("m", "d", "q", 0, {"a": 1}),
        results.identity("m", "d", "p", 0, {"a": 1}, without=["x"]),
        results.identity("m", "d", "p", 0, {"a": 1}, dataset_options={"fold": 1}),
        results.identity("m", "d", "p", 0, {"a": 1}, epochs=3),
    ]
    keys = {results.run_key(v) for v in variants}
    assert results.run_key(base) not in keys and len(keys) == len(variants)
    monkeypatch.setattr(results, "__version__", "9.9.9")
    assert results.run_key(results.identity("m", "d", "p", 0, {"a": 1})) != results.run_key(base)


def test_defaults_merged_so_explicit_default_hits_the_same_entry(rdir):
    ds = toy_dataset()
    experiments.run("dscmr", ds, **SMALL)
    assert experiments.run("dscmr", ds, alpha=1e-3, **SMALL).runs[0]["cached"] is True


def test_no_cache_recomputes(rdir):
    ds = toy_dataset()
    experiments.run("cca", ds)
    assert experiments.run("cca", ds, cache=False).runs[0]["cached"] is False


def test_results_tables(rdir):
    ds = toy_dataset()
    res = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    t = res.table
    for col in ["method", "dataset", "protocol", "seed", "i2t", "t2i", "avg", "i2t@5", "avg@50", "best_epoch",
                "epochs", "seconds", "last_i2t", "last_avg", "val_avg_best"]:
        assert col in t.columns
    assert np.allclose(t["avg"], (t["i2t"] + t["t2i"]) / 2)
    h = res.history
    assert list(h["seed"].unique()) == [0, 1] and {"label", "sim", "pair", "val_avg"} <= set(h.columns)
    assert len(h) == 4
    assert set(res.pr["task"]) == {"i2t", "t2i"}
    s = res.summary()
    assert s.loc["avg", "mean"] == pytest.approx(t["avg"].mean())
    assert s.loc["avg", "std"] == pytest.approx(t["avg"].std(ddof=1))
    closed = experiments.run("cca", ds).table
    assert closed["best_epoch"].isna().all() and pd.api.types.is_float_dtype(closed["last_avg"])
    assert experiments.run("cca", ds).history.empty


def test_grid_one_row_per_combination_and_seed(rdir):
    ds = toy_dataset()
    g = experiments.grid("cca", ds, {"n_components": [1, 2], "reg": [0.1, 0.01]}, seeds=[0, 1])
    assert len(g) == 8 and list(g.columns[:2]) == ["n_components", "reg"]
    assert sorted(set(zip(g["n_components"], g["reg"]))) == [(1, 0.01), (1, 0.1), (2, 0.01), (2, 0.1)]
    with pytest.raises(ValueError, match="both in param_grid"):
        experiments.grid("cca", ds, {"reg": [1]}, reg=2)


def test_bad_requests_are_clear_errors(rdir):
    ds = toy_dataset()
    with pytest.raises(ValueError, match="has no hyperparameter 'alfa'"):
        experiments.run("dscmr", ds, alfa=1)
    with pytest.raises(ValueError, match="unknown method"):
        experiments.run("nope", ds)
    with pytest.raises(ValueError, match="closed-form"):
        experiments.run("cca", ds, epochs=3)


def test_track_test_reuses_the_cache_entry_and_upgrades_one_without_the_record(rdir):
    ds = toy_dataset()
    plain = experiments.run("dscmr", ds, **SMALL)
    assert "test_best_avg" not in plain.table
    tracked = experiments.run("dscmr", ds, track_test=True, **SMALL)
    assert not tracked.runs[0]["cached"]  # the stored entry lacked the per-epoch test record
    assert len(list(rdir.rglob("*.json"))) == 1  # same key: the entry was replaced, not duplicated
    t = tracked.table.iloc[0]
    assert t["avg"] == plain.table.iloc[0]["avg"] and t["best_epoch"] == plain.table.iloc[0]["best_epoch"]
    assert t["test_best_avg"] >= t["avg"] and {"test_i2t", "test_t2i", "test_avg"} <= set(tracked.history.columns)
    # Both kinds of request are now served by the fuller entry.
    assert experiments.run("dscmr", ds, track_test=True, **SMALL).runs[0]["cached"]
    again = experiments.run("dscmr", ds, **SMALL)
    assert again.runs[0]["cached"] and again.table.iloc[0]["avg"] == t["avg"]


def test_each_seed_is_stored_as_soon_as_it_finishes(rdir, monkeypatch):
    import xmr.train_batched as tb

    real = tb.run_method

    def fail_on_seed_1(*args, seed, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt  # e.g. the user stops a long multi-seed run
        return real(*args, seed=seed, **kwargs)

    monkeypatch.setattr(tb, "run_method", fail_on_seed_1)
    ds = toy_dataset()
    with pytest.raises(KeyboardInterrupt):
        experiments.run("dscmr", ds, seeds=[0, 1], batched=False, **SMALL)
    assert len(list(rdir.rglob("*.json"))) == 1
    monkeypatch.setattr(tb, "run_method", real)
    again = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert [r["cached"] for r in again.runs] == [True, False]


def test_planned_runs_reports_cache_keys_and_trains_nothing(rdir):
    ds = toy_dataset()
    done = experiments.run("dscmr", ds, seeds=[0], **SMALL)
    plan = experiments.planned_runs("dscmr", ds, seeds=[0, 1], device="cpu", **SMALL)
    assert list(plan["seed"]) == [0, 1] and list(plan["cached"]) == [True, False]
    (entry,) = rdir.rglob("*.json")  # nothing else was trained or stored
    assert plan["key"][0] == entry.stem and done.runs[0]["seed"] == 0
    # A cached run without the per-epoch test record does not count as cached for a track_test request.
    assert not experiments.planned_runs("dscmr", ds, seeds=[0], track_test=True, **SMALL)["cached"][0]
