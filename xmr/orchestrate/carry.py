"""Carrying archived runs across a change that cannot move their numbers: checked record by record, never assumed.

A run's key changes whenever its identity does, and a record under an old key is never served (it trains again).
Two kinds of change give a record a new key while its numbers stay what they were:

1. **The identity gained the data digest** (field ``data``, :func:`xmr.results.data_digest`). A record made
   before it has every other field; its ``data`` is the digest of the manifest of the bytes it read: the loaders
   read the files of the release the manifest names (list files checked by sha256, every file by content since
   :mod:`xmr.data.content`), and :func:`carry` refuses to fill it in unless the local data matches the manifest.
2. **The code that loads its dataset changed without changing what it loads**, e.g. a check that refuses a
   malformed list file: the published files still load to the same arrays.

:func:`carry` takes ``rev``, the commit whose code made the records, and for every archived record that this code
would not serve, re-keys it only when all of these hold (else it is left as it is: stale, so it trains again):

- it is intact (:func:`xmr.results.damage`), of this ``xmr.__version__``, and its identity lacks no field but
  ``data``;
- it was current at ``rev``: its ``code`` is the fingerprint of ``rev``'s sources for its method and dataset;
- every file whose source differs between ``rev`` and now within that fingerprint's closure
  (:func:`xmr.fingerprint.differs`) belongs to the dataset's loading (the data part of the closure);
- where such a file differs: the dataset loaded by ``rev``'s code and by this code, each in its own process, for
  the record's protocol and options, gives the same bytes (a sha256 over every split's features, labels and ids,
  the class names and the dropped ids).

The re-keyed record keeps its run and gets its new identity, key and digest, and ``provenance.carried``: the
commit, the code fingerprint it had, and which of the two changes it crossed. ``xmr verify`` re-trains carried
records like any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import __version__, archive
from ..data import content as data_content
from ..data.pack import ENV as PACK_ENV
from ..fingerprint import data_files, differs, fingerprint
from ..paths import repo_root
from ..results import IDENTITY_FIELDS, damage, data_digest, judge, run_key, seal

__all__ = ["carry", "Carried", "load_digests", "sources_at"]

#: Identity fields a record may lack and still be carried: the ones added since (filled in by :func:`carry`).
ADDED_FIELDS = ("data",)

#: Run in a fresh interpreter: the sources at argv[1] loaded first, each (dataset, protocol, options) of argv[2]
#: loaded and hashed. Printed: one JSON list of hex digests. Its own hash, not either commit's
#: ``xmr.experiments.dataset_fingerprint``: both sides must hash alike whatever the two commits hold.
_LOAD_AND_HASH = r"""
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import xmr, xmr.data
if not xmr.__file__.startswith(sys.argv[1]):
    raise SystemExit(f"loaded xmr from {xmr.__file__}, not from {sys.argv[1]}")
