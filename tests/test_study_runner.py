"""Scales, requests, the runner and the chapters' declarations."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xmr.study import chapters
from xmr.study.runner import Request, Runner, UndeclaredRunError, calls
from xmr.study.scale import SCALES, parse_seeds, scale
from xmr.study.standins import DACSL_STANDINS, SMCR_STANDINS
from xmr.paths import repo_root


def test_scale_defaults_and_overrides():
    smoke = scale("smoke")
    assert smoke.seeds == (0,) and smoke.epochs == 4 and smoke.folds == (0,)
    full = scale("full", epochs=7, seeds=[1, 2])
    assert full.seeds == (1, 2) and full.epochs == 7 and full.grid == (0.1, 1.0, 10.0, 100.0)
    assert full.parameters() == {"scale": "full", "seeds": [1, 2], "epochs": 7}
    assert SCALES["full"].parameters() == {"scale": "full"}
    with pytest.raises(ValueError, match="unknown scale"):
        scale("huge")
    with pytest.raises(ValueError, match="seeds is empty"):
        scale("full", seeds=[])


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,5-6") == [0, 2, 5, 6]
    for bad in ("4-0", "a", "1,,2"):
        with pytest.raises(ValueError, match="seed"):
            parse_seeds(bad)


def test_calls_expand_folds_and_pass_the_scale():
    pascal = DACSL_STANDINS["pascal"]
    req = Request.make("dscmr", pascal, "DSCMR", without=("sim",), alpha=0.5)
    out = calls(req, scale("full", epochs=3))
    assert [c["dataset_options"] for c in out] == [{"fold": k} for k in range(5)]
    assert all(c["seeds"] == [0, 1, 2, 3, 4] and c["epochs"] == 3 and c["alpha"] == 0.5 and c["without"] == ["sim"]
               for c in out)
    # closed-form methods get no epochs; a stand-in without folds is one call with its own options
    (cca,) = calls(Request.make("cca", SMCR_STANDINS["news"]), scale("smoke"))
    assert "epochs" not in cca and cca["dataset_options"] == {"text_features": "bow"} and cca["fold"] is None


def test_runner_refuses_undeclared_requests():
    wiki = DACSL_STANDINS["wikipedia"]
    runner = Runner(scale("smoke"), [Request.make("cca", wiki, "CCA")])
    with pytest.raises(UndeclaredRunError, match="not declared"):
        runner.run(Request.make("gma", wiki, "GMA"))
    with pytest.raises(UndeclaredRunError):  # same method, different options: a different request
        runner.run(Request.make("cca", wiki, "CCA", n_components=3))


def test_runner_lists_unavailable_data_and_raises_real_errors(monkeypatch):
    import xmr.data
    import xmr.experiments

    def unavailable(*args, **kwargs):
        raise xmr.data.DataUnavailableError("train_img.mat is not public")

    def broken(*args, **kwargs):
        raise RuntimeError("a real bug")

    req = Request.make("cca", DACSL_STANDINS["wikipedia"], "CCA")
    runner = Runner(scale("smoke"), [req])
    monkeypatch.setattr(xmr.experiments, "run", unavailable)
    r = runner.run(req)
    assert not r.ok and "train_img.mat" in r.missing
    assert runner.not_run_frame().method.tolist() == ["cca"]
    monkeypatch.setattr(xmr.experiments, "run", broken)
    with pytest.raises(RuntimeError, match="a real bug"):  # other errors are never swallowed
        runner.run(req)


def test_every_chapter_declares_at_both_scales_and_matches_the_notebooks_and_toc():
    root = repo_root()
    notebooks = {p.stem for p in (root / "notebooks").glob("*.ipynb")}
    assert set(chapters.names()) == notebooks
    toc = (root / "book" / "_toc.yml").read_text()
    positions = [toc.index(f"chapters/{name}") for name in chapters.names()]
    assert positions == sorted(positions), "book/_toc.yml lists the chapters in xmr.study.chapters.CHAPTERS order"
    for sc in (scale("smoke"), scale("full")):
        for name in chapters.names():
            groups = chapters.declared(name, sc)
            for group, reqs in groups.items():
                assert reqs and len({r.standin for r in reqs}) == 1, (name, group)
                assert len(set(reqs)) == len(reqs), (name, group)


def test_declarations_follow_the_scale_and_the_ledger_covers_its_sources():
    grid = chapters.declared("smcr_fig2_sensitivity", scale("full"))["grid"]
    assert len(grid) == 16 and {dict(r.hparams)["alpha"] for r in grid} == {0.1, 1.0, 10.0, 100.0}
    assert len(chapters.declared("smcr_fig2_sensitivity", scale("smoke"))["grid"]) == 4
    ledger = chapters.declared("claims_ledger", scale("smoke"))
    for name in chapters.LEDGER_SOURCES:
        for group, reqs in chapters.declared(name, scale("smoke")).items():
            assert ledger[f"{name}/{group}"] == reqs
    table2 = chapters.declared("dacsl_table2_wikipedia", scale("smoke"))
    assert [r.label for r in table2["wikipedia"]] == [label for _, label in chapters.DACSL_METHODS]
    assert {r.method for r in table2["official"]} == {"cca", "gma", "lcfs"}
    assert all(r.track_test for reqs in chapters.declared("model_selection", scale("smoke")).values() for r in reqs)


def test_open_chapter_serves_declared_runs(monkeypatch):
    """open_chapter runs each declared request once per fold, through xmr.experiments.run (mocked here)."""
    import xmr.experiments

    seen = []

    class Fake:
        def __init__(self, method, seeds):
            self.table = pd.DataFrame({"method": method, "seed": seeds, "avg": 0.5})
            self.history = pd.DataFrame({"seed": seeds, "epoch": 1})
            self.pr = pd.DataFrame(columns=["seed", "task", "recall", "precision"])

    def fake_run(method, dataset, **kw):
        seen.append((method, dataset, json.dumps(kw.get("dataset_options"), sort_keys=True), kw.get("epochs")))
        return Fake(method, kw["seeds"])

    monkeypatch.setattr(xmr.experiments, "run", fake_run)
    ch = chapters.open_chapter("dacsl_tables3_4_ablations", "smoke")
    assert list(ch.groups) == ["pascal", "wikipedia", "news"]
    assert [r.label for r in ch["wikipedia"]] == ["w/o L_pre", "w/o L_dis", "w/o L_tri", "Full"]
    assert all(r.ok and r.table.fold.tolist() == [-1] for r in ch["wikipedia"])
    assert ch["pascal"][0].table.fold.tolist() == [0]  # smoke scale: fold 0 only
    assert len(seen) == 12 and all(e == 4 for *_, e in seen)
    assert ch.standin("news").options == {"text_features": "doc2vec"}
    with pytest.raises(KeyError, match="declares no group"):
        ch["nope"]
