"""The committed results archive (xmr.archive): served like the cache, never when stale or damaged."""

from __future__ import annotations

import gzip
import json

import pytest

from xmr import archive, experiments, results
from xmr.paths import archive_dir, results_dir

from test_engine import toy_dataset

SMALL = {"epochs": 2, "hidden": 16, "dim": 8, "batch_size": 16}


def _train_once():
    ds = toy_dataset()
    experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    stored = [json.loads(p.read_text()) for p in sorted(results_dir().glob("dscmr/*.json"))]
    return ds, stored


@pytest.fixture
def archived(tmp_path, monkeypatch):
    """Two toy runs trained, moved from the cache into an empty archive; training then fails loudly."""
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    ds, stored = _train_once()
    assert len(stored) == 2
    archive.add(stored)
    for p in results_dir().glob("dscmr/*.json"):
        p.unlink()

    def no_training(*a, **k):
        raise AssertionError("trained although the archive holds the run")

    monkeypatch.setattr(experiments, "train", no_training)
    return ds, stored


def test_archived_runs_are_served_without_training(archived):
    ds, stored = archived
    res = experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    assert [r["cached"] for r in res.runs] == [True, True]
    assert [r["avg"] for r in res.runs] == [e["run"]["avg"] for e in sorted(stored, key=lambda e: e["identity"]["seed"])]


def test_the_archive_can_be_switched_off(archived, monkeypatch):
    ds, _ = archived
    monkeypatch.setenv("XMR_ARCHIVE", "off")
    with pytest.raises(AssertionError, match="trained although"):
        experiments.run("dscmr", ds, seeds=[0], **SMALL)


def _rewrite(path, transform):
    lines = gzip.open(path, "rt").read().splitlines()
    path.write_bytes(gzip.compress(("\n".join(transform(lines)) + "\n").encode()))


@pytest.mark.parametrize("damage", ["fingerprint", "numbers_without_fields", "edited_metric", "edited_and_resealed",
                                    "no_digest"])
def test_a_damaged_or_stale_record_is_never_served(archived, damage):
    ds, _ = archived
    path = archive_dir() / f"dscmr{archive.SUFFIX}"

    def edit(lines):
        first = json.loads(lines[0])
        if damage == "fingerprint":  # as if the code changed since it was archived
            first["identity"]["code"] = "0" * 16
        elif damage == "numbers_without_fields":
            del first["run"]["history"]
        elif damage == "edited_metric":  # a number edited inside a gzip-valid record: its digest no longer matches
            first["run"]["avg"] = 0.9999
        elif damage == "edited_and_resealed":  # edited and its digest recomputed: the average contradicts its tasks
            first["run"]["avg"] = 0.777
            first["digest"] = results.digest(first)
        elif damage == "no_digest":  # written before digests existed and never sealed
            del first["digest"]
        return [json.dumps(first)] + lines[1:]

    _rewrite(path, edit)
    with pytest.raises(AssertionError, match="trained although"):  # the damaged one must train again
        experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)


@pytest.mark.parametrize("damage", ["truncated_line", "truncated_file"])
def test_a_damaged_archive_file_stops_reading_and_is_never_written_over(archived, damage):
    ds, _ = archived
    path = archive_dir() / f"dscmr{archive.SUFFIX}"
    if damage == "truncated_file":
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    else:
        _rewrite(path, lambda lines: [lines[0][: len(lines[0]) // 2]] + lines[1:])
    before = path.read_bytes()
    with pytest.raises(archive.ArchiveDamagedError, match=r"dscmr\.jsonl\.gz.*git checkout"):
        experiments.run("dscmr", ds, seeds=[0, 1], **SMALL)
    with pytest.raises(archive.ArchiveDamagedError):  # add refuses: the records it could not read would be lost
        archive.add([{"key": "k", "identity": {"method": "dscmr"}, "run": {}, "provenance": {}}])
    assert path.read_bytes() == before


def test_add_replaces_by_key_and_writes_the_same_bytes_for_the_same_records(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "a"
    _, stored = _train_once()
    archive.add(stored, root)
    first = (root / f"dscmr{archive.SUFFIX}").read_bytes()
    archive.add(stored, root)
    assert (root / f"dscmr{archive.SUFFIX}").read_bytes() == first
    assert len(list(archive.records("dscmr", root))) == 2
    assert archive.remove("dscmr", [stored[0]["key"]], root) == 1
    assert [r["key"] for r in archive.records("dscmr", root)] == [stored[1]["key"]]


def test_a_chapter_opens_from_a_temporary_archive_without_training(tmp_path, monkeypatch, real_data):
    """What a fresh clone's ``make book`` does with a complete archive: every declared run is read, none trained."""
    from xmr.orchestrate.plan import plan
    from xmr.study import chapters

    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "results"))  # the features cache stays warm
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    chapter = "dacsl_fig4_convergence"  # pascal100 (protocol known without loading), Wikipedia, news
    first = chapters.open_chapter(chapter, "smoke")
    assert all(r.ok for runs in first.groups.values() for r in runs)
    archive.add([json.loads(p.read_text()) for p in results_dir().glob("*/*.json")])
    for p in results_dir().glob("*/*.json"):
        p.unlink()
    assert plan("smoke", only=[chapter], cost=False)["cached"].all()  # --plan: nothing to train

    def no_training(*a, **k):
        raise AssertionError("trained although the archive holds the run")

    monkeypatch.setattr(experiments, "train", no_training)
    monkeypatch.setenv("XMR_DATA_DIR", str(tmp_path / "no data"))  # rendering from the archive needs no data
    again = chapters.open_chapter(chapter, "smoke")
    for group, runs in again.groups.items():
        for new, old in zip(runs, first.groups[group]):
            assert new.ok and list(new.table["avg"]) == list(old.table["avg"])


def test_status_counts_the_full_books_runs_the_archive_holds(archived, capsys):
    """Only records of runs the full book plans count towards it (the toy runs here are not among them)."""
    from xmr.orchestrate.plan import plan
    from xmr.cli import main

    assert main(["archive", "status"]) == 0
    out = capsys.readouterr().out
    assert "dscmr" in out and "       2" in out  # the toy records: current, but no run of the book
    n = len(plan("full", cost=False))
    assert f"the full book needs {n} runs: 0 archived and current, {n} missing" in out
    assert main(["archive", "status", "--no-book"]) == 0
    assert "full book" not in capsys.readouterr().out
