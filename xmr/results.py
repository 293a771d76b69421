"""The results cache: one JSON file per finished run, keyed by a hash of everything that determines it.

The key (:func:`run_key`) hashes method, dataset, protocol, dataset options, every
hyperparameter (defaults merged with overrides), the ablated terms, the epochs,
the seed and ``xmr.__version__``. Files live in :func:`xmr.paths.results_dir`,
``<method>/<key>.json``, and are written atomically, so a reader sees either a
whole entry or none. An entry that cannot be parsed, or whose stored identity
does not match its key, is treated as absent (and overwritten by the next run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from . import __version__
from .io import stable_hash, write_json_atomic
from .paths import results_dir

__all__ = ["identity", "run_key", "entry_path", "load", "store", "provenance", "REQUIRED_FIELDS"]

#: Fields every stored run has; an entry missing one is ignored.
REQUIRED_FIELDS = ("i2t", "t2i", "avg", "at", "best_epoch", "epochs", "seconds", "last_epoch", "history", "pr")


def identity(
    method: str,
    dataset: str,
    protocol: str,
    seed: int,
    hparams: Mapping[str, Any],
    *,
    without: Any = (),
    dataset_options: Mapping[str, Any] | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Everything that determines a run's numbers, as a JSON-able dict."""
    return {
        "method": method,
        "dataset": dataset,
        "protocol": protocol,
        "dataset_options": dict(dataset_options or {}),
        "hparams": dict(hparams),
        "without": sorted(without),
        "epochs": epochs,
        "seed": int(seed),
        "version": __version__,
    }


def run_key(ident: Mapping[str, Any]) -> str:
    """The cache key of a run identity (:func:`identity`)."""
    return stable_hash(dict(ident))


def entry_path(ident: Mapping[str, Any], root: Path | None = None) -> Path:
    return (root or results_dir()) / str(ident["method"]) / f"{run_key(ident)}.json"


def load(ident: Mapping[str, Any], root: Path | None = None) -> dict[str, Any] | None:
    """The stored run for ``ident``, or ``None`` when absent, half-written or corrupt."""
    path = entry_path(ident, root)
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable, truncated or not JSON
        return None
    if not isinstance(entry, dict) or entry.get("key") != run_key(ident) or entry.get("identity") != json.loads(
        json.dumps(dict(ident), sort_keys=True)
    ):
        return None
    run = entry.get("run")
    if not isinstance(run, dict) or any(f not in run for f in REQUIRED_FIELDS):
        return None
    return run


def store(ident: Mapping[str, Any], run: Mapping[str, Any], root: Path | None = None) -> Path:
    """Write ``run`` for ``ident`` atomically; returns the entry's path."""
    path = entry_path(ident, root)
    write_json_atomic(path, {"key": run_key(ident), "identity": dict(ident), "run": dict(run), "provenance": provenance()})
    return path


def provenance() -> dict[str, Any]:
    """What produced an entry without determining its key: library versions and torch's thread count
    (a different thread count can change the last float digits of some kernels)."""
    import platform
    import sys

    out: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    torch = sys.modules.get("torch")  # only when a deep method ran: no import just for this
    if torch is not None:
        out.update(torch=torch.__version__, threads=torch.get_num_threads())
    return out
