"""Dataset summaries (xmr.study.datasets): counted by hand, served from the archive only while current."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmr import data
from xmr.paths import archive_dir
from xmr.study import datasets

WIKI = datasets.Described("Wikipedia (smcr)", "wikipedia", "smcr", {})
NOWHERE = datasets.Described("Pascal with its .mat files", "pascal", None, {})


def _split(labels, dim=(3, 2)):
    labels = np.asarray(labels)
    return (np.zeros((len(labels), dim[0]), np.float32), np.ones((len(labels), dim[1]), np.float32), labels)


def test_a_summary_counts_what_a_hand_count_gives():
    ds = data.from_arrays("hand", _split([0, 0, 1, 2]), _split([1]), _split([2, 2]), classes=["a", "b", "c"])
    s = datasets.summarise(ds)
    assert (s["labels"], s["image_dim"], s["text_dim"], s["classes"]) == (3, 3, 2, ["a", "b", "c"])
    assert s["splits"] == [{"split": "train", "pairs": 4, "per_class": [2, 1, 1]},
                           {"split": "val", "pairs": 1, "per_class": [0, 1, 0]},
                           {"split": "test", "pairs": 2, "per_class": [0, 0, 2]}]
    counts = datasets.class_counts([(datasets.Described("hand", "hand", None, {}), s)])
    assert counts.groupby("split", sort=False)["pairs"].sum().to_dict() == {"train": 4, "val": 1, "test": 2}


@pytest.fixture
def archive_here(tmp_path, monkeypatch, real_data):
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    return tmp_path / "archive"


def test_archived_summaries_are_served_without_the_data(archive_here, monkeypatch):
    expected = datasets.summarise(data.load("wikipedia", protocol="smcr"))
    assert datasets.archive_summaries([WIKI, NOWHERE]) == 1  # pascal's files are not public: left out
    assert datasets.archived([WIKI, NOWHERE]) == 1

    def no_loading(*a, **k):
        raise AssertionError("loaded the data although the archive holds a current summary")

    monkeypatch.setattr(datasets.data, "load", no_loading)
    [(d, served)] = datasets.summaries([WIKI])
    assert d == WIKI and served == json.loads(json.dumps(expected))
    assert datasets.table([(d, served)]).loc[0, ["train", "val", "test"]].tolist() == [
        sp["pairs"] for sp in expected["splits"]]


def test_a_summary_of_other_loading_code_or_a_damaged_file_is_recomputed(archive_here, monkeypatch):
    datasets.archive_summaries([WIKI])
    calls = []
    real_load = data.load
    monkeypatch.setattr(datasets.data, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    datasets.summaries([WIKI])
    assert calls == []
    monkeypatch.setattr(datasets, "data_fingerprint", lambda name: "0" * 16)  # the loader changed since
    datasets.summaries([WIKI])
    assert len(calls) == 1
    monkeypatch.undo()
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(archive_here))
    (archive_dir() / datasets.FILE).write_text('{"truncated": ')
    monkeypatch.setattr(datasets.data, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    [(_, served)] = datasets.summaries([WIKI])
    assert len(calls) == 2 and served["labels"] == 10
    monkeypatch.setenv("XMR_ARCHIVE", "off")
    datasets.archive_summaries([WIKI])
    datasets.summaries([WIKI])
    assert len(calls) == 4  # rewritten, then ignored: loaded again


def test_a_dataset_that_cannot_be_had_says_why(archive_here):
    [(d, reason)] = datasets.summaries([NOWHERE])
    assert isinstance(reason, str) and reason.startswith("not available:")
    row = datasets.table([(d, reason)]).iloc[0]
    assert row["dataset"] == "pascal" and row["note"] == reason


def test_verify_datasets_recomputes_each_summary_and_catches_an_altered_one(archive_here, capsys):
    from xmr.cli import main

    datasets.archive_summaries([WIKI])
    assert [(ok, why) for _, ok, why in datasets.check([WIKI, NOWHERE])] == [
        (True, "identical"), (None, "no current summary in the archive")]
    path = archive_dir() / datasets.FILE
    stored = json.loads(path.read_text())
    [record] = stored.values()
    record["summary"]["splits"][0]["pairs"] += 1
    path.write_text(json.dumps(stored))
    [(_, ok, why)] = datasets.check([WIKI])
    assert ok is False and why == "differs in splits"
    assert main(["verify", "--datasets"]) == 1  # the book's datasets: Wikipedia (smcr) differs, the rest skipped
    out = capsys.readouterr().out
    assert "MISMATCH SMCR: Wikipedia (wikipedia): differs in splits" in out and "1 mismatch(es)" in out
