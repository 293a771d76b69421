"""The code fingerprint (xmr.fingerprint): which edits change which run keys, on a copy of the package."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import xmr
from xmr import fingerprint as fp
from xmr import methods, results

METHODS = methods.names()
DATASETS = ["wikipedia", "pascal", "pascal100", "web_news_cn", "toy"]  # toy: user arrays (from_arrays)


@pytest.fixture
def src(tmp_path) -> Path:
    """A private copy of the installed package's sources, to edit."""
    root = tmp_path / "xmr"
    shutil.copytree(Path(xmr.__file__).parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def prints(root: Path, datasets=DATASETS) -> dict[tuple[str, str], str]:
    return {(m, d): fp.fingerprint(m, d, root=root) for m in METHODS for d in datasets}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}: update the test's edit"
    path.write_text(text.replace(old, new, 1))


def append_code(path: Path) -> None:
    path.write_text(path.read_text() + "\n_FINGERPRINT_TEST = 1\n")


def changed(before: dict, after: dict) -> set[tuple[str, str]]:
    return {k for k in before if before[k] != after[k]}


def test_twelve_methods_closures_hold_their_own_code_and_no_other_method():
    assert len(METHODS) == 12
    module_file = {m: "xmr/" + methods.get(m).cls.__module__.split(".", 1)[1].replace(".", "/") + ".py" for m in METHODS}
    for m in METHODS:
        files = fp.closure(m, "wikipedia")
        assert module_file[m] in files
        assert {"xmr/engine/__init__.py", "xmr/metrics.py", "xmr/data/wikipedia.py",
                "xmr/data/dataset.py", "xmr/data/__init__.py", "xmr/methods/registry.py"} <= set(files)
        assert not {module_file[o] for o in METHODS if o != m} & set(files), m
        for f in files:  # nothing above the run layer
            assert not re.match(r"xmr/(cli/|build/|study/|experiments\.py|results\.py|"
                                r"fingerprint\.py|methods/__all_modules__\.py)", f), (m, f)
    assert "xmr/methods/smcr.py" not in fp.closure("dacsl", "wikipedia")
    news = fp.closure("dacsl", "web_news_cn")
    assert {"xmr/data/web_news_cn.py", "xmr/features/image.py", "xmr/features/text.py"} <= set(news)
    assert "xmr/data/wikipedia.py" not in news and "xmr/data/pascal.py" not in news
    user = fp.closure("dacsl", "toy")
    assert not [f for f in user if f.startswith("xmr/features/") or re.match(r"xmr/data/(wikipedia|pascal|web_news_cn)", f)]


def test_fingerprint_is_16_hex_cached_per_process_and_in_the_identity():
    value = fp.fingerprint("dacsl", "wikipedia")
    assert re.fullmatch(r"[0-9a-f]{16}", value)
    assert fp._installed_fingerprint.cache_info().hits >= 0 and fp.fingerprint("dacsl", "wikipedia") is value
    ident = results.identity("dacsl", "wikipedia", "dscmr", 0, {})
    assert ident["code"] == value and ident["version"] == xmr.__version__
    assert set(ident) == set(results.IDENTITY_FIELDS)
    assert len({fp.fingerprint(m, "wikipedia") for m in METHODS}) == 12


def test_loss_edit_changes_that_method_only(src):
    before = prints(src)
    edit(src / "methods" / "dacsl.py", "(pred_x - onehot).norm() + (pred_y - onehot).norm()",
         "(pred_x - onehot).norm() - (pred_y - onehot).norm()")
    after = prints(src)
    assert changed(before, after) == {("dacsl", d) for d in DATASETS}
    for other in ("dscmr", "smcr"):
        assert all(before[other, d] == after[other, d] for d in DATASETS)


def test_docstring_comment_and_formatting_edits_change_nothing(src):
    before = prints(src)
    dacsl = src / "methods" / "dacsl.py"
    edit(dacsl, '"""DACSL: Deep Adversarial', '"""DACSL (module docstring edited): Deep Adversarial')
    edit(dacsl, "\nimport torch\n", "\n# a new comment\nimport torch  # and another\n")
    edit(dacsl, "def euclidean(a: torch.Tensor, b: torch.Tensor)", "def euclidean(\n    a: torch.Tensor,\n    b: torch.Tensor,\n)")
    text = dacsl.read_text()
    fn = re.search(r'def label_prediction_loss\(.*?\n(\s+)"""', text, re.S)
    assert fn, "label_prediction_loss lost its docstring: update the test"
    dacsl.write_text(text[: fn.end()] + "Edited function docstring. " + text[fn.end():])
    train = src / "engine" / "single.py"
    edit(train, '"""', '"""Edited engine docstring.\n\n')
    train.write_text(train.read_text() + "\n\n# trailing comment\n")
    assert prints(src) == before
    # The same edits, made to code, do count (the test can fail).
    append_code(dacsl)
    assert changed(before, prints(src)) == {("dacsl", d) for d in DATASETS}


