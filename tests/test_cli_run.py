"""``xmr run``: the --json contract (last stdout line, one object), seeds, errors, progress on stderr."""

from __future__ import annotations

import json

import pytest

from xmr.cli import main
from xmr.cli.run_cmd import parse_seeds


@pytest.fixture
def rdir(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path))
    return tmp_path


def last_json(capsys):
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    return json.loads(lines[-1]), out.err


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0,2,5-6") == [0, 2, 5, 6]
    for bad in ("4-0", "a", ""):
        with pytest.raises(Exception, match="seeds"):
            parse_seeds(bad)


@pytest.mark.data
def test_json_one_seed_deep(real_data, rdir, capsys):
    assert main(["run", "dscmr", "wikipedia", "--epochs", "1", "--set", "hidden=32", "--set", "dim=16",
                 "--set", "betas=[0.5,0.9]", "--json"]) == 0
    obj, err = last_json(capsys)
    for key in ("method", "dataset", "protocol", "seed", "i2t", "t2i", "avg", "at", "best_epoch", "epochs", "seconds", "last_epoch"):
        assert key in obj
    assert (obj["method"], obj["dataset"], obj["protocol"], obj["seed"]) == ("dscmr", "wikipedia", "dscmr", 0)
    assert set(obj["at"]) == {"5", "25", "50"} and set(obj["at"]["5"]) == {"i2t", "t2i", "avg"}
    assert set(obj["last_epoch"]) == {"i2t", "t2i", "avg"}
    assert obj["avg"] == pytest.approx((obj["i2t"] + obj["t2i"]) / 2)
    assert obj["best_epoch"] == 1 and obj["epochs"] == 1 and obj["hparams"]["betas"] == [0.5, 0.9]
    assert "epoch 1/1" in err  # progress goes to stderr
    # repeated: served from the cache
    assert main(["run", "dscmr", "wikipedia", "--epochs", "1", "--set", "hidden=32", "--set", "dim=16",
                 "--set", "betas=[0.5,0.9]", "--json", "--quiet"]) == 0
    again, _ = last_json(capsys)
    assert again["cached"] is True and again["avg"] == obj["avg"]


@pytest.mark.data
def test_json_several_seeds_has_mean_and_std(real_data, rdir, capsys):
    assert main(["run", "cca", "wikipedia", "--seeds", "0-2", "--json"]) == 0
    obj, _ = last_json(capsys)
    assert obj["seeds"] == [0, 1, 2] and len(obj["runs"]) == 3
    assert obj["mean"]["avg"] == pytest.approx(sum(r["avg"] for r in obj["runs"]) / 3)
    assert obj["std"]["avg"] == pytest.approx(0.0, abs=1e-12)  # CCA is deterministic
    assert obj["best_epoch"] == [None, None, None] and obj["runs"][0]["last_epoch"] is None
    assert 0.2 < obj["avg"] < 0.26  # CCA on Wikipedia's SIFT/LDA features (published 0.209)


@pytest.mark.data
def test_user_errors_exit_2_with_a_message(real_data, rdir, capsys):
    assert main(["run", "dscmr", "wikipedia", "--set", "alfa=1"]) == 2
    assert "no hyperparameter 'alfa'" in capsys.readouterr().err
    assert main(["run", "dacsl", "wikipedia", "--without", "foo"]) == 2
    assert "ablatable terms" in capsys.readouterr().err
