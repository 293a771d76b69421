"""Executing a chapter notebook with papermill into ``book/chapters/``, failures isolated.

Each source notebook ``notebooks/<name>.ipynb`` (stored without outputs) is executed
with the scale's parameters into ``book/chapters/<name>.ipynb``. A chapter that fails is
written anyway (with its traceback, so the page shows what went wrong), and does not stop
the others. The cell papermill injects with the parameters is removed from the page
(``remove-input``), like every code cell of a chapter.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import repo_root

__all__ = ["ChapterResult", "execute_chapter", "placeholder"]


@dataclass
class ChapterResult:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def placeholder(name: str, dest: Path) -> None:
    """A one-cell notebook for a chapter that was not executed in this build, so the toc stays complete."""
    nb = {
        "cells": [{
            "cell_type": "markdown", "metadata": {}, "id": "not-executed",
            "source": [f"# {name}\n", "\n", "This chapter was not executed in this build. ",
                       f"Run `xmr book --only {name}` (or `make book`) to produce it.\n"],
        }],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def _collapse_injected_parameters(path: Path) -> None:
    """papermill's injected-parameters cell is code too: removed from the page like every other code cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            cell["metadata"]["tags"] = [t for t in tags if t != "hide-input"] + ["remove-input"]
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def execute_chapter(name: str, parameters: dict[str, Any], *, root: Path | None = None, kernel: str = "python3",
                    dest_dir: Path | None = None) -> ChapterResult:
    """Execute ``notebooks/<name>.ipynb`` into ``book/chapters/<name>.ipynb`` (or ``dest_dir``); errors are caught and returned."""
    import papermill as pm

    root = root or repo_root()
    src = root / "notebooks" / f"{name}.ipynb"
    dest_dir = dest_dir or root / "book" / "chapters"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{name}.ipynb"
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(src), str(dest), parameters=parameters, kernel_name=kernel, progress_bar=False, cwd=str(root),
                            log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no kernel chatter on stderr
    except Exception as exc:  # a failing chapter must not stop the others; the output notebook keeps the traceback
        msg = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        if not dest.exists():
            placeholder(name, dest)
        return ChapterResult(name, False, time.perf_counter() - start, msg)
    finally:
        if dest.exists():
            _collapse_injected_parameters(dest)
    return ChapterResult(name, True, time.perf_counter() - start)