def test_engine_edit_changes_every_method_and_cli_or_book_edits_none(src):
    before = prints(src)
    above = [p.relative_to(src) for layer in ("cli", "study", "build") for p in (src / layer).rglob("*.py")]
    assert len(above) > 10
    for rel in [*above, "experiments.py", "methods/__all_modules__.py"]:
        append_code(src / rel)
    assert prints(src) == before
    append_code(src / "engine" / "single.py")
    assert changed(before, prints(src)) == set(before)


def test_loader_edit_changes_that_datasets_runs_only(src):
    before = prints(src)
    append_code(src / "data" / "wikipedia.py")
    after = prints(src)
    assert changed(before, after) == {(m, "wikipedia") for m in METHODS}
    append_code(src / "data" / "pascal.py")
    again = prints(src)
    assert changed(after, again) == {(m, d) for m in METHODS for d in ("pascal", "pascal100")}
    append_code(src / "features" / "text.py")
    assert changed(again, prints(src)) == {(m, "web_news_cn") for m in METHODS}


def test_type_checking_imports_are_not_followed(src):
    before = fp.fingerprint("dacsl", "toy", root=src)
    edit(src / "methods" / "dacsl.py", "\nimport torch\n",
         "\nimport torch\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..features import image\n")
    assert "xmr/features/image.py" not in fp.closure("dacsl", "toy", root=src)
    middle = fp.fingerprint("dacsl", "toy", root=src)
    append_code(src / "features" / "image.py")
    assert fp.fingerprint("dacsl", "toy", root=src) == middle != before


def test_normalised_source_is_written_out_without_empty_fields():
    """Written down by hand: no positions, no docstring, no ``type_params=[]`` or ``kind=None``."""
    source = 'def f(a, b=1):\n    """Doc."""\n    return f"{a}!"\n'
    assert fp._normalised(source) == (
        "Module(body=[FunctionDef(name='f',args=arguments(args=[arg(arg='a'),arg(arg='b')],defaults=[Constant(value=1)]),"
        "body=[Return(value=JoinedStr(values=[FormattedValue(value=Name(id='a',ctx=Load()),conversion=-1),"
        "Constant(value='!')]))])])")


_OTHER_PYTHONS = [p for p in (shutil.which(f"python3.{minor}") for minor in range(11, 15)) if p]


@pytest.mark.skipif(not _OTHER_PYTHONS, reason="no other python3.X interpreter on PATH")
def test_every_python_version_normalises_the_package_alike():
    """The cache key must not depend on the Python version: 3.12's ast.dump differs from 3.11's, and a GPU
    machine with 3.12 once keyed the same code differently. Only stdlib is needed, so any interpreter will do."""
    import subprocess
    import sys

    script = (
        "import importlib.util, hashlib, pathlib, sys\n"
        "spec = importlib.util.spec_from_file_location('fp', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "h = hashlib.sha256()\n"
        "for p in sorted(pathlib.Path(sys.argv[2]).rglob('*.py')):\n"
        "    h.update(m._normalised(p.read_text(encoding='utf-8')).encode())\n"
        "print(h.hexdigest())\n"
    )
    package = Path(xmr.__file__).parent
    args = [script, str(package / "fingerprint.py"), str(package)]
    digests = {}
    for python in [sys.executable, *_OTHER_PYTHONS]:
        done = subprocess.run([python, "-c", *args], capture_output=True, text=True)
        if done.returncode == 0:  # a shim without that version installed fails: not a finding
            digests[python] = done.stdout.strip()
    assert len(digests) >= 1 and len(set(digests.values())) == 1, digests


def test_data_fingerprint_follows_the_loading_code_only(src):
    def data_prints():
        return {d: fp.data_fingerprint(d, root=src) for d in DATASETS}

    before = data_prints()
    assert len(set(before.values()) - {before["pascal"]}) == 3  # pascal and pascal100 share a loader
    for rel in ("engine/single.py", "methods/dacsl.py", "metrics.py", "study/datasets.py"):
        append_code(src / rel)
    assert data_prints() == before
    append_code(src / "features" / "image.py")
    after = data_prints()
    assert {d for d in DATASETS if after[d] != before[d]} == {"web_news_cn"}
    append_code(src / "data" / "dataset.py")
    assert all(v != after[d] for d, v in data_prints().items())
    assert fp.data_fingerprint("wikipedia") != fp.fingerprint("dscmr", "wikipedia")
