"""Building the HTML with Jupyter Book 1 from the executed chapters.

``jupyter-book build book --config _config.yml --path-output . --all -W --keep-going``
(toc: ``book/_toc.yml``) builds ``_build/html``. Jupyter Book does not execute notebooks
(``execute_notebooks: "off"``). ``-W`` makes every Sphinx warning an error; ``--all``
rebuilds every page, so a warning of an unchanged page cannot be hidden by an incremental
build. Warnings that are deliberately accepted are silenced by name in ``_config.yml``
(``suppress_warnings``), never by lowering the check. The configuration is at the top
level while the sources are in ``book/``, so both are passed explicitly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..paths import repo_root

__all__ = ["build_html"]


def build_html(*, root: Path | None = None, strict: bool = True) -> tuple[bool, str]:
    """Run ``jupyter-book build`` on ``book/`` into ``_build/html``; returns (ok, the last lines of its log)."""
    root = root or repo_root()
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise FileNotFoundError("jupyter-book is not installed; install the book extras: pip install -e '.[book]'")
    cmd = [exe, "build", "book", "--config", "_config.yml", "--path-output", ".", "--all"]
    if strict:
        cmd += ["-W", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    ok = proc.returncode == 0 and (not strict or not warnings)
    tail = "\n".join(warnings[-40:]) if warnings else "\n".join(log.splitlines()[-15:])
    return ok, tail
