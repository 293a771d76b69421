"""``xmr claims``: the ledger judged from the committed archive, without training, with every field of every part.

The full-archive tests read the committed archive (an empty cache) and skip only when it lacks runs of the book;
the expectations are the scheme's own definitions checked on the printed numbers (an interval above 0 for a held
part, Holm's adjustment recomputed from the printed p-values), never a stored copy of the output.
"""

from __future__ import annotations

import json

import pytest

from xmr.cli import main
from xmr.paths import repo_root
from xmr.study.verdicts import Status

PART_FIELDS = {"label", "delta", "ci_low", "ci_high", "p", "p_holm", "n_units", "unit", "delta_claimed", "seeds_needed"}


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """The committed archive as the only source of runs (a fresh cache); skips when it lacks runs of the ledger."""
    import os

    from xmr.orchestrate.plan import plan

    before = {k: os.environ.get(k) for k in ("XMR_ARCHIVE_DIR", "XMR_CACHE_DIR")}
    os.environ["XMR_ARCHIVE_DIR"] = str(repo_root() / "archive")
    os.environ["XMR_CACHE_DIR"] = str(tmp_path_factory.mktemp("claims-cache"))
    runs = plan("full", cost=False, only=["claims_ledger"])
    if not len(runs) or not runs["cached"].all():
        pytest.skip("the committed archive does not hold every run the ledger reads (xmr archive status)")
    yield
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _json(capsys, *args: str) -> list[dict]:
    assert main(["claims", "--json", "--no-robustness", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_json_has_every_field_and_no_verdict_rests_on_p_zero(archived, capsys):
    out = _json(capsys)
    ids = [c["id"] for c in out]
    assert len(ids) == len(set(ids)) and {"D1-wikipedia", "S1-news", "S10"} <= set(ids)
    statuses = {s.value for s in Status}
    for c in out:
        assert {"id", "status", "reason", "parts"} <= set(c) and c["status"] in statuses and c["reason"]
        for p in c["parts"]:
            assert PART_FIELDS <= set(p), (c["id"], set(PART_FIELDS) - set(p))
            assert p["p"] != 0, f"{c['id']} {p['label']}: p = 0"
            if p["n_units"] < 2:  # one unit (two deterministic methods): no test, never p = 0
                assert p["p"] is None and p["status"] == Status.NOT_ASSESSABLE.value
        parts = [p for p in c["parts"] if p["p"] is not None]
        if c["status"] == Status.HELD.value:  # held: every part's interval above 0
            assert parts and all(p["ci_low"] > 0 for p in c["parts"]), c["id"]
        if c["status"] == Status.REVERSED.value:  # some part significantly below 0 after Holm
            assert any(p["delta"] < 0 and p["p_holm"] < 0.05 for p in parts), c["id"]
        # Holm recomputed from the printed p-values: the i-th smallest times (m - i), running maximum, at most 1
        ps = sorted(p["p"] for p in parts)
        expected, running = [], 0.0
        for i, p in enumerate(ps):
            running = max(running, min(1.0, p * (len(ps) - i)))
            expected.append(running)
        assert sorted(p["p_holm"] for p in parts) == pytest.approx(expected), c["id"]
    # the pascal100 stand-in is cross-validated: its parts count folds on the published partition, and the
    # re-drawn partitions (splits) once the power plan's runs are complete (D2-pascal's are archived), never seeds
    pascal = [p for c in out if c["id"].endswith("-pascal") for p in c["parts"] if p["p"] is not None]
    assert pascal and {p["unit"] for p in pascal} <= {"fold", "split"}
    d2 = next(c for c in out if c["id"] == "D2-pascal")
    assert {(p["unit"], p["n_units"], p["splits"]) for p in d2["parts"]} == {("split", 5, 5)}


@pytest.mark.slow
def test_alpha_and_min_effect_rejudge(archived, capsys):
    base = {c["id"]: c for c in _json(capsys)}
    strict = {c["id"]: c for c in _json(capsys, "--alpha", "0.01")}
    # a claim held at 0.05 whose largest part p lies in (0.01, 0.05) cannot be held at 0.01: there must be one
    # such borderline claim in this edition, or the flag would have nothing to change
    borderline = [i for i, c in base.items() if c["status"] == Status.HELD.value
                  and 0.01 < max(p["p"] for p in c["parts"]) < 0.05]
    for i in borderline:
        assert strict[i]["status"] != Status.HELD.value, i
    for i, c in strict.items():  # a stricter level never creates a held claim
        if c["status"] == Status.HELD.value:
            assert base[i]["status"] == Status.HELD.value, i
    assert any(strict[i]["status"] != base[i]["status"] for i in base)
    wide = {c["id"]: c for c in _json(capsys, "--min-effect", "0.05")}
    for c in wide.values():
        for p in c["parts"]:
            assert p["delta_used"] == pytest.approx(max(0.05, p["delta_claimed"] or 0.0))


def test_bad_thresholds_are_clear_errors(capsys):
    assert main(["claims", "--alpha", "1.5"]) == 2
    assert "alpha must lie in (0, 1)" in capsys.readouterr().err
    assert main(["claims", "--min-effect", "nan"]) == 2
    assert "min_effect" in capsys.readouterr().err


def test_missing_runs_are_an_error_that_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "empty-archive"))
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert main(["claims", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "xmr: error:" in err and "xmr archive grow" in err
