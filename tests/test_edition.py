"""The edition's facts (xmr.publish.edition) are read from the records: sources, hours and devices counted by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xmr import archive, experiments, results
from xmr.publish import edition
from xmr.paths import results_dir

from test_engine import toy_dataset

SMALL = {"epochs": 1, "hidden": 8, "dim": 4, "batch_size": 16}


@pytest.fixture
def three_runs(tmp_path, monkeypatch):
    """Seeds 0-2 of a toy DSCMR trained; seed 0 archived (with a GPU provenance), seed 1 left in the cache,
    seed 2 removed (missing); returns the plan-like frame and the recorded seconds."""
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    # on CPU wherever the suite runs: the hand counts below expect the local run's "CPU" (a GPU machine failed them)
    experiments.run("dscmr", toy_dataset(), seeds=[0, 1, 2], device="cpu", **SMALL)
    entries = {e["identity"]["seed"]: e for e in (json.loads(p.read_text()) for p in results_dir().glob("dscmr/*.json"))}
    gpu = {**entries[0], "provenance": {**entries[0]["provenance"], "device": "cuda:0", "device_name": "Some GPU",
                                        "date": "2026-01-02T03:04:05Z"}}
    gpu["run"] = {**gpu["run"], "seconds": 7200.0}
    gpu = results.seal({k: v for k, v in gpu.items() if k != "digest"})  # its run changed: sealed anew
    archive.add([gpu])
    for seed in (0, 2):  # seed 0 lives in the archive only, seed 2 nowhere
        (results_dir() / "dscmr" / f"{entries[seed]['key']}.json").unlink()
    runs = pd.DataFrame({"method": "dscmr", "dataset": "toy", "seed": [0, 1, 2],
                         "key": [entries[s]["key"] for s in (0, 1, 2)]})
    return runs, entries


def test_each_run_is_served_from_where_a_build_would_find_it(three_runs):
    runs, entries = three_runs
    rows = edition.sources(runs)
    assert list(rows["source"]) == ["archive", "cache", "missing"]
    assert rows.loc[0, "seconds"] == 7200.0 and rows.loc[0, "device_name"] == "Some GPU"
    assert rows.loc[1, "seconds"] == pytest.approx(entries[1]["run"]["seconds"])
    assert rows.loc[1, "device"] == entries[1]["provenance"]["device"]


def test_the_archive_wins_over_the_cache_and_a_stale_record_serves_nothing(three_runs, monkeypatch):
    runs, entries = three_runs
    archive.add([entries[1]])  # now in both: a fresh clone sees the archive's
    assert list(edition.sources(runs)["source"]) == ["archive", "archive", "missing"]
    monkeypatch.setenv("XMR_ARCHIVE", "off")
    assert list(edition.sources(runs)["source"]) == ["missing", "cache", "missing"]
    monkeypatch.delenv("XMR_ARCHIVE")
    stale = {**entries[1], "identity": {**entries[1]["identity"], "code": "0" * 16}}
    (results_dir() / "dscmr" / f"{entries[1]['key']}.json").write_text(json.dumps(stale))
    archive.remove("dscmr", [entries[1]["key"]])
    assert list(edition.sources(runs)["source"]) == ["archive", "missing", "missing"]


def test_summary_and_description_count_by_hand(three_runs):
    runs, entries = three_runs
    rows = edition.sources(runs)
    table = edition.summary(rows)
    assert table.loc["dscmr", ["runs", "archive", "cache", "missing"]].tolist() == [3, 1, 1, 1]
    assert table.loc["total", "train_hours"] == pytest.approx((7200.0 + entries[1]["run"]["seconds"]) / 3600, abs=0.005)
    text = edition.describe(rows)
    assert "needs **3** training runs: **1** come from the results archive" in text
    assert "1 from this machine's results cache, and **1** are missing" in text
    assert "2.0 h for 1 runs on Some GPU" in text
    assert "runs on CPU" in text and "2026-01-02" in text


def test_device_type_reads_a_provenance_device_by_hand():
    from xmr.results import device_type

    assert [device_type(d) for d in (None, float("nan"), "", "cpu", "cuda", "cuda:1")] == \
        ["cpu", "cpu", "cpu", "cpu", "cuda", "cuda"]
