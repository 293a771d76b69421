"""The book machinery: chapter sources, the toc, papermill execution with failure isolation, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from xmr.orchestrate import plan, prefill
from xmr.publish import book, notebooks
from xmr.cli import main
from xmr.study.scale import scale

ROOT = Path(__file__).resolve().parents[1]


def _notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_a_listed_chapter_and_in_the_toc():
    names = book.chapters(ROOT)
    assert names == [p.stem for p in _notebooks()] or sorted(names) == sorted(p.stem for p in _notebooks())
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for name in names:
        assert f"file: chapters/{name}\n" in toc, f"{name} missing from book/_toc.yml"
    for page in ("intro", "data", "fidelity", "references"):
        assert (ROOT / "book" / f"{page}.md").exists()


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_sources_are_clean_and_parametrised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for c in code:
        assert c.get("outputs") == [] and c.get("execution_count") is None, f"{path.name} is stored with outputs"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    src = "".join(params[0]["source"])
    for name in ("scale", "seeds", "epochs", "device"):
        assert f"{name} =" in src
    assert 'scale = "full"' in src
    # pages show results, not code: every code cell's input is removed from the page (the notebook keeps it)
    shown = [c["id"] for c in code if "remove-input" not in c.get("metadata", {}).get("tags", [])]
    assert not shown, f"{path.name}: code cells shown on the page: {shown}"
    assert "tables.page_end(ch)" in "".join(code[-1]["source"]), "the page ends with tables.page_end(ch)"
    body = "".join("".join(c["source"]) for c in code)
    for forbidden in ("import torch", "optimizer", ".backward(", "train_deep(", "run_method("):
        assert forbidden not in body, f"{path.name} contains training code ({forbidden})"


def _tiny(path: Path, body: str) -> None:
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": 'scale = "full"\nseeds = None\nepochs = None\ndevice = None', "outputs": [], "execution_count": None, "id": "p"},
        {"cell_type": "code", "metadata": {}, "source": body, "outputs": [], "execution_count": None, "id": "b"},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.mark.slow
def test_execute_chapter_passes_parameters_and_isolates_failures(tmp_path):
    pytest.importorskip("papermill")
    (tmp_path / "notebooks").mkdir()
    _tiny(tmp_path / "notebooks" / "good.ipynb", 'assert scale == "smoke" and seeds == [3]\nprint("scale", scale)')
    _tiny(tmp_path / "notebooks" / "bad.ipynb", 'raise RuntimeError("boom in chapter")')
    ok = notebooks.execute_chapter("good", scale("smoke", seeds=[3]).parameters(), root=tmp_path)
    bad = notebooks.execute_chapter("bad", scale("smoke").parameters(), root=tmp_path)
    assert ok.ok and not bad.ok
    assert "boom in chapter" in bad.error or "RuntimeError" in bad.error
    out = json.loads((tmp_path / "book" / "chapters" / "good.ipynb").read_text())
    assert any("scale smoke" in "".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", []))
    assert (tmp_path / "book" / "chapters" / "bad.ipynb").exists()  # written anyway, with the traceback


def test_cli_lists_chapters(capsys):
    assert main(["book", "--list"]) == 0
    assert capsys.readouterr().out.split() == book.chapters(ROOT)


def test_unknown_chapter_is_a_clear_error(capsys):
    assert main(["book", "--only", "no_such_chapter", "--no-build"]) == 2
    assert "unknown chapter" in capsys.readouterr().err


def test_injected_parameters_are_removed_from_the_page(tmp_path):
    pytest.importorskip("papermill")
    (tmp_path / "notebooks").mkdir()
    _tiny(tmp_path / "notebooks" / "good.ipynb", "print(scale)")
    assert notebooks.execute_chapter("good", {"scale": "smoke"}, root=tmp_path).ok
    out = json.loads((tmp_path / "book" / "chapters" / "good.ipynb").read_text())
    injected = [c for c in out["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-input" in injected[0]["metadata"]["tags"]


def test_plan_reads_declarations_and_executes_no_notebook(monkeypatch):
    """The plan of the smoke book comes from the declarations alone: papermill is never called."""
    import time

    import papermill

    from xmr.study import chapters

    def forbidden(*args, **kwargs):
        raise AssertionError("the plan executed a notebook")

    monkeypatch.setattr(papermill, "execute_notebook", forbidden)
    started = time.perf_counter()
    runs = plan.plan("smoke", cost=False)
    assert time.perf_counter() - started < 60
    sc = scale("smoke")
    from xmr import experiments
    from xmr.study.runner import calls

    wanted = set()  # the cache keys of every declared request, computed here call by call
    for name in chapters.names():
        for reqs in chapters.declared(name, sc).values():
            for req in reqs:
                if req.campaign:  # the power plan's campaign: planned only when asked (plan(campaign=True))
                    continue
                for call in calls(req, sc):
                    kw = {k: v for k, v in call.items() if k not in ("method", "dataset", "fold")}
                    wanted |= set(experiments.planned_runs(call["method"], call["dataset"], **kw)["key"])
    assert set(runs["key"]) == wanted
    assert runs["key"].is_unique
    # the deep comparison runs are planned with the model-selection chapter's per-epoch test record
    dscmr_wiki = runs[(runs.method == "dscmr") & (runs.protocol == "dscmr") & (runs.without == "") & (runs.label == "DSCMR")]
    assert len(dscmr_wiki) == 1 and bool(dscmr_wiki.track_test.iloc[0]) and dscmr_wiki.chapter.iloc[0] == "model_selection"


@pytest.mark.slow
def test_prefill_trains_missing_runs_in_parallel_as_a_serial_run_would(tmp_path, real_data, monkeypatch):
    """Two workers train what the requests need; the stored runs equal a fresh in-process run with the same
    thread count, a cached run is not trained again and unavailable data is reported, not failed."""
    import torch

    from xmr import experiments
    from xmr.study.runner import Request
    from xmr.study.standins import StandIn

    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    tiny = dict(hidden=32, dim=16)
    wiki = StandIn("w", "wikipedia", "dscmr", "Wikipedia", "wikipedia")
    pascal = StandIn("p", "pascal", None, "Pascal (needs train_img.mat)", "pascal_sentence")
    reqs = [("c", "g", Request.make("dscmr", wiki, **tiny)), ("c", "g", Request.make("cca", wiki)),
            ("c", "h", Request.make("dscmr", pascal))]
    sc = scale("smoke", seeds=[0, 1], epochs=2)
    experiments.run("cca", "wikipedia", protocol="dscmr", seeds=[1])  # already cached: must not be retrained
    runs = prefill.train_missing(plan.distinct_runs(reqs, sc), jobs=2)
    status = {(m, s): st for m, s, st in zip(runs["method"] + "/" + runs["dataset"], runs["seed"], runs["status"])}
    assert status[("dscmr/wikipedia", 0)] == status[("dscmr/wikipedia", 1)] == "trained"
    assert status[("cca/wikipedia", 0)] == "trained" and status[("cca/wikipedia", 1)] == "cached"
    assert status[("dscmr/pascal", 0)].startswith("data not available")
    stored = experiments.run("dscmr", "wikipedia", protocol="dscmr", seeds=[0, 1], epochs=2, **tiny)
    assert all(r["cached"] for r in stored.runs)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the workers' thread count
    try:
        fresh = experiments.run("dscmr", "wikipedia", protocol="dscmr", seeds=[0, 1], epochs=2, cache=False, **tiny)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(stored.runs, fresh.runs):
        assert (a["i2t"], a["t2i"], a["best_epoch"]) == (b["i2t"], b["t2i"], b["best_epoch"])


def test_prefill_groups_a_runs_seeds_only_when_asked():
    import pandas as pd

    from xmr.orchestrate.prefill import _seed_groups

    def call(seed, lr=0.1):
        return {"method": "dscmr", "dataset": "wikipedia", "kwargs": {"seeds": [seed], "lr": lr}}

    calls = pd.Series({10: call(0), 11: call(0, lr=0.2), 12: call(1), 13: call(2)})
    alone = _seed_groups(calls, False)
    assert [idxs for _, idxs in alone] == [[10], [11], [12], [13]]
    together = _seed_groups(calls, True)
    assert [idxs for _, idxs in together] == [[10, 12, 13], [11]]
    assert together[0][0]["kwargs"] == {"seeds": [0, 1, 2], "lr": 0.1}
    assert together[1][0]["kwargs"] == {"seeds": [0], "lr": 0.2}


def test_a_missing_value_of_a_nullable_column_shows_as_a_dash(monkeypatch):
    import pandas as pd

    from xmr.study import tables

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    frame = pd.DataFrame({0: pd.array([4, None], dtype="Int64"), "planned": [4, 2]}, index=["a", "b"])
    tables.show(frame)
    assert "&lt;NA&gt;" not in shown[0] and "<td>—</td>" in shown[0] and "<td>4</td>" in shown[0]
    assert frame[0].isna().sum() == 1  # the caller's frame is left as it was
