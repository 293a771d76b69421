"""Every file a dataset reads, checked by its content before a run trains on it.

The loaders check the published files' sha256 (:mod:`xmr.data.checksums`) but remember a check by path, size and
modification time, which can be forged (rewrite a file at the same size, restore its mtime), and they cover only the
files the data README lists: for ``web_news_cn`` its three list files, not its 2,200 images and 2,200 texts. So
:func:`xmr.experiments.run` calls :func:`verify` before anything trains:

- every file of the dataset's folder that the README lists (:data:`xmr.data.checksums.SHA256`) and, for the news set,
  every image and text against :file:`xmr/data/manifests/web_news_cn.sha256` (``sha256sum -c`` reads it);
- a file's content is hashed once per process and per *status change*: the memo is keyed by device, inode, size, and
  the modification **and change** times; restoring an mtime (``touch -d``, ``os.utime``) sets the change time, which
  no unprivileged user can set back.

A mismatch names every file that differs and how to repair it, and no result is stored, so a result cached under a
clean run's key can only come from the published bytes; and no stored result is served beside data files that
differ from the published ones (a machine without the data is served from the archive as before).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from ..io import sha256_file
from ..paths import data_root
from .checksums import SHA256
from .errors import ChecksumError, DataNotFoundError

__all__ = ["FOLDERS", "manifest", "digest", "verify", "check"]

#: The data folder each dataset reads (the README's sections).
FOLDERS: dict[str, str] = {"wikipedia": "wikipedia", "pascal": "pascal_sentence", "pascal100": "pascal_sentence",
                           "web_news_cn": "web_news_cn"}
_MANIFESTS = Path(__file__).parent / "manifests"


@lru_cache(maxsize=None)
def manifest(dataset: str) -> dict[str, str]:
    """Relative path (under the data root) -> sha256 of every file ``dataset`` reads that has a known hash."""
    if dataset not in FOLDERS:
        raise ValueError(f"no content manifest for dataset {dataset!r}; known: {', '.join(sorted(FOLDERS))}")
    folder = FOLDERS[dataset] + "/"
    out = {rel: sha for rel, sha in SHA256.items() if rel.startswith(folder)}
    extra = _MANIFESTS / f"{FOLDERS[dataset]}.sha256"
    if extra.is_file():
        for line in extra.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                sha, rel = line.split("  ", 1)  # sha256sum's format: file names may hold spaces
                out[rel] = sha
    return out


@lru_cache(maxsize=None)
def digest(dataset: str) -> str:
    """16 hex digits naming the bytes ``dataset`` reads: the sha256 of its :func:`manifest` as ``sha256sum`` lines,
    sorted by path. A run's identity holds it (field ``data``, :func:`xmr.results.identity`): a run trains only on
    files that match the manifest (:func:`verify`), so a new release of the data (a changed manifest) gets new keys
    and is never served a result of the old bytes."""
    h = hashlib.sha256()
    for rel, sha in sorted(manifest(dataset).items()):
        h.update(f"{sha}  {rel}\n".encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def _hash(path: str, dev: int, ino: int, size: int, mtime_ns: int, ctime_ns: int) -> str:  # noqa: ARG001 - the key
    return sha256_file(path)


def check(dataset: str, root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """``(relative path, problem)`` for every file of ``dataset`` that is missing or whose content is not the known one
    (empty when all are as published)."""
    base = data_root(root)
    out = []
    for rel, expected in manifest(dataset).items():
        path = base / rel
        try:
            st = path.stat()
        except OSError:
            out.append((rel, "missing"))
            continue
        actual = _hash(str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if actual != expected:
            out.append((rel, f"sha256 {actual[:16]}…, expected {expected[:16]}…"))
    return out


def verify(dataset: str, root: str | os.PathLike[str] | None = None, *, allow_missing: bool = False) -> None:
    """Raise (naming every bad file and the fix) unless every file ``dataset`` reads has its known content.
    ``allow_missing``: only the files that are there are checked (serving a stored result needs no data, but never
    a result of the published bytes beside files that differ from them)."""
    bad = [(rel, p) for rel, p in check(dataset, root) if not (allow_missing and p == "missing")]
    if not bad:
        return
    listed = "\n  ".join(f"{rel}: {problem}" for rel, problem in bad[:20]) + (
        f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
    base = data_root(root)
    if all(problem == "missing" for _, problem in bad):
        raise DataNotFoundError(f"dataset {dataset!r}: {len(bad)} file(s) missing under {base}:\n  {listed}\n"
                                "Point xmr at the data directory (XMR_DATA_DIR) or restore the files from the "
                                "sources the data README names.")
    raise ChecksumError(f"dataset {dataset!r}: {len(bad)} file(s) differ from the published release under {base}:\n"
                        f"  {listed}\nRestore them from the source the data README names (a byte-for-byte copy), then "
                        f"run `xmr data verify`; nothing was trained or stored.")
