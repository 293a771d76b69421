"""``xmr run``: the --json contract (last stdout line, one object), seeds, errors, progress on stderr,
and the typed ``--set`` / ``--data-set`` parsing (bad values stop the run before anything is trained)."""

from __future__ import annotations

import json

import pytest

from xmr import methods
from xmr.cli import main
from xmr.cli.run_cmd import parse_hparams
from xmr.study.scale import parse_seeds


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
    for bad in ("4-0", "a", "", "1-b"):
        with pytest.raises(ValueError, match="bad seed"):
            parse_seeds(bad)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh cache (and results) directory: a run that trained anything would leave files here."""
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "cache" / "results"))
    return tmp_path / "cache"


def _nothing_stored(cache) -> bool:
    return not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


@pytest.mark.parametrize("text, message", [("4-0", "bad seed range '4-0'"), ("a", "bad seed 'a'"), ("", "bad seed ''")])
def test_bad_seeds_are_argparse_errors_with_the_message(text, message, empty_cache, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "cca", "wikipedia", "--seeds", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seeds" in err and message in err and "Traceback" not in err
    assert _nothing_stored(empty_cache)


def test_set_values_are_parsed_as_the_defaults_type():
    hp = parse_hparams("dscmr", ["alpha=1", "betas=[0.5,0.9]", "hidden=32", "patience=None", "shuffle=0"])
    assert hp == {"alpha": 1.0, "betas": [0.5, 0.9], "hidden": 32, "patience": None, "shuffle": False}
    assert isinstance(hp["alpha"], float)  # the same cache key as the Python API's alpha=1.0
    hp = parse_hparams("smcr", ["hidden=64,32", "disc_hidden=[4, 2]", "d_lr_scale=null", "input_norm=none"])
    assert hp == {"hidden": [64, 32], "disc_hidden": [4, 2], "d_lr_scale": None, "input_norm": "none"}
    assert parse_hparams("dacsl", ["margin=0.5"]) == {"margin": 0.5}
    assert parse_hparams("dacsl", ["margin=None"]) == {"margin": None}
    assert parse_hparams("gma", ["n_components=None", "cross=pairs"]) == {"n_components": None, "cross": "pairs"}
    assert parse_hparams("jfssl", ["center=false"]) == {"center": False}


def _run_error(argv, cache, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _nothing_stored(cache)
    return err


def test_bad_set_type_names_the_key_the_type_and_the_default(empty_cache, capsys):
    default = methods.get("dacsl").defaults["alpha"]
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "alpha=abc"], empty_cache, capsys)
    assert f"--set alpha=abc: alpha expects a float (default {default})" in err
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "dim=1.5"], empty_cache, capsys)
    assert "dim expects an int" in err
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "classifier_bias=maybe"], empty_cache, capsys)
    assert "classifier_bias expects true or false" in err
    err = _run_error(["run", "smcr", "wikipedia", "--set", "hidden=512"], empty_cache, capsys)
    assert "hidden expects a list of ints" in err
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "patience=soon"], empty_cache, capsys)
    assert "patience expects an int or None" in err
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "alpha"], empty_cache, capsys)
    assert "expected KEY=VALUE" in err


def test_unknown_set_key_suggests_the_closest_and_lists_the_valid_ones(empty_cache, capsys):
    spec = methods.get("dacsl")
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "alfa=0.3"], empty_cache, capsys)
    assert "dacsl has no hyperparameter 'alfa'" in err and "did you mean 'alpha'?" in err
    assert "valid keys: " + ", ".join(sorted(spec.defaults)) in err


def test_a_string_reading_takes_only_its_declared_values(empty_cache, capsys):
    reading = {r.option: r for r in methods.get("dacsl").cls.readings}["triplet_sampling"]
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "triplet_sampling=hardest"], empty_cache, capsys)
    assert "--set triplet_sampling=hardest: triplet_sampling expects one of " + ", ".join(reading.values) in err
    assert f"(default {reading.default})" in err
    err = _run_error(["run", "dacsl", "wikipedia", "--set", "optimizer=rmsprop"], empty_cache, capsys)
    assert "optimizer expects one of adam, sgd" in err  # the engine's optimisers


def test_bad_data_set_is_checked_against_the_loader(empty_cache, capsys):
    err = _run_error(["run", "cca", "pascal100", "--data-set", "fold=two"], empty_cache, capsys)
    assert "--data-set fold=two: fold expects an int (default 0)" in err
    err = _run_error(["run", "cca", "wikipedia", "--data-set", "fold=1"], empty_cache, capsys)
    assert "wikipedia has no loader option 'fold'" in err and "valid keys: dedupe, seed" in err
    err = _run_error(["run", "cca", "wikipedia", "--data-set", "dedupe=maybe"], empty_cache, capsys)
    assert "dedupe expects true or false" in err


def test_unknown_method_in_run_lists_the_methods(empty_cache, capsys):
    err = _run_error(["run", "dacls", "wikipedia"], empty_cache, capsys)
    assert "did you mean 'dacsl'" in err and all(n in err for n in methods.names())


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


def test_seeds_train_on_workers_then_the_run_reads_them(real_data, empty_cache, capsys):
    """``--jobs 2``: the seeds train as separate runs in two worker processes, the report reads them from the cache."""
    assert main(["run", "dcca", "wikipedia", "--seeds", "0-1", "--epochs", "1", "--jobs", "2", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["cached"] for r in out["runs"]] == [True, True]
