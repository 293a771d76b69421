"""Stored results cannot be silently wrong: every record carries a digest checked on every read, its numbers must
agree with each other, and a damaged archive file is never read half-way nor written over (issue 30)."""

from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pytest

from xmr import __version__, archive, results
from xmr.fingerprint import fingerprint
from xmr.cli import main
from xmr.paths import archive_dir, repo_root


def _run(**over) -> dict:
    """A hand-made run whose numbers agree: avg the mean of i2t and t2i, the selected epoch in the history."""
    run = {"i2t": 0.2455, "t2i": 0.2065, "avg": 0.226, "at": {"5": {"i2t": 0.3, "t2i": 0.1, "avg": 0.2}},
           "best_epoch": 2, "epochs": 3, "seconds": 1.0, "last_epoch": {}, "pr": {},
           "history": [{"epoch": e, "val_avg": v} for e, v in ((1, 0.1), (2, 0.3), (3, 0.2))],
           "val_best": {"avg": 0.3}}
    return run | over


# the identity layout of this code (current version and fingerprint), so a record is judged on its integrity alone
IDENT = {"method": "dscmr", "dataset": "wikipedia", "protocol": "dscmr", "dataset_options": None, "hparams": {},
         "without": [], "epochs": 3, "seed": 0, "data": results.data_digest("wikipedia"), "version": __version__,
         "code": fingerprint("dscmr", "wikipedia")}


def test_a_fresh_entry_is_intact_and_any_edit_is_found():
    entry = json.loads(json.dumps(results.make_entry(IDENT, _run(seconds=np.float64(2.5), epochs=np.int64(3)),
                                                     device="cpu"), default=lambda o: o.item()))
    assert results.damage(entry) == ""
    edited = json.loads(json.dumps(entry))
    edited["run"]["avg"] = 0.9999
    assert results.damage(edited).startswith("digest mismatch")
    unsealed = {k: v for k, v in entry.items() if k != "digest"}
    assert results.damage(unsealed).startswith("no digest")
    # provenance is not part of the digest: where a run trained does not change what it is
    assert results.damage({**entry, "provenance": {"device": "cuda:0"}}) == ""


@pytest.mark.parametrize("run, says", [
    (_run(avg=0.777), "avg 0.777 is not the mean of i2t and t2i"),
    (_run(at={"25": {"i2t": 0.3, "t2i": 0.1, "avg": 0.25}}), "mAP@25: avg 0.25"),
    (_run(best_epoch=7), "selected epoch 7 is not in the history"),
    (_run(val_best={"avg": 0.31}), "validation avg 0.3 is not the recorded best 0.31"),
])
def test_numbers_that_contradict_each_other_are_named(run, says):
    assert any(says in p for p in results.inconsistencies(run)), results.inconsistencies(run)
    entry = {"key": "k", "identity": IDENT, "run": run}
    assert results.damage({**entry, "digest": results.digest(entry)}).startswith("inconsistent")
    with pytest.raises(ValueError, match="not sealed"):
        results.seal(entry)


def test_a_consistent_run_has_no_inconsistency():
    assert results.inconsistencies(_run()) == []
    assert results.inconsistencies({"at": 3.0, "history": "x"}) == []  # malformed parts: no crash (the fields check)


