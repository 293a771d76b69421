"""A chapter steps through as the notebooks' README says: ``jupyter execute``, ``jupyter nbconvert --execute`` and
papermill, from the repository root and from ``notebooks/``, with seeds given each way papermill users write them.

The chapter is SMCR Table 1 (the datasets), read from the committed archive's dataset summaries: no training.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xmr.study.scale import parse_seeds, scale

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "smcr_table1_datasets"
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XMR_ARCHIVE_DIR"] = str(ROOT / "archive")  # the suite's own archive is an empty temporary one
    env["XMR_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _outputs(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join(json.dumps(c.get("outputs", [])) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.fixture(scope="module")
def tools():
    missing = [t for t in ("jupyter", "papermill") if not (BIN / t).exists()]
    if missing or shutil.which("jupyter-nbconvert", path=str(BIN)) is None:
        pytest.skip(f"not installed in this environment: {missing or ['nbconvert']} (pip install -e '.[book,notebooks]')")
    if not (ROOT / "archive" / "datasets.json").is_file():
        pytest.skip("the committed archive has no dataset summaries")


@pytest.mark.slow
@pytest.mark.parametrize("where", [".", "notebooks"])
@pytest.mark.parametrize("how", ["jupyter execute", "nbconvert", "papermill"])
def test_a_chapter_runs_every_documented_way(tools, tmp_path, where, how):
    cwd = ROOT / where
    src = (ROOT / "notebooks" / f"{CHAPTER}.ipynb").relative_to(cwd) if where == "." else Path(f"{CHAPTER}.ipynb")
    out = tmp_path / "out.ipynb"
    if how == "jupyter execute":
        work = tmp_path / f"{CHAPTER}.ipynb"
        shutil.copy(ROOT / "notebooks" / f"{CHAPTER}.ipynb", work)
        cmd = [str(BIN / "jupyter"), "execute", "--inplace", str(work)]
        out = work
    elif how == "nbconvert":
        cmd = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", str(src), "--output", str(out)]
    else:
        cmd = [str(BIN / "papermill"), str(src), str(out), "-p", "seeds", "[0,1,2]", "--log-level", "WARNING"]
    done = subprocess.run(cmd, cwd=cwd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = _outputs(out)
    assert "Traceback" not in text and "Wikipedia" in text


@pytest.mark.parametrize("text, seeds", [("0-4", (0, 1, 2, 3, 4)), ("[0,1,2]", (0, 1, 2)), ("[0, 2]", (0, 2)),
                                         ("0,2,5-6", (0, 2, 5, 6)), ("3", (3,))])
def test_seeds_as_papermill_passes_them(text, seeds):
    assert scale("full", seeds=text).seeds == seeds
    assert tuple(parse_seeds(text)) == seeds


def test_a_yaml_list_of_seeds_and_bad_seeds():
    assert scale("full", seeds=[0, 1, 2]).seeds == (0, 1, 2)
    with pytest.raises(ValueError, match="bad seed"):
        scale("full", seeds="zero")
    with pytest.raises(ValueError, match="bad seed range"):
        scale("full", seeds="4-0")
