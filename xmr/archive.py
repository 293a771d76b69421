"""The results archive: finished runs committed with the code, so a fresh clone renders without training.

One gzip-compressed JSON-lines file per method, ``archive_dir()/<method>.jsonl.gz``; each line
is a results-cache entry (:mod:`xmr.results`): ``key``, ``identity`` (with the code fingerprint),
``run`` (metrics, per-epoch history, precision-recall points) and ``provenance`` (versions,
threads, device, date). :func:`xmr.results.load` reads the archive when its cache has no
entry, under the same checks: a record is served only when its key and whole identity equal
the request's (so a record of older code is never served: it trains again), its run is
complete and its digest matches (:func:`xmr.results.damage`). A file that does not read whole
raises :class:`ArchiveDamagedError` naming the file and the line: nothing is read from it
half-way and nothing is written over it until it is restored from git.

Records are added from the cache (:func:`add`, ``xmr archive add``), which rewrites a method's
file atomically, one record per key, sorted by key, so the file's diff shows what changed.
``XMR_ARCHIVE=off`` (``xmr book --no-archive``) ignores the archive.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .io import atomic_path
from .paths import archive_dir

__all__ = ["enabled", "lookup", "records", "add", "remove", "files", "SUFFIX", "ArchiveDamagedError"]

SUFFIX = ".jsonl.gz"
_INDEX: dict[tuple[str, int, int], dict[str, str]] = {}


def enabled() -> bool:
    """False when ``$XMR_ARCHIVE`` is ``off`` (``xmr book --no-archive``)."""
    return os.environ.get("XMR_ARCHIVE", "").lower() not in ("off", "0", "no", "false")


def files(root: Path | None = None) -> list[Path]:
    root = root or archive_dir()
    return sorted(root.glob(f"*{SUFFIX}")) if root.is_dir() else []


def _method_file(method: str, root: Path | None = None) -> Path:
    return (root or archive_dir()) / f"{method}{SUFFIX}"


class ArchiveDamagedError(ValueError):
    """An archive file that does not read whole: a truncated gzip stream or a line that is not a record."""


def _read_lines(path: Path) -> dict[str, str]:
    """``{key: line}`` of one archive file; a file that does not read whole raises :class:`ArchiveDamagedError`
    naming the file and the line, so no record is lost without a word and nothing writes over it."""
    out: dict[str, str] = {}
    n = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    key = json.loads(line)["key"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ArchiveDamagedError(
                        f"{path}: line {n} is not a record ({type(exc).__name__}); restore the file with "
                        f"`git checkout -- {path.name}` in {path.parent} (nothing is written over a damaged file)"
                    ) from None
                out[str(key)] = line
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # a truncated or corrupt file
        raise ArchiveDamagedError(
            f"{path}: unreadable after line {n} ({type(exc).__name__}: {exc}); restore it with "
            f"`git checkout -- {path.name}` in {path.parent} (nothing is written over a damaged file)") from None
    return out


def _index(path: Path) -> dict[str, str]:
    try:
        st = path.stat()
    except OSError:
        return {}
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if stamp not in _INDEX:
        for old in [s for s in _INDEX if s[0] == stamp[0]]:
            del _INDEX[old]
        _INDEX[stamp] = _read_lines(path)
    return _INDEX[stamp]


def lookup(method: str, key: str, root: Path | None = None) -> dict[str, Any] | None:
    """The archived entry stored under ``key`` for ``method`` (not yet checked against a request), or ``None``."""
    if root is None and not enabled():
        return None
    line = _index(_method_file(method, root)).get(key)
    if line is None:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def records(method: str | None = None, root: Path | None = None) -> Iterable[dict[str, Any]]:
    """Every readable archived entry (of ``method``, or of every method), in file order."""
    for path in files(root):
        if method and path.name != f"{method}{SUFFIX}":
            continue
        for line in _index(path).values():
            try:
                yield json.loads(line)
            except ValueError:
                continue


def _write(path: Path, lines: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for left in path.parent.glob(f".{path.name}.*.tmp"):  # an earlier write killed mid-way (git ignores them)
        left.unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        # no name and mtime 0 in the gzip header: the same records give the same bytes, so git sees no change
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
            for key in sorted(lines):
                text = lines[key]
                fh.write((text if text.endswith("\n") else text + "\n").encode("utf-8"))


def add(entries: Iterable[Mapping[str, Any]], root: Path | None = None) -> dict[str, int]:
    """Put cache ``entries`` (dicts with ``key``, ``identity``, ``run``, ``provenance``) into the archive,
    replacing a record with the same key; returns how many were added or replaced per method."""
    by_method: dict[str, dict[str, str]] = {}
    for entry in entries:
        method = str(entry["identity"]["method"])
        by_method.setdefault(method, {})[str(entry["key"])] = json.dumps(
            {k: entry[k] for k in ("key", "identity", "run", "digest", "provenance") if k in entry},
            sort_keys=True, separators=(",", ":"))
    for method, new in by_method.items():
        path = _method_file(method, root)
        _write(path, {**_index(path), **new})
    return {m: len(v) for m, v in by_method.items()}


def remove(method: str, keys: Iterable[str], root: Path | None = None) -> int:
    """Drop the records with ``keys`` from ``method``'s file; returns how many were dropped."""
    path = _method_file(method, root)
    lines = dict(_index(path))
    gone = [k for k in set(keys) if lines.pop(k, None) is not None]
    if gone:
        if lines:
            _write(path, lines)
        else:
            path.unlink()
    return len(gone)