def test_write_entry_refuses_a_record_changed_on_its_way(tmp_path):
    """A worker's record (xmr book --scheduler) whose numbers changed after it was made is refused, nothing written."""
    entry = results.make_entry(IDENT, _run())
    entry["run"]["i2t"] = 0.5
    with pytest.raises(ValueError, match="digest mismatch"):
        results.write_entry(entry, tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def _archive_with(tmp_path, monkeypatch, entries) -> None:
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    archive.add(entries)


def test_archive_status_names_a_damaged_record_and_seal_repairs_only_unsealed_ones(tmp_path, monkeypatch, capsys):
    from xmr.methods import registry  # noqa: F401 - the registry judges methods

    good = results.make_entry(IDENT, _run())
    unsealed = {k: v for k, v in results.make_entry({**IDENT, "seed": 1}, _run()).items() if k != "digest"}
    edited = results.make_entry({**IDENT, "seed": 2}, _run())
    edited["run"]["avg"] = 0.9999
    _archive_with(tmp_path, monkeypatch, [good, unsealed, edited])
    assert main(["archive", "status", "--no-book"]) == 0
    out = capsys.readouterr().out
    assert f"dscmr {edited['key']}: digest mismatch" in out and f"dscmr {unsealed['key']}: no digest" in out
    assert main(["archive", "seal"]) == 0
    assert "sealed 1 record(s): dscmr 1" in capsys.readouterr().out
    by_key = {r["key"]: r for r in archive.records("dscmr")}
    assert results.damage(by_key[unsealed["key"]]) == ""  # sealed
    assert results.damage(by_key[edited["key"]]).startswith("digest mismatch")  # never blessed by sealing


def test_a_leftover_temporary_file_is_swept_and_git_ignores_it(tmp_path, monkeypatch):
    root = tmp_path / "archive"
    root.mkdir()
    left = root / f".dscmr{archive.SUFFIX}.abc123.tmp"
    left.write_bytes(b"half a file")
    _archive_with(tmp_path, monkeypatch, [results.make_entry(IDENT, _run())])
    assert not left.exists() and (root / f"dscmr{archive.SUFFIX}").exists()
    probe = f"archive/.cca{archive.SUFFIX}.k2j3h4.tmp"
    done = subprocess.run(["git", "check-ignore", "-q", probe], cwd=repo_root())
    assert done.returncode == 0, f"git does not ignore {probe}"


def test_records_of_a_truncated_file_are_never_half_read(tmp_path, monkeypatch):
    _archive_with(tmp_path, monkeypatch, [results.make_entry({**IDENT, "seed": s}, _run()) for s in range(50)])
    path = archive_dir() / f"dscmr{archive.SUFFIX}"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(archive.ArchiveDamagedError, match="unreadable after line"):
        list(archive.records("dscmr"))
    assert gzip.decompress(raw).count(b"\n") == 50


def test_seeds_out_of_range_and_an_empty_protocol_are_clear(capsys):
    from xmr import experiments

    for bad in (-1, 2 ** 32, 2 ** 63 + 1):
        with pytest.raises(ValueError, match="0 <= seed < 2\\*\\*32"):
            experiments.planned_runs("cca", "wikipedia", seeds=[bad])
    with pytest.raises(ValueError, match="not an integer"):
        experiments.planned_runs("cca", "wikipedia", seeds=[1.5])
    # "" is no protocol: the default's run keys, not a second key for the same run
    same = experiments.planned_runs("cca", "wikipedia", protocol="", seeds=[0])["key"].item()
    assert same == experiments.planned_runs("cca", "wikipedia", seeds=[0])["key"].item()


def test_set_epochs_is_the_epochs_option_and_a_diverged_run_is_an_error(real_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["run", "dscmr", "wikipedia", "--set", "epochs=1", "--set", "hidden=8", "--set", "dim=4",
                 "--seeds", "0"]) == 0
    assert main(["run", "dscmr", "wikipedia", "--set", "epochs=1", "--epochs", "2"]) == 2
    assert "disagree" in capsys.readouterr().err
    assert main(["run", "dscmr", "wikipedia", "--set", "lr=1e6", "--epochs", "2", "--set", "hidden=8",
                 "--set", "dim=4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xmr: error:") and "lower the learning rate" in err and "Traceback" not in err


def test_a_dask_cluster_without_workers_fails_with_a_message(monkeypatch):
    """A cluster with no worker used to wait forever: the build now fails after the stated timeout, saying why."""
    pytest.importorskip("distributed")
    from xmr.orchestrate import executors

    monkeypatch.setattr(executors, "NO_WORKERS_TIMEOUT", 3.0)
    with pytest.raises(ValueError, match="has no worker after 3 s"):
        with executors._dask(jobs=0, threads=1, scheduler=None):
            pass


def test_an_interrupted_command_says_so_without_a_traceback(monkeypatch, capsys):
    from xmr.cli import claims_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(claims_cmd, "_claims", interrupted)
    assert main(["claims"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("xmr: interrupted") and "Traceback" not in err


@pytest.mark.parametrize("method, bad, says", [("dscmr", {"dim": 0}, "dim=0"), ("cca", {"n_components": 100000},
                                               "more than the 10 dimensions"), ("dscmr", {"hidden": [0]}, r"hidden=\[0\]")])
def test_sizes_that_cannot_work_are_refused_before_anything_is_cached(real_data, tmp_path, monkeypatch, method, bad,
                                                                      says):
    from xmr import experiments

    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=says):
        experiments.run(method, "wikipedia", seeds=[0], **({"epochs": 1} if method == "dscmr" else {}), **bad)
    assert not list((tmp_path / "cache" / "results").rglob("*.json"))  # no result stored (the data stamps may be)


# --------------------------------------------------------------------------- your own arrays that no method can use
def _arrays(n: int, labels, *, d_img: int = 4, d_txt: int = 3):
    rng = np.random.default_rng(n)
    return rng.random((n, d_img)), rng.random((n, d_txt)), np.asarray(labels)


GOOD = dict(train=_arrays(6, [0, 0, 1, 1, 2, 2]), val=_arrays(3, [0, 1, 2]), test=_arrays(4, [0, 1, 2, 2]))


@pytest.mark.parametrize("change, says", [
    ({"val": _arrays(3, [0, 1, 2], d_img=5)}, r"image features have different sizes across splits \(train 4, val 5, test 4\)"),
    ({"test": _arrays(4, [0, 1, 2, 2], d_txt=7)}, r"text features have different sizes .*test 7"),
    ({"classes": ["a", "b"]}, r"train labels go up to 2, but there are 2 classes \(a, b\)"),
    ({"test": _arrays(4, [0, 1, 3, 3]), "classes": list("abcd")}, r"test labels \[3\] never occur in train"),
    ({"test": _arrays(4, [1, 1, 1, 1])}, "the test split holds a single class"),
    ({"test": _arrays(0, np.zeros(0, int))}, "the test split is empty"),
])
def test_own_arrays_no_method_can_use_are_refused_before_anything_trains(tmp_path, monkeypatch, change, says):
    from xmr import data, experiments

    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    args = {**GOOD, "classes": ["a", "b", "c"], **change}
    ds = data.from_arrays("mine", args["train"], args["val"], args["test"], classes=args["classes"])
    with pytest.raises(ValueError, match=f"dataset 'mine' cannot be used as it is:\n  - (.|\n)*{says}"):
        experiments.run("cca", ds, seeds=[0])
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.json"))


def test_own_arrays_that_can_be_used_train():
    from xmr import data, experiments
    from xmr.data.consistency import problems

    ds = data.from_arrays("mine", GOOD["train"], GOOD["val"], GOOD["test"], classes=["a", "b", "c"])
    assert problems(ds) == []
    assert len(experiments.run("cca", ds, seeds=[0], cache=False, n_components=2).table) == 1


# --------------------------------------------------------------------------- data checked by content
def _forge(path, new: bytes) -> None:
    """Rewrite ``path`` at the same size and put its modification time back, as the hostile test did."""
    import os

    st = path.stat()
    assert len(new) == st.st_size
    path.write_bytes(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


@pytest.fixture
def wikipedia_copy(real_data, tmp_path, monkeypatch):
    """A private copy of the Wikipedia files as the data directory, with an empty cache: the root."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(real_data / "wikipedia", root / "wikipedia")
    monkeypatch.setenv("XMR_DATA_DIR", str(root))
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XMR_DATA_PACK", raising=False)
    return root


def test_labels_rewritten_at_the_same_size_and_mtime_are_caught_before_training(wikipedia_copy, tmp_path):
    from xmr import experiments
    from xmr.data import ChecksumError, content

    root = wikipedia_copy
    assert content.check("wikipedia") == []  # the clean copy, hashed once (and its loader's stamp written)
    experiments.run("cca", "wikipedia", seeds=[0])
    lists = root / "wikipedia" / "trainset_txt_img_cat.list"
    text = lists.read_text()
    forged = text.replace("\t1\n", "\t2\n", 300)  # 300 labels moved to another class, same byte count
    assert forged != text
    _forge(lists, forged.encode())
    stored = sorted((tmp_path / "cache").rglob("*.json"))
    with pytest.raises(ChecksumError, match=r"wikipedia/trainset_txt_img_cat.list: sha256 [0-9a-f]{16}…, expected 30c1ba8a"):
        experiments.run("cca", "wikipedia", seeds=[1])
    assert sorted((tmp_path / "cache").rglob("*.json")) == stored  # nothing trained on it, nothing stored


def test_a_forged_list_is_caught_by_a_direct_load_too(wikipedia_copy, monkeypatch):
    """``xmr.data.load`` on its own (no run around it) re-hashes the small files: a remembered check is not trusted."""
    from xmr import data
    from xmr.data import ChecksumError, checksums

    root = wikipedia_copy
    data.load("wikipedia")  # the clean copy: loads (and would have remembered its check)
    cats = root / "wikipedia" / "categories.list"
    _forge(cats, cats.read_bytes().replace(b"art", b"ART", 1))
    with pytest.raises(ChecksumError, match="categories.list: sha256 mismatch"):
        data.load("wikipedia")
    # a file over the re-hash size is trusted only under the very status it was checked in: restoring its mtime
    # after a same-size rewrite changes its change time, so it is hashed again
    monkeypatch.setattr(checksums, "REHASH_BYTES", 0)
    cats.write_bytes(cats.read_bytes().replace(b"ART", b"art", 1))  # repaired
    data.load("wikipedia")
    _forge(cats, cats.read_bytes().replace(b"art", b"ART", 1))
    with pytest.raises(ChecksumError, match="categories.list: sha256 mismatch"):
        data.load("wikipedia")


def test_a_news_image_changed_is_named_and_xmr_data_verify_says_how_to_fix_it(real_data, tmp_path, monkeypatch, capsys):
    import shutil

    from xmr.data import content

    src = (real_data / "web_news_cn").resolve()
    if not (src / "images").is_dir():
        pytest.skip("the news set's raw files are not in the data directory")
    root = tmp_path / "data"
    (root / "web_news_cn").mkdir(parents=True)
    for item in src.iterdir():  # a copy made of links, but for the one category we damage
        (root / "web_news_cn" / item.name).symlink_to(item)
    (root / "web_news_cn" / "images").unlink()
    (root / "web_news_cn" / "images").mkdir()
    for cat in (src / "images").iterdir():
        (root / "web_news_cn" / "images" / cat.name).symlink_to(cat)
    (root / "web_news_cn" / "images" / "culture").unlink()
    shutil.copytree(src / "images" / "culture", root / "web_news_cn" / "images" / "culture")
    victim = sorted((root / "web_news_cn" / "images" / "culture").glob("*.jpg"))[3]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    _forge(victim, bytes(data))
    rel = f"web_news_cn/images/culture/{victim.name}"
    assert [r for r, _ in content.check("web_news_cn", root)] == [rel]
    assert main(["data", "verify", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{rel}" in out and "MISMATCH" in out and "1 BAD" in out and "restore it byte for byte" in out
    news = next(line for line in out.splitlines() if line.startswith("web_news_cn/: "))
    assert news.split()[1:5] == [str(len(content.manifest("web_news_cn")) - 3), "more", "files", "1"]  # 3: the lists


def test_a_cache_that_cannot_be_written_is_named_before_training(real_data, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XMR_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("XMR_RESULTS_DIR", raising=False)
    assert main(["run", "cca", "wikipedia", "--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert f"the results cache {blocker}/cache/results cannot be written" in err and "set XMR_CACHE_DIR" in err
    assert "fitted" not in err  # refused before the fit


def test_a_stored_result_is_not_served_beside_data_that_differs_but_is_without_data(wikipedia_copy):
    import shutil

    from xmr import experiments
    from xmr.data import ChecksumError

    root = wikipedia_copy
    first = experiments.run("cca", "wikipedia", seeds=[0])
    cats = root / "wikipedia" / "categories.list"
    _forge(cats, cats.read_bytes().replace(b"art", b"ART", 1))
    with pytest.raises(ChecksumError, match="categories.list"):
        experiments.run("cca", "wikipedia", seeds=[0])  # cached, but the data beside it is not the published
    shutil.rmtree(root / "wikipedia")  # no data at all: the stored result is served, as on a reader's machine
    again = experiments.run("cca", "wikipedia", seeds=[0])
    assert bool(again.table["cached"].all()) and again.table["avg"].tolist() == first.table["avg"].tolist()