out = []
for dataset, protocol, options in json.loads(sys.argv[2]):
    ds = xmr.data.load(dataset, protocol=protocol, **options)
    h = hashlib.sha256()
    h.update(json.dumps([list(ds.classes), list(ds.dropped)]).encode())
    for name, split in sorted(ds.splits.items()):
        for arr in (split.image, split.text, split.labels, np.asarray(split.ids).astype(str)):
            h.update(f"{name}{arr.shape}{arr.dtype}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    out.append(h.hexdigest())
print(json.dumps(out))
"""


@dataclass
class Carried:
    """What :func:`carry` did: the records re-keyed per method, and the ones left stale per reason."""

    rev: str
    carried: Counter = field(default_factory=Counter)
    left: Counter = field(default_factory=Counter)  # (method, reason) -> count
    loads: dict[str, bool] = field(default_factory=dict)  # "dataset/protocol/options" -> same bytes at rev and now


def sources_at(rev: str, into: Path) -> tuple[str, Path]:
    """Extract the ``xmr`` package of commit ``rev`` under ``into``; returns the full commit id and the package
    directory. A ``rev`` git does not know raises ``ValueError`` naming it."""
    root = repo_root()
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", f"{rev}^{{commit}}"], check=True,
                             capture_output=True, text=True).stdout.strip()
        blob = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", sha, "xmr"], check=True,
                              capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ValueError(f"cannot read the sources of {rev!r} from git in {root}: {exc}; give a commit of this "
                         "repository (e.g. the one whose code made the records: `git log -- archive/`)") from None
    tar_path = into / "src.tar"
    tar_path.write_bytes(blob)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into / "src", filter="data")
    return sha, into / "src" / "xmr"


def load_digests(package: Path, loads: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """The sha256 of each dataset ``loads`` names, loaded by the ``xmr`` package at ``package`` in a fresh process."""
    if not loads:
        return []
    env = {k: v for k, v in os.environ.items() if k != PACK_ENV}  # the raw files, never a pack's copy of the arrays
    proc = subprocess.run([sys.executable, "-c", _LOAD_AND_HASH, str(package.parent), json.dumps(loads)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"loading {len(loads)} dataset(s) with the sources at {package} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def carry(rev: str, records: Iterable[Mapping[str, Any]] | None = None, *, write: bool = True,
          root: Path | None = None) -> Carried:
    """Re-key the archive's records that ``rev``'s code made and that this code would serve the same numbers for
    (see the module docstring for the checks); ``write=False`` only counts. ``records`` defaults to the archive's."""
    recs = list(archive.records(root=root) if records is None else records)
    with tempfile.TemporaryDirectory(prefix="xmr-carry-") as tmp:
        sha, old = sources_at(rev, Path(tmp))
        report = Carried(sha)
        candidates: list[tuple[dict[str, Any], str]] = []  # (record, which change)
        needs_load: set[str] = set()
        for rec in recs:
            ident = rec.get("identity") or {}
            method = str(ident.get("method"))
            state, _ = judge(rec)
            if state == "current":
                continue
            why = _refusal(rec, old)
            if why:
                report.left[(method, why)] += 1
                continue
            changed = _differs(method, str(ident["dataset"]), old)
            change = "identity gained the data digest" if not changed else "loader change, same loaded data"
            if changed:
                needs_load.add(_load_key(ident))
            candidates.append((rec, change))
        datasets = sorted({json.loads(k)[0] for k in needs_load} | {str(r["identity"]["dataset"]) for r, _ in candidates
                                                                      if "data" not in r["identity"]})
        for dataset in datasets:  # the digest names the manifest: only bytes that match it may be named so
            if dataset in data_content.FOLDERS:
                data_content.verify(dataset)
        loads = sorted(needs_load)
        args = [json.loads(k) for k in loads]
        same = [a == b for a, b in zip(load_digests(old, args), load_digests(_installed_package(), args))]
        report.loads = dict(zip(loads, same))
        out = []
        for rec, change in candidates:
            ident = rec["identity"]
            method = str(ident["method"])
            if _load_key(ident) in report.loads and not report.loads[_load_key(ident)]:
                report.left[(method, "its dataset loads to other bytes now")] += 1
                continue
            new_ident = {**ident, "data": data_digest(ident["dataset"], ident["dataset_options"]),
                         "code": fingerprint(method, ident["dataset"])}
            provenance = {**(rec.get("provenance") or {}),
                          "carried": {"rev": sha, "code": ident["code"], "change": change}}
            out.append((method, str(rec["key"]), seal({"key": run_key(new_ident), "identity": new_ident,
                                                       "run": rec["run"], "provenance": provenance})))
            report.carried[method] += 1
        if write and out:
            archive.add([entry for _, _, entry in out], root=root)
            for method in sorted({m for m, _, _ in out}):
                archive.remove(method, [k for m, k, _ in out if m == method], root=root)
    return report


def _refusal(rec: Mapping[str, Any], old: Path) -> str:
    """Why ``rec`` cannot be carried from the sources at ``old`` ("" when it can, pending the data check)."""
    ident = rec["identity"]
    missing = set(IDENTITY_FIELDS) - set(ident)
    if set(ident) - set(IDENTITY_FIELDS) or not missing <= set(ADDED_FIELDS):
        return "another identity layout"
    if ident.get("version") != __version__:
        return f"xmr {ident.get('version')}"
    if damage(rec):
        return "damaged"
    method, dataset = str(ident["method"]), str(ident["dataset"])
    if ident["code"] != _old_fingerprint(method, dataset, old):
        return "not made by the code of that commit"
    if not set(_differs(method, dataset, old)) <= set(_data_part(dataset, old)):
        return "method or engine code changed"
    if "data" in ident and ident["data"] != data_digest(dataset, ident["dataset_options"]):
        return "another data manifest"
    return ""


@lru_cache(maxsize=None)
def _old_fingerprint(method: str, dataset: str, old: Path) -> str:
    return fingerprint(method, dataset, root=old)


@lru_cache(maxsize=None)
def _differs(method: str, dataset: str, old: Path) -> tuple[str, ...]:
    return tuple(differs(method, dataset, old))


@lru_cache(maxsize=None)
def _data_part(dataset: str, old: Path) -> frozenset[str]:
    return frozenset(data_files(dataset, old)) | frozenset(data_files(dataset))


def _load_key(ident: Mapping[str, Any]) -> str:
    return json.dumps([ident["dataset"], ident["protocol"], dict(ident["dataset_options"] or {})], sort_keys=True)


def _installed_package() -> Path:
    import xmr

    return Path(xmr.__file__).resolve().parent
