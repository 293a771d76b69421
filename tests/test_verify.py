"""``xmr verify``: an archived record is re-trained from its identity and compared; altered numbers are caught."""

from __future__ import annotations

import gzip
import json

import pytest

from xmr import archive, experiments, results
from xmr.cli import main
from xmr.paths import archive_dir, results_dir


def _archive_one(monkeypatch, tmp_path, real_data):
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    experiments.run("cca", "wikipedia", protocol="dscmr", seeds=[0])
    [path] = results_dir().glob("cca/*.json")
    archive.add([json.loads(path.read_text())])
    path.unlink()  # verify must re-train, not read the cache
    return archive_dir() / f"cca{archive.SUFFIX}"


def test_a_faithful_record_verifies(monkeypatch, tmp_path, real_data, capsys):
    _archive_one(monkeypatch, tmp_path, real_data)
    assert main(["verify", "--sample", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "draw seed 3" in out and "identical" in out and "1 of 1 verified" in out


def test_altered_numbers_are_caught(monkeypatch, tmp_path, real_data, capsys):
    path = _archive_one(monkeypatch, tmp_path, real_data)
    [line] = gzip.open(path, "rt").read().splitlines()
    rec = json.loads(line)
    for task in ("i2t", "t2i", "avg"):  # small and consistent, resealed (a deliberate edit): not what the code computes
        rec["run"][task] += 0.001
    rec = results.seal({k: v for k, v in rec.items() if k != "digest"})
    path.write_bytes(gzip.compress((json.dumps(rec) + "\n").encode()))
    assert main(["verify", "--sample", "1", "--seed", "0"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


@pytest.mark.parametrize("method, protocol, small", [("dscmr", "dscmr", {"hidden": 32, "dim": 16}),
                                                     ("smcr", "smcr", {})])
def test_a_deep_record_verifies(method, protocol, small, monkeypatch, tmp_path, real_data, capsys):
    """A deep run's hyperparameters hold ``epochs`` too: the re-training takes it from the identity alone.
    SMCR's hold both d_lr and d_lr_scale (lambda), which a run refuses together: every SMCR record failed."""
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "archive"))
    experiments.run(method, "wikipedia", protocol=protocol, seeds=[0], epochs=2, **small)
    [path] = results_dir().glob(f"{method}/*.json")
    archive.add([json.loads(path.read_text())])
    path.unlink()
    assert main(["verify", "--sample", "1", "--seed", "0", "--kind", "deep"]) == 0
    assert "1 of 1 verified" in capsys.readouterr().out


def test_bad_arguments_are_clear_errors(capsys):
    assert main(["verify", "--sample", "0"]) == 2
    assert "--sample must be at least 1" in capsys.readouterr().err
    assert main(["verify", "--method", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_a_record_from_another_device_is_compared_within_the_tolerance(monkeypatch, tmp_path, real_data, capsys):
    """A record that says it was trained on CUDA is drawn by ``--recorded-on cuda`` (and only by it) and, re-trained
    here on CPU, is held to the tolerance rather than to identity: a difference of 0.005 passes, 0.02 does not."""
    path = _archive_one(monkeypatch, tmp_path, real_data)
    [line] = gzip.open(path, "rt").read().splitlines()
    rec = json.loads(line)
    rec["provenance"] = {**rec["provenance"], "device": "cuda:0", "device_name": "Some GPU"}
    for shift, code in ((0.005, 0), (0.02, 1)):
        moved = results.seal({**{k: v for k, v in rec.items() if k != "digest"},
                              "run": {**rec["run"], **{t: rec["run"][t] + shift for t in ("i2t", "t2i", "avg")}}})
        path.write_bytes(gzip.compress((json.dumps(moved) + "\n").encode()))
        assert main(["verify", "--sample", "1", "--seed", "0", "--recorded-on", "cpu"]) == 0
        assert "0 of 0 current archived record(s)" in capsys.readouterr().out
        assert main(["verify", "--sample", "1", "--seed", "0", "--recorded-on", "cuda"]) == code
        out = capsys.readouterr().out
        assert "recorded on cuda:0" in out and ("<= 0.01" if code == 0 else "> 0.01") in out


def test_the_tolerance_is_one_ranks_worth_on_a_small_test_set():
    from xmr.cli.verify_cmd import TOLERANCE, tolerance

    assert tolerance(462) == TOLERANCE  # Wikipedia's dscmr test split: 1/462 < 0.01
    assert tolerance(20) == pytest.approx(0.05)  # a Pascal fold: one swapped rank is up to 1/20
    assert tolerance(100) == pytest.approx(TOLERANCE)
