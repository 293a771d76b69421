"""Loaded datasets packed into one file, for machines that have no copy of the raw data.

A training machine needs the feature arrays, not the raw release: the news set's 2200
JPEGs (160 MB) are only the input of feature extraction. :func:`write` loads each dataset
variant (name, protocol, loader options) here, where the raw files are verified, and
stores its splits in one compressed ``.npz`` with an index. With ``XMR_DATA_PACK`` set to
such a file, :func:`xmr.data.load` serves the variants it holds from it (anything else is
loaded from the raw files as usual), so a GPU box or a cluster worker trains the same runs
on the same arrays without the data directory.

Each entry stores the sha256 of its arrays; a pack whose arrays do not match is refused
(:class:`~xmr.data.errors.ChecksumError`), never half-used. A pack is a cache of what the
loaders return, so it is keyed by the same options and carries the loader's name for its
variant; the run's code fingerprint (which hashes the loader's source) is unaffected.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..io import atomic_path
from .dataset import Dataset, Split
from .errors import ChecksumError, DataUnavailableError
from .protocols import default_protocol

__all__ = ["ENV", "write", "lookup", "variant_key", "FORMAT"]

#: The environment variable :func:`xmr.data.load` reads the pack's path from.
ENV = "XMR_DATA_PACK"
FORMAT = 1
_FIELDS = ("image", "text", "labels", "ids")
_SPLITS = ("train", "val", "test")


def variant_key(name: str, protocol: str | None, options: Mapping[str, Any] | None) -> str:
    """The one string that names a dataset variant, as :func:`xmr.data.load` is called."""
    return json.dumps([name, protocol, dict(options or {})], sort_keys=True, default=str)


def _digest(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write(path: str | os.PathLike[str], variants: Iterable[tuple[str, str | None, Mapping[str, Any] | None]],
          *, load: Callable[..., Dataset]) -> list[str]:
    """Load each ``(name, protocol, options)`` variant with ``load(name, protocol=..., **options)`` and pack them
    all into ``path`` (written atomically). ``load`` reads the raw files (``xmr data pack`` passes
    :func:`xmr.data.load` with the data root, so a pack is never made from another pack).

    Variants whose data is not available here (:class:`~xmr.data.DataUnavailableError`) are
    left out and named in the returned list; a pack never stands in for data nobody has.
    """
    arrays: dict[str, np.ndarray] = {}
    index: list[dict[str, Any]] = []
    left_out: list[str] = []
    for name, protocol, options in variants:
        key = variant_key(name, protocol, options)
        if any(key in e["keys"] for e in index):
            continue
        try:
            ds = load(name, protocol=protocol, **dict(options or {}))
        except DataUnavailableError as exc:
            left_out.append(f"{key}: {str(exc).splitlines()[0]}")
            continue
        i = len(index)
        parts = []
        for split in _SPLITS:
            s = getattr(ds, split)
            for f in _FIELDS:
                a = getattr(s, f)
                if f == "ids":
                    a = np.asarray(a).astype(str)
                arrays[f"e{i}/{split}/{f}"] = a
                parts.append(a)
        keys = [key, variant_key(ds.name, ds.protocol, options)]
        if ds.protocol == default_protocol(name):  # load(name) without a protocol asks for this one too
            keys.append(variant_key(name, None, options))
        index.append({"keys": list(dict.fromkeys(keys)), "name": ds.name,
                      "protocol": ds.protocol, "classes": list(ds.classes), "source": ds.source,
                      "options": ds.options, "dropped": list(ds.dropped), "sha256": _digest(parts)})
    blob = json.dumps({"format": FORMAT, "entries": index}, sort_keys=True, default=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy keeps the temporary name
            np.savez_compressed(f, __index__=np.array(blob), **arrays)
    _CACHE.clear()
    return left_out


_CACHE: dict[tuple[str, int, int], tuple[dict[str, Any], Any]] = {}


def _open(path: Path) -> tuple[dict[str, Any], Any]:
    st = path.stat()
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if stamp not in _CACHE:
        npz = np.load(path, allow_pickle=False)
        try:
            index = json.loads(str(npz["__index__"]))
        except (KeyError, ValueError) as exc:
            raise ChecksumError(f"{path} is not an xmr data pack (no readable index: {exc}); "
                                f"write one with `xmr data pack {path}`") from None
        if index.get("format") != FORMAT:
            raise ChecksumError(f"{path} is a data pack of format {index.get('format')}, this xmr reads {FORMAT}; "
                                f"write it again with `xmr data pack {path}`")
        _CACHE.clear()
        _CACHE[stamp] = (index, npz)
    return _CACHE[stamp]


def lookup(path: str | os.PathLike[str], name: str, protocol: str | None,
           options: Mapping[str, Any] | None) -> Dataset | None:
    """The packed variant ``(name, protocol, options)`` from the pack at ``path``, or ``None`` if it has none."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{ENV}={path} does not exist; unset it or write the pack with `xmr data pack {path}`")
    index, npz = _open(path)
    key = variant_key(name, protocol, options)
    for i, entry in enumerate(index["entries"]):
        if key not in entry["keys"]:
            continue
        parts: dict[str, dict[str, np.ndarray]] = {}
        flat = []
        for split in _SPLITS:
            parts[split] = {f: npz[f"e{i}/{split}/{f}"] for f in _FIELDS}
            flat += [parts[split][f] for f in _FIELDS]
        if _digest(flat) != entry["sha256"]:
            raise ChecksumError(f"{path}: the arrays of {key} do not match their recorded sha256 (corrupted pack); "
                                f"write it again with `xmr data pack`")
        splits = [Split(**parts[s]) for s in _SPLITS]
        return Dataset(entry["name"], entry["protocol"], tuple(entry["classes"]), *splits, source=entry["source"],
                       options=dict(entry["options"]), dropped=tuple(entry["dropped"]))
    return None
