"""The results cache (xmr.results) and the experiments API (xmr.experiments) on a toy dataset."""

from __future__ import annotations

import json
import re

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
    # A stored number changed consistently (its average too) and resealed: a cached run returns exactly what is
    # stored, it does not recompute.
    entry = json.loads(files[0].read_text())
    entry["run"]["i2t"], entry["run"]["avg"] = 0.123456, (0.123456 + entry["run"]["t2i"]) / 2
    files[0].write_text(json.dumps(results.seal({k: v for k, v in entry.items() if k != "digest"})))
    again = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert [r["cached"] for r in again.runs] == [True, True]
    assert 0.123456 in set(again.table["i2t"])
    untouched = [a for a, b in zip(again.runs, first.runs) if a["i2t"] != 0.123456]
    assert untouched[0]["history"] == [b for b in first.runs if b["seed"] == untouched[0]["seed"]][0]["history"]
    # An edit that does not update the digest (an accidental edit, a flipped bit) is never served: it trains again
    entry = json.loads(files[0].read_text())
    entry["run"]["i2t"] = 0.654321
    files[0].write_text(json.dumps(entry))
    third = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert sorted(r["cached"] for r in third.runs) == [False, True] and 0.654321 not in set(third.table["i2t"])


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
    import xmr.engine as engine

    real = engine.train_deep

    def fail_on_seed_1(*args, seed, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt  # e.g. the user stops a long multi-seed run
        return real(*args, seed=seed, **kwargs)

    monkeypatch.setattr(engine, "train_deep", fail_on_seed_1)
    ds = toy_dataset()
    with pytest.raises(KeyboardInterrupt):
        experiments.run("dscmr", ds, seeds=[0, 1], batched=False, **SMALL)
    assert len(list(rdir.rglob("*.json"))) == 1
    monkeypatch.setattr(engine, "train_deep", real)
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


def test_key_covers_the_code_fingerprint(rdir, monkeypatch):
    ident = results.identity("dscmr", "toy", "p", 0, {"a": 1})
    assert set(ident) == set(results.IDENTITY_FIELDS) and len(ident["code"]) == 16
    monkeypatch.setattr(results, "fingerprint", lambda method, dataset: "0" * 16)
    assert results.run_key(results.identity("dscmr", "toy", "p", 0, {"a": 1})) != results.run_key(ident)


def test_a_code_change_is_never_served_the_old_numbers(rdir, monkeypatch):
    ds = toy_dataset()
    first = experiments.run("cca", ds)
    assert experiments.run("cca", ds).runs[0]["cached"]
    monkeypatch.setattr(results, "fingerprint", lambda method, dataset: "f" * 16)  # as if cca.py had been fixed
    again = experiments.run("cca", ds)
    assert not again.runs[0]["cached"] and again.runs[0]["avg"] == first.runs[0]["avg"]
    assert len(list(rdir.rglob("*.json"))) == 2  # the old entry stays (stale) until `xmr cache prune`


def _fake_run() -> dict:
    return {f: 0.5 for f in results.REQUIRED_FIELDS}


def test_cache_cli_lists_and_prunes_exactly_the_stale_entries(rdir, capsys):
    from xmr.cli import main

    current = results.identity("dscmr", "toy", "p", 0, {"a": 1})
    old_code = {**results.identity("dscmr", "toy", "p", 1, {"a": 1}), "code": "0123456789abcdef"}
    no_code = {k: v for k, v in results.identity("dscmr", "toy", "p", 2, {"a": 1}).items() if k != "code"}
    keep = results.store(current, _fake_run())
    stale = [results.store(old_code, _fake_run()), results.store(no_code, _fake_run())]
    (rdir / "dscmr" / "broken.json").write_text("{not json")
    stale.append(rdir / "dscmr" / "broken.json")
    other = results.store(results.identity("cca", "toy", "p", 0, {}), _fake_run())

    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^dscmr\s+4\s+3\s", out, re.M) and re.search(r"^cca\s+1\s+0\s", out, re.M)
    assert re.search(r"^total\s+5\s+3\s", out, re.M)
    assert main(["cache", "info", "--method", "cca"]) == 0 and "dscmr" not in capsys.readouterr().out

    assert main(["cache", "prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("would remove dscmr/") == 3 and all(p.exists() for p in stale)
    assert "code changed" in out and "no code fingerprint" in out and "unreadable" in out

    assert main(["cache", "prune"]) == 0
    out = capsys.readouterr().out
    assert out.count("removed dscmr/") == 3 and "removed 3 entries" in out
    assert not any(p.exists() for p in stale) and keep.exists() and other.exists()
    assert results.load(current) == _fake_run()

    assert main(["cache", "prune", "--all", "--method", "cca"]) == 0
    assert not other.exists() and keep.exists() and not (rdir / "cca").exists()
    assert main(["cache", "prune", "--all"]) == 0
    assert not list(rdir.rglob("*.json"))
    capsys.readouterr()
    assert main(["cache"]) == 0 and "no cached runs" in capsys.readouterr().out


def test_cache_cli_bad_input_is_a_clear_error(rdir, capsys):
    from xmr.cli import main

    assert main(["cache", "list", "--method", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["cache", "code", "nope"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["cache", "code", "dacsl", "wikipedia"]) == 0
    out = capsys.readouterr().out
    assert results.identity("dacsl", "wikipedia", "p", 0, {})["code"] in out and "xmr/methods/dacsl.py" in out
    with pytest.raises(SystemExit):
        main(["cache", "frobnicate"])
