"""The engine's layout by role: no module reaches into another's private names, and model
selection is one step (xmr.engine.select.Selection) that both trainers go through."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import xmr.engine
from xmr.engine import resolve_hparams, train, train_deep, train_deep_batched
from xmr.engine.select import Selection
from xmr.methods import get

from test_engine import toy_dataset

ENGINE_DIR = Path(xmr.engine.__file__).parent
ENGINE_MODULES = {f"xmr.engine.{p.stem}" for p in ENGINE_DIR.glob("*.py") if p.stem != "__init__"} | {"xmr.engine"}
SMALL = {"epochs": 4, "hidden": 24, "dim": 12, "batch_size": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _private_uses(path: Path) -> list[str]:
    """``module:line name`` for every underscore name taken from another engine module."""
    here = "xmr.engine" if path.stem == "__init__" else f"xmr.engine.{path.stem}"
    package = "xmr.engine"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()  # local names bound to an engine module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in ENGINE_MODULES:
                    aliases.add(alias.asname or alias.name)
                elif source in ENGINE_MODULES and source != here and alias.name.startswith("_"):
                    found.append(f"{path.name}:{node.lineno} {source}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ENGINE_MODULES and alias.asname:
                    aliases.add(alias.asname)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_engine_modules_by_role():
    assert {p.stem for p in ENGINE_DIR.glob("*.py")} >= {"__init__", "setup", "select", "single", "batched", "closed_form"}


def test_no_engine_module_imports_another_ones_private_names():
    offenders = [hit for path in sorted(ENGINE_DIR.glob("*.py")) for hit in _private_uses(path)]
    assert offenders == []


def test_the_private_name_check_sees_an_offender(tmp_path):
    bad = tmp_path / "single.py"
    bad.write_text("from .setup import _normaliser, to_device\nfrom . import select as s\nx = s._hidden\n")
    assert _private_uses(bad) == ["single.py:1 xmr.engine.setup._normaliser", "single.py:3 s._hidden"]


def test_the_one_entry_point_and_no_other_run_function():
    assert callable(xmr.engine.train)
    for gone in ("run_method", "run_seeds"):
        assert not hasattr(xmr.engine, gone)
    assert set(xmr.engine.__all__) >= {"train", "train_deep", "train_deep_batched", "fit_closed_form", "resolve_hparams"}


# ---------------------------------------------------------------- the selection step, by hand
def _scripted(selection: Selection, scores: list[float]) -> list[int]:
    """Feed ``scores`` (i2t = t2i = score) epoch by epoch until the selection stops; the epochs observed."""
    seen = []
    for epoch, score in enumerate(scores, start=1):
        selection.observe(epoch, {"loss": 1.0 / epoch}, score, score, snapshot=lambda e=epoch: {"w": torch.tensor(e)})
        seen.append(epoch)
        if selection.stopped:
            break
    return seen


def test_selection_by_hand():
    # Best at epoch 2 (0.3); epoch 3 (0.2) is one epoch without a new best: patience 1 stops there.
    sel = Selection(patience=1)
    assert _scripted(sel, [0.1, 0.3, 0.2, 0.25]) == [1, 2, 3]
    assert sel.best["epoch"] == 2 and sel.best["avg"] == 0.3 and sel.best["i2t"] == sel.best["t2i"] == 0.3
    assert int(sel.best["state"]["w"]) == 2 and sel.epochs_run == 3 and sel.stopped
    assert [r["val_avg"] for r in sel.history] == [0.1, 0.3, 0.2]
    assert sel.history[0] == {"epoch": 1, "loss": 1.0, "val_i2t": 0.1, "val_t2i": 0.1, "val_avg": 0.1}
    assert sel.report(sel.history[-1], 4) == {**sel.history[-1], "best_epoch": 2, "epochs": 4}

    sel = Selection(patience=None)  # no early stop: all four epochs, still epoch 2
    assert _scripted(sel, [0.1, 0.3, 0.2, 0.25]) == [1, 2, 3, 4] and sel.best["epoch"] == 2 and not sel.stopped
    sel = Selection(patience=2)
    assert _scripted(sel, [0.1, 0.3, 0.2, 0.25]) == [1, 2, 3, 4] and sel.best["epoch"] == 2 and sel.stopped
    sel = Selection(patience=None)  # ties keep the earliest epoch
    _scripted(sel, [0.2, 0.2, 0.1])
    assert sel.best["epoch"] == 1
    sel = Selection(patience=0)  # patience 0: stop after the first epoch
    assert not sel.stopped and _scripted(sel, [0.1, 0.3]) == [1]


# ---------------------------------------------------------------- both trainers go through it
def _scripted_observe(monkeypatch, scores: list[float]) -> list[int]:
    """Make every trainer's validation score of epoch e be ``scores[e - 1]``, through Selection.observe."""
    calls: list[int] = []
    real = Selection.observe

    def observe(self, epoch, losses, i2t, t2i, snapshot):
        calls.append(epoch)
        return real(self, epoch, losses, scores[epoch - 1], scores[epoch - 1], snapshot)

    monkeypatch.setattr(Selection, "observe", observe)
    return calls


def test_both_trainers_select_and_stop_through_the_selection_step(monkeypatch):
    spec, ds = get("dscmr"), toy_dataset()
    hp = resolve_hparams(spec, {**SMALL, "patience": 1})
    calls = _scripted_observe(monkeypatch, [0.1, 0.3, 0.2, 0.25])
    single = [train_deep(spec, ds, hp, seed=seed, device="cpu") for seed in (0, 1)]
    assert calls == [1, 2, 3, 1, 2, 3]
    calls.clear()
    batched = train_deep_batched(spec, ds, hp, seeds=[0, 1], device="cpu")
    assert calls == [1, 1, 2, 2, 3, 3]  # both seeds stop after epoch 3: the batched loop ends there too
    for (a, model_a), (b, model_b) in zip(single, batched):
        assert a["best_epoch"] == b["best_epoch"] == 2 and a["epochs"] == b["epochs"] == 3
        assert [r["val_avg"] for r in a["history"]] == [r["val_avg"] for r in b["history"]] == [0.1, 0.3, 0.2]
        assert a["val_best"] == b["val_best"] == {"i2t": 0.3, "t2i": 0.3, "avg": 0.3}
        for x, y in zip(model_a.state_dict().values(), model_b.state_dict().values()):  # epoch 2's state
            torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
        assert a["avg"] == pytest.approx(b["avg"], abs=1e-5)  # the same test evaluation of the same state


def test_single_and_batched_seeds_select_alike():
    """Unscripted: through xmr.engine.train, the two trainers select the same epochs for each seed."""
    spec, ds = get("dscmr"), toy_dataset()
    hp = resolve_hparams(spec, {**SMALL, "epochs": 5, "patience": 2})
    single = train(spec, ds, hp, seeds=[0, 1], device="cpu", batched=False)
    batched = train(spec, ds, hp, seeds=[0, 1], device="cpu", batched=True)
    assert all("batched_seeds" in r for r, _ in batched) and not any("batched_seeds" in r for r, _ in single)
    for (a, _), (b, _) in zip(single, batched):
        assert (a["best_epoch"], a["epochs"]) == (b["best_epoch"], b["epochs"])
        assert [list(r) for r in a["history"]] == [list(r) for r in b["history"]]
        np.testing.assert_allclose([list(r.values()) for r in a["history"]],
                                   [list(r.values()) for r in b["history"]], rtol=0, atol=1e-5)
        assert a["val_best"]["avg"] == pytest.approx(b["val_best"]["avg"], abs=1e-5)
