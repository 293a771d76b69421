"""The results cache: one JSON file per finished run, keyed by a hash of everything that determines it.

The key (:func:`run_key`) is a stable hash of the run's identity (:func:`identity`):
method, dataset, protocol, dataset options (for your own arrays, a hash of them),
every hyperparameter (defaults merged with overrides), the ablated terms, the
epochs, the seed, ``data``, the digest of the bytes it reads (:func:`data_digest`), ``xmr.__version__`` and
``code``, the fingerprint of the source
that determines the run (:func:`xmr.fingerprint.fingerprint`: the method's module
and what it imports, the engine, the metrics, the dataset's loader; comments and
docstrings do not count). A code fix therefore gets a new key and new numbers; the
old entry is never served again (``xmr cache prune`` deletes such stale entries).

Files live in :func:`xmr.paths.results_dir`, ``<method>/<key>.json``, and are
written atomically, so a reader sees either a whole entry or none. An entry that
cannot be parsed, or whose stored identity does not match the requested one, is
treated as absent (and overwritten by the next run). With no entry in the cache, :func:`load`
reads the results archive committed with the code (:mod:`xmr.archive`) under the same checks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from . import __version__, archive
from .data import content as data_content
from .fingerprint import fingerprint
from .io import _json_default, stable_hash, write_json_atomic  # the writer's own encoder: the digest sees what is written
from .paths import results_dir

__all__ = ["identity", "data_digest", "run_key", "entry_path", "load", "store", "provenance", "entries", "Entry", "judge",
           "make_entry", "write_entry", "cpu_model", "device_type", "digest", "damage", "inconsistencies", "seal",
           "REQUIRED_FIELDS", "IDENTITY_FIELDS"]

#: Fields every stored run has; an entry missing one is ignored.
REQUIRED_FIELDS = ("i2t", "t2i", "avg", "at", "best_epoch", "epochs", "seconds", "last_epoch", "history", "pr")
#: The fields of :func:`identity`; an entry whose identity has others is from an older layout.
IDENTITY_FIELDS = ("method", "dataset", "protocol", "dataset_options", "hparams", "without", "epochs", "seed",
                   "data", "version", "code")


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
    """Everything that determines a run's numbers, as a JSON-able dict (``code``: the code fingerprint)."""
    return {
        "method": method,
        "dataset": dataset,
        "protocol": protocol,
        "dataset_options": dict(dataset_options or {}),
        "hparams": dict(hparams),
        "without": sorted(without),
        "epochs": epochs,
        "seed": int(seed),
        "data": data_digest(dataset, dataset_options),
        "version": __version__,
        "code": fingerprint(method, dataset),
    }


def data_digest(dataset: str, dataset_options: Mapping[str, Any] | None = None) -> str | None:
    """The digest of the data a run reads, its identity's ``data``: for your own arrays the hash of the arrays
    (``dataset_options["fingerprint"]``, :func:`xmr.experiments.dataset_fingerprint`); for a dataset of the package
    the digest of the sha256 manifest its files must match before anything trains or is served beside them
    (:func:`xmr.data.content.digest`); ``None`` for a name with neither."""
    own = (dataset_options or {}).get("fingerprint")
    if own is not None:
        return str(own)
    return data_content.digest(dataset) if dataset in data_content.FOLDERS else None


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
        entry = None
    run = _served(entry, ident)
    if run is None and root is None:  # not in the cache: the committed archive, under the same checks
        run = _served(archive.lookup(str(ident["method"]), run_key(ident)), ident)
    return run


