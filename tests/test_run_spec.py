"""What identifies a run (experiments.RunSpec) apart from how it runs (Execution); replay(identity); the typed
RunRecord over the stored JSON. The references are the archive's own stored keys and a hand-written entry."""

from __future__ import annotations

import numpy as np
import pytest

from xmr import archive, experiments
from xmr.experiments import Execution, RunSpec
from xmr.paths import repo_root
from xmr.records import RunRecord
from xmr.results import judge


@pytest.fixture
def archived(monkeypatch):
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(repo_root() / "archive"))
    by_method = {}
    for rec in archive.records():
        if judge(rec)[0] == "current":
            by_method.setdefault(rec["identity"]["method"], rec)
            if rec["identity"]["dataset"] == "wikipedia":  # a cheap one to re-train (the news set extracts features)
                by_method.setdefault(f"{rec['identity']['method']} on wikipedia", rec)
    if not by_method:
        pytest.skip("no current archived record")
    return by_method


def test_the_spec_of_every_methods_stored_identity_plans_the_stored_key(real_data, archived):
    for method, rec in archived.items():
        if " on " in method:
            continue
        spec = RunSpec.from_identity(rec["identity"])
        planned = experiments.planned_runs(spec.method, spec.dataset, protocol=spec.protocol, seeds=spec.seeds,
                                           epochs=spec.epochs, without=spec.without,
                                           dataset_options=dict(spec.dataset_options) or None, **spec.hparams)
        assert list(planned["key"]) == [rec["key"]], method


def test_replay_retrains_a_closed_form_record_to_its_key_and_numbers(real_data, archived):
    rec = archived["cca on wikipedia"]
    entries: list[dict] = []
    experiments.replay(rec["identity"], Execution(device="cpu", cache=False, sink=entries.append))
    assert [e["key"] for e in entries] == [rec["key"]]
    for task in ("i2t", "t2i", "avg"):
        assert entries[0]["run"][task] == pytest.approx(rec["run"][task], abs=1e-6)


def test_run_is_run_spec_of_its_arguments():
    from xmr.data import from_arrays

    rng = np.random.default_rng(0)

    def split(n):
        return rng.random((n, 5)), rng.random((n, 4)), np.arange(n) % 3

    ds = from_arrays("mine", split(30), split(6), split(9))
    a = experiments.run("cca", ds, seeds=[0, 1], cache=False, n_components=2)
    b = experiments.run_spec(RunSpec("cca", ds, seeds=(0, 1), hparams={"n_components": 2}), Execution(cache=False))
    cols = ["seed", "i2t", "t2i", "avg"]
    assert a.table[cols].equals(b.table[cols])


def test_from_identity_drops_what_a_run_refuses_and_keeps_the_rest():
    ident = {"method": "smcr", "dataset": "wikipedia", "protocol": "smcr", "dataset_options": {"seed": 3},
             "hparams": {"epochs": 50, "lr": 0.1, "d_lr": 0.01, "d_lr_scale": 0.5}, "without": ["con"],
             "epochs": 50, "seed": 7, "version": "x", "code": "y"}
    assert RunSpec.from_identity(ident) == RunSpec("smcr", "wikipedia", "smcr", (7,), 50, ("con",), {"seed": 3},
                                                   {"lr": 0.1, "d_lr_scale": 0.5})


ENTRY = {"key": "abc", "identity": {"method": "cca", "dataset": "wikipedia", "protocol": "dscmr",
                                    "dataset_options": {}, "hparams": {}, "without": [], "epochs": None, "seed": 2,
                                    "version": "1", "code": "f"},
         "run": {"i2t": 0.25, "t2i": 0.2, "avg": 0.225, "seconds": 0.5}, "provenance": {"device": "cpu"},
         "digest": "d"}


def test_a_record_reads_its_parts_and_writes_the_same_json():
    rec = RunRecord.from_json(ENTRY)
    assert (rec.method, rec.dataset, rec.seed, rec.without, rec.seconds) == ("cca", "wikipedia", 2, (), 0.5)
    assert rec.score("avg") == 0.225 and rec.label() == "cca wikipedia seed 2 [abc]"
    assert rec.to_json() == ENTRY
    with pytest.raises(KeyError, match="no score 'i2t@5'; it has i2t, t2i, avg"):
        rec.score("i2t@5")


@pytest.mark.parametrize("broken, says", [
    ({k: v for k, v in ENTRY.items() if k != "run"}, "lacks run"),
    ({**ENTRY, "identity": {k: v for k, v in ENTRY["identity"].items() if k not in ("seed", "hparams")}},
     "identity lacks hparams, seed"),
    ({**ENTRY, "run": [1, 2]}, "its run is not an object"),
    ([1], "a run record is a JSON object, got list"),
])
def test_a_broken_record_is_named(broken, says):
    with pytest.raises(ValueError, match=says):
        RunRecord.from_json(broken)
