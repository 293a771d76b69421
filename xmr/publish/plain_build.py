"""A plain ``jupyter-book build book`` builds the whole book: the chapters are executed first when they are missing.

The chapters in ``book/chapters/`` are generated (papermill, from ``notebooks/``), so a fresh clone has none, and
Jupyter Book alone (``execute_notebooks: "off"``) would build a book without them and call it a success. This
Sphinx extension (listed in ``_config.yml``) runs when the build starts: if a chapter of the toc is missing and
every run of the full book is in the cache or the committed archive, it executes the missing chapters at the
full scale, trains nothing, and the build goes on; otherwise it stops the build with a message that says what to
run (``make book`` trains what the archive lacks, then builds). ``xmr book`` executes the chapters before it
builds, so there this extension finds nothing to do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["missing_chapters", "setup"]


def missing_chapters(srcdir: Path) -> list[str]:
    """The chapters the toc of the book at ``srcdir`` lists that ``srcdir/chapters`` does not hold."""
    from ..study.chapters import names

    return [n for n in names() if not (srcdir / "chapters" / f"{n}.ipynb").is_file()]


def _execute_missing(app: Any, config: Any) -> None:
    from sphinx.errors import ConfigError

    from .notebooks import execute_chapter
    from ..orchestrate.plan import plan

    srcdir = Path(app.srcdir)
    missing = missing_chapters(srcdir)
    if not missing:
        return
    runs = plan("full", cost=False, only=missing)
    lacking = int((~runs["cached"].astype(bool)).sum()) if len(runs) else 0
    if lacking:
        raise ConfigError(
            f"book/chapters/ lacks {len(missing)} executed chapter(s) ({', '.join(missing)}), and {lacking} of the "
            f"{len(runs)} runs they read are in neither the results cache nor the archive: run `make book` (it "
            f"trains them, executes every chapter and builds the book), or `xmr book --only {' '.join(missing)}`")
    from ..study.scale import scale

    params = scale("full").parameters()
    for i, name in enumerate(missing, 1):
        print(f"[{i}/{len(missing)}] executing {name} from the archived runs ...", file=sys.stderr, flush=True)
        res = execute_chapter(name, params, root=srcdir.parent, dest_dir=srcdir / "chapters")
        if not res.ok:
            raise ConfigError(f"chapter {name} failed to execute ({res.error}); see book/chapters/{name}.ipynb, "
                              f"or run `xmr book --only {name}`")


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _execute_missing)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