def _served(entry: Any, ident: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run of ``entry`` if it is a whole, intact entry for exactly ``ident`` (:func:`damage` finds nothing),
    else ``None``."""
    if not isinstance(entry, dict) or entry.get("key") != run_key(ident) or entry.get("identity") != json.loads(
        json.dumps(dict(ident), sort_keys=True)
    ):
        return None
    run = entry.get("run")
    if not isinstance(run, dict) or any(f not in run for f in REQUIRED_FIELDS) or damage(entry):
        return None
    return run


def digest(entry: Mapping[str, Any]) -> str:
    """The sha256 of an entry's ``key``, ``identity`` and ``run`` in canonical JSON: written with the entry and checked
    on every read, so a record changed after it was written (a bit flipped on disk, an edited number) is never served.

    It protects against corruption and accidental edits; a deliberate edit that also rewrites the digest is caught
    by git's history of ``archive/`` and by ``xmr verify`` (which re-trains records and compares)."""
    body = {k: entry.get(k) for k in ("key", "identity", "run")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()).hexdigest()


#: How far a run's average may be from the mean of its two tasks (the mean of two floats, computed once).
_CONSISTENCY_TOL = 1e-9


def inconsistencies(run: Mapping[str, Any]) -> list[str]:
    """What is internally wrong with a run's numbers: an average that is not the mean of its two tasks (whole
    ranking and every mAP@K), a selected epoch that is not in the history or whose validation score differs."""
    out = []

    def check(where: str, scores: Any) -> None:
        if isinstance(scores, Mapping) and all(isinstance(scores.get(t), (int, float)) for t in ("i2t", "t2i", "avg")):
            if abs(scores["avg"] - (scores["i2t"] + scores["t2i"]) / 2) > _CONSISTENCY_TOL:
                out.append(f"{where}: avg {scores['avg']:.6g} is not the mean of i2t and t2i")

    check("mAP", run)
    at = run.get("at") or {}
    for k, scores in (at.items() if isinstance(at, Mapping) else ()):
        check(f"mAP@{k}", scores)
    best, history = run.get("best_epoch"), run.get("history") or []
    if best is not None and isinstance(history, list) and history:
        picked = [h for h in history if isinstance(h, Mapping) and h.get("epoch") == best]
        val_best = run.get("val_best")
        val = val_best.get("avg") if isinstance(val_best, Mapping) else None
        if not picked:
            out.append(f"the selected epoch {best} is not in the history")
        elif isinstance(val, (int, float)) and isinstance(picked[0].get("val_avg"), (int, float)) \
                and abs(picked[0]["val_avg"] - val) > _CONSISTENCY_TOL:
            out.append(f"the selected epoch's validation avg {picked[0]['val_avg']:.6g} is not the recorded best "
                       f"{val:.6g}")
    return out


def damage(entry: Mapping[str, Any]) -> str:
    """Why an entry must not be served although it reads as JSON ("" when intact): no digest, a digest that does not
    match (changed after it was written), or numbers that contradict each other (:func:`inconsistencies`)."""
    if "digest" not in entry:
        return "no digest (written before records were sealed: `xmr archive seal` / `xmr cache seal`, or retrain)"
    if entry["digest"] != digest(entry):
        return "digest mismatch: the record was changed after it was written"
    problems = inconsistencies(entry.get("run") or {})
    return "inconsistent: " + "; ".join(problems) if problems else ""


def store(ident: Mapping[str, Any], run: Mapping[str, Any], root: Path | None = None, *,
          device: str | None = None) -> Path:
    """Write ``run`` for ``ident`` atomically, with its :func:`provenance`; returns the entry's path."""
    return write_entry(make_entry(ident, run, device=device), root)


def make_entry(ident: Mapping[str, Any], run: Mapping[str, Any], *, device: str | None = None) -> dict[str, Any]:
    """The stored form of a finished run: ``key``, ``identity``, ``run``, its :func:`digest` and ``provenance``."""
    entry = {"key": run_key(ident), "identity": dict(ident), "run": dict(run), "provenance": provenance(device)}
    # the digest of the entry as it will be read back (JSON turns tuples into lists)
    entry["digest"] = digest(json.loads(json.dumps({k: entry[k] for k in ("key", "identity", "run")},
                                                   default=_json_default)))
    return entry


def write_entry(entry: Mapping[str, Any], root: Path | None = None) -> Path:
    """Store an entry made by :func:`make_entry` (e.g. returned by a worker on another machine) atomically.

    Its key must be that of its identity (else ``ValueError``: nothing is written), so a
    damaged entry never lands under a key it does not belong to. Writing the same entry
    twice leaves one file.
    """
    ident = entry["identity"]
    if entry.get("key") != run_key(ident):
        raise ValueError(f"entry key {entry.get('key')!r} is not the key of its identity ({run_key(ident)}); not stored")
    if why := damage(entry):  # e.g. a worker's record changed on its way back: refused, nothing written
        raise ValueError(f"entry {entry['key']} ({ident.get('method')}): {why}; not stored")
    path = entry_path(ident, root)
    write_json_atomic(path, {k: entry[k] for k in ("key", "identity", "run", "digest", "provenance")})
    return path


def seal(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with its :func:`digest` (for records written before digests existed); refuses an entry whose numbers
    are inconsistent, so sealing never blesses a damaged record."""
    problems = inconsistencies(entry.get("run") or {})
    if problems:
        raise ValueError(f"entry {entry.get('key')}: not sealed, its numbers are inconsistent: {'; '.join(problems)}")
    return {**entry, "digest": digest(entry)}


def provenance(device: str | None = None) -> dict[str, Any]:
    """What produced an entry without determining its key: library versions, torch's thread count
    (a different thread count can change the last float digits of some kernels), the device it
    trained on (a GPU's kernels sum in another order than a CPU's) and the date (UTC)."""
    import datetime
    import platform
    import sys

    out: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "cpu": cpu_model(),
                           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if device:
        out["device"] = device
        if device.startswith("cuda"):
            import torch

            out["device_name"] = torch.cuda.get_device_name(torch.device(device))
    torch = sys.modules.get("torch")  # only when a deep method ran: no import just for this
    if torch is not None:
        out.update(torch=torch.__version__, threads=torch.get_num_threads())
    return out


def device_type(device: Any) -> str:
    """``cpu`` or ``cuda`` (the type, without the index) for a provenance's ``device``; an entry without
    one (closed-form fits, older entries) was made on the CPU."""
    missing = device is None or device != device or device == ""  # device != device: NaN, a gap in a frame
    return "cpu" if missing else str(device).split(":")[0]


def cpu_model() -> str:
    """The processor's model name (Linux ``/proc/cpuinfo``, else :func:`platform.processor`) and the
    vector instruction level torch dispatches to (e.g. ``AVX2``): another CPU can take other vector
    kernels and so other last digits, like another thread count. A virtual machine's model name can
    be as vague as "AMD EPYC", so the level is what tells two of them apart."""
    import platform

    name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        return f"{name} ({torch.backends.cpu.get_cpu_capability()})"
    except (ImportError, AttributeError):  # pragma: no cover - torch is a dependency
        return name


class Entry(NamedTuple):
    """One stored file, as :func:`entries` sees it."""

    method: str  # its directory
    path: Path
    size: int  # bytes on disk
    state: str  # "current", "stale" (never served again: safe to delete), "damaged" (changed after it was written or
    # inconsistent: never served, its run trains again) or "unknown" (method not registered here)
    reason: str  # why stale / unknown; "" when current


def entries(root: Path | None = None) -> list[Entry]:
    """Every stored entry under ``root`` (default :func:`results_dir`), sorted by method then file name.

    An entry is current when :func:`load` would serve it to a request made with the
    code of this process: same identity layout, same ``xmr.__version__``, same code
    fingerprint for its method and dataset, complete and readable. Entries of a
    method this process does not know (e.g. one registered from your own module)
    cannot be judged and are ``"unknown"``.
    """
    from .methods import registry

    root = root or results_dir()
    known = set(registry.names())
    out = []
    for path in sorted(root.glob("*/*.json")) if root.is_dir() else []:
        size = path.stat().st_size
        state, reason = _state(path, root, known)
        out.append(Entry(path.parent.name, path, size, state, reason))
    return out


def _state(path: Path, root: Path, known: set[str]) -> tuple[str, str]:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return "stale", "unreadable"
    state, reason = judge(entry, known)
    if state == "current" and (path.parent.name != entry["identity"]["method"]
                               or entry_path(entry["identity"], root) != path):
        return "stale", "key mismatch or incomplete"
    return state, reason


def judge(entry: Any, known: set[str] | None = None) -> tuple[str, str]:
    """``("current", "")`` when a request made with this process's code would be served ``entry``
    (a cache entry or archive record), else ``("stale", why)`` or ``("unknown", why)``."""
    try:
        ident = entry["identity"]
        method, dataset = ident["method"], ident["dataset"]
        if not isinstance(method, str) or not isinstance(dataset, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        return "stale", "unreadable"
    if known is None:
        from .methods import registry

        known = set(registry.names())
    if method not in known:
        return "unknown", f"method {method!r} is not registered"
    if set(ident) != set(IDENTITY_FIELDS):
        return "stale", "no code fingerprint" if "code" not in ident else "older identity layout"
    if ident["version"] != __version__:
        return "stale", f"xmr {ident['version']}"
    if ident["code"] != fingerprint(method, dataset):
        return "stale", "code changed"
    if ident["data"] != data_digest(dataset, ident["dataset_options"] if isinstance(ident["dataset_options"], Mapping)
                                    else None):
        return "stale", "data changed (another release's manifest)"
    if why := damage(entry) if isinstance(entry, Mapping) else "unreadable":
        return "damaged", why
    if _served(entry, ident) is None:
        return "stale", "key mismatch or incomplete"
    return "current", ""
