"""Feature files keyed by content: the raw files' sha256 plus the extractor's settings.

A feature set lives in ``features_dir()/<kind>-<hash of key>.npz`` and is written
through :func:`xmr.io.atomic_path`, so an interrupted extraction leaves no partial
file. Changing a raw file or a setting changes the key, hence the file name: stale
features are never read. The raw files' digests are remembered per path, size and
modification time (``file_digests.json``), so a warm load stats files instead of
hashing 150 MB of images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..io import atomic_path, sha256_file, stable_hash, write_json_atomic
from ..paths import features_dir

__all__ = ["file_digests", "cache_file", "cached"]

_DIGESTS = "file_digests.json"
# Bump when the layout or meaning of stored arrays changes: older files then miss.
FORMAT = 2


def _full_key(key: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(key), "__format__": FORMAT}


def file_digests(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """sha256 of each file's bytes, memoised by (resolved path, size, mtime)."""
    memo_path = features_dir() / _DIGESTS
    try:
        memo: dict[str, str] = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    out, changed = [], False
    for path in paths:
        path = Path(path)
        st = path.stat()
        stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        digest = memo.get(stamp)
        if digest is None:
            digest = memo[stamp] = sha256_file(path)
            changed = True
        out.append(digest)
    if changed:
        try:
            write_json_atomic(memo_path, memo)
        except OSError:
            pass  # a read-only cache only costs speed
    return out


def cache_file(kind: str, key: Mapping[str, Any]) -> Path:
    """Where the feature set ``kind`` with ``key`` is (or will be) stored."""
    return features_dir() / f"{kind}-{stable_hash(_full_key(key))}.npz"


def cached(
    kind: str, key: Mapping[str, Any], compute: Callable[[], dict[str, np.ndarray]], compress: bool = False
) -> dict[str, np.ndarray]:
    """The arrays stored under (``kind``, ``key``); ``compute()`` them and store them atomically if absent.

    ``compress`` zips the file (worth it for sparse arrays such as bag-of-words counts).
    """
    path = cache_file(kind, key)
    blob = json.dumps(_full_key(key), sort_keys=True, default=str)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                if str(npz["__key__"]) == blob:
                    return {name: npz[name] for name in npz.files if name != "__key__"}
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: recompute and replace it
    arrays = compute()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temporary name
            (np.savez_compressed if compress else np.savez)(f, __key__=np.array(blob), **arrays)
    return arrays
