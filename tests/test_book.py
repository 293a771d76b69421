"""The book machinery: chapter sources, the toc, papermill execution with failure isolation, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from xmr.build import book
from xmr.cli import main
from xmr.cli.book_cmd import parse_seeds

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
    body = "".join("".join(c["source"]) for c in code)
    for forbidden in ("import torch", "optimizer", ".backward(", "train_deep(", "run_method("):
        assert forbidden not in body, f"{path.name} contains training code ({forbidden})"


def test_scale_parameters():
    assert book.scale_parameters("smoke") == {"scale": "smoke"}
    assert book.scale_parameters("full", seeds=[0, 1], epochs=3, device="cpu") == {"scale": "full", "seeds": [0, 1], "epochs": 3, "device": "cpu"}
    with pytest.raises(ValueError, match="unknown scale"):
        book.scale_parameters("medium")


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2, 5") == [0, 2, 5]
    with pytest.raises(ValueError, match="seed"):
        parse_seeds("4-1")
    with pytest.raises(ValueError, match="seed"):
        parse_seeds("a")


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
    ok = book.execute_chapter("good", book.scale_parameters("smoke", seeds=[3]), root=tmp_path)
    bad = book.execute_chapter("bad", book.scale_parameters("smoke"), root=tmp_path)
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


def test_probe_costs_times_uncached_runs_and_extrapolates_epochs(real_data):
    import pandas as pd

    from xmr.build import book
    from xmr.methods import get
    from xmr.engine.single import resolve_hparams

    def row(method, epochs, cached=False, seed=0, **hp):
        spec = get(method)
        return {"method": method, "dataset": "wikipedia", "protocol": "dscmr", "options": {}, "without": "",
                "epochs": epochs, "hparams": resolve_hparams(spec, hp, epochs if spec.kind == "deep" else None),
                "seed": seed, "track_test": False, "cached": cached, "est_seconds": 0.0}

    runs = pd.DataFrame([row("dscmr", 6, hidden=32, dim=16), row("dscmr", 6, seed=1, hidden=32, dim=16),
                         row("dscmr", 40, cached=True, hidden=32, dim=16), row("cca", None)])
    book._probe_costs(runs, "cpu")
    est = runs["est_seconds"]
    assert est[0] > 0 and est[1] == est[0]  # one probe per cost configuration, shared by its seeds
    assert est[2] == 0.0  # cached: nothing to do
    assert est[3] > 0  # closed form: one timed fit


@pytest.mark.slow
def test_prefill_trains_missing_runs_in_parallel_as_a_serial_run_would(tmp_path, real_data, monkeypatch):
    """Two workers train what a chapter asks for; the stored runs equal a fresh in-process run with the same
    thread count, a cached run is not trained again and unavailable data is reported, not failed."""
    pytest.importorskip("papermill")
    import torch

    from xmr import experiments

    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "notebooks").mkdir()
    tiny = dict(epochs=2, hidden=32, dim=16)
    _tiny(tmp_path / "notebooks" / "dacsl_table2_wikipedia.ipynb", (
        "from xmr.study.report import Runner\n"
        "r = Runner(scale, seeds=seeds)\n"
        f"r.run('dscmr', 'wikipedia', protocol='dscmr', **{tiny!r})\n"
        "r.run('cca', 'wikipedia', protocol='dscmr')\n"
        "r.run('dscmr', 'pascal', epochs=2)\n"))
    experiments.run("cca", "wikipedia", protocol="dscmr", seeds=[1])  # already cached: must not be retrained
    runs = book.prefill("smoke", jobs=2, seeds=[0, 1], root=tmp_path)
    status = {(m, s): st for m, s, st in zip(runs["method"] + "/" + runs["dataset"], runs["seed"], runs["status"])}
    assert status[("dscmr/wikipedia", 0)] == status[("dscmr/wikipedia", 1)] == "trained"
    assert status[("cca/wikipedia", 0)] == "trained" and status[("cca/wikipedia", 1)] == "cached"
    assert status[("dscmr/pascal", 0)].startswith("data not available")
    stored = experiments.run("dscmr", "wikipedia", protocol="dscmr", seeds=[0, 1], **tiny)
    assert all(r["cached"] for r in stored.runs)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the workers' thread count
    try:
        fresh = experiments.run("dscmr", "wikipedia", protocol="dscmr", seeds=[0, 1], cache=False, **tiny)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(stored.runs, fresh.runs):
        assert (a["i2t"], a["t2i"], a["best_epoch"]) == (b["i2t"], b["t2i"], b["best_epoch"])
