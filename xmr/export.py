"""Every archived run as one tidy table: one row per (run, task, metric), for analysis outside xmr.

:func:`tidy_runs` turns archive records (:mod:`xmr.archive`) into a :class:`pandas.DataFrame`;
:func:`export_runs` (``xmr results export PATH``) writes the whole archive to ``PATH``, as CSV
(``.csv``, ``.csv.gz``) or Parquet (``.parquet``, needs ``pyarrow``), atomically: a failed write
leaves the old file, or none, never half a table. How many rows a run gives: count them in the
export (``df.groupby("key").size()``); tasks are ``i2t``, ``t2i``, ``avg``, metrics ``mAP`` (the
full ranking) and ``mAP@K`` for each K the run records.

Layer: beside :mod:`xmr.archive`; imports only :mod:`xmr.archive`, :mod:`xmr.io`, :mod:`xmr.paths`, pandas.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from .archive import records
from .io import atomic_path
from .paths import archive_dir

__all__ = ["tidy_runs", "archive_table", "write_table", "export_runs", "COLUMNS", "TASKS", "FORMATS"]

#: The tasks of a run, in table order.
TASKS = ("i2t", "t2i", "avg")
#: What :func:`write_table` writes, by how the path's name ends.
FORMATS = {".csv": "csv", ".csv.gz": "csv.gz", ".parquet": "parquet"}
#: The table's columns, in order.
COLUMNS = ("key", "method", "dataset", "protocol", "fold", "seed", "without", "hparams", "dataset_options",
           "epochs", "epochs_run", "best_epoch", "task", "metric", "value", "code", "version", "seconds",
           "device", "device_name", "cpu", "machine", "threads", "torch", "python", "date")
_INTS = ("fold", "seed", "epochs", "epochs_run", "best_epoch", "threads")
_STRS = ("key", "method", "dataset", "protocol", "without", "hparams", "dataset_options", "task", "metric", "code",
         "version", "device", "device_name", "cpu", "machine", "torch", "python", "date")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _number(value: Any, kind: type) -> Any:
    """``kind(value)`` (int or float), or None for a missing, boolean or unreadable value."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    return _number(value, int)


def _float(value: Any) -> float | None:
    return _number(value, float)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _metrics(run: Mapping[str, Any]) -> list[tuple[str, int, str, int, float]]:
    """``(task, task order, metric, metric order, value)`` for every value the run holds; a missing one gives no row."""
    out: list[tuple[str, int, str, int, float]] = []
    at = run.get("at") if isinstance(run.get("at"), Mapping) else {}
    ks = sorted((k for k in at if _int(k) is not None), key=int)
    for t, task in enumerate(TASKS):
        if (v := _float(run.get(task))) is not None:
            out.append((task, t, "mAP", 0, v))
        for k in ks:
            cell = at[k]
            if isinstance(cell, Mapping) and (v := _float(cell.get(task))) is not None:
                out.append((task, t, f"mAP@{int(k)}", int(k), v))
    return out


def tidy_runs(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, task, metric) of archive or cache ``records`` (``key``, ``identity``, ``run``,
    ``provenance``), sorted by method, key, task (i2t, t2i, avg) and metric (mAP, then mAP@K by K).

    ``fold`` comes from the dataset options (NA without one), ``without`` joins the ablated terms with
    ``+`` (empty for the full objective), ``hparams`` and ``dataset_options`` are JSON with sorted keys,
    ``epochs`` is the requested budget, ``epochs_run`` the epochs trained and ``best_epoch`` the
    selected one (both NA for a closed-form fit). A record without a ``run`` gives no rows."""
    rows: list[dict[str, Any]] = []
    for rec in records:
        run = rec.get("run")
        if isinstance(run, str):
            try:
                run = json.loads(run)
            except ValueError:
                continue
        if not isinstance(run, Mapping):
            continue
        ident = rec.get("identity") or {}
        prov = rec.get("provenance") or {}
        options = ident.get("dataset_options")
        base = {
            "key": _str(rec.get("key")), "method": _str(ident.get("method")), "dataset": _str(ident.get("dataset")),
            "protocol": _str(ident.get("protocol")),
            "fold": _int(options.get("fold")) if isinstance(options, Mapping) else None,
            "seed": _int(ident.get("seed")), "without": "+".join(str(w) for w in (ident.get("without") or [])),
            "hparams": _json(ident.get("hparams") or {}), "dataset_options": _json(options),
            "epochs": _int(ident.get("epochs")), "epochs_run": _int(run.get("epochs")),
            "best_epoch": _int(run.get("best_epoch")), "code": _str(ident.get("code")),
            "version": _str(ident.get("version")), "seconds": _float(run.get("seconds")),
            **{c: _str(prov.get(c)) for c in ("device", "device_name", "cpu", "machine", "torch", "python", "date")},
            "threads": _int(prov.get("threads")),
        }
        for task, t_order, metric, m_order, value in _metrics(run):
            rows.append({**base, "task": task, "metric": metric, "value": value, "_t": t_order, "_m": m_order})
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "_t", "_m"])
    for col in _INTS:
        frame[col] = frame[col].astype("Int64")
    for col in ("value", "seconds"):
        frame[col] = frame[col].astype("float64")
    for col in _STRS:
        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    frame = frame.sort_values(["method", "key", "_t", "_m"], kind="stable", na_position="last")
    return frame.drop(columns=["_t", "_m"]).reset_index(drop=True)


def _format(path: Path) -> str:
    """The format ``path`` asks for, checked before anything is read or written."""
    name = path.name.lower()
    fmt = next((f for suffix, f in sorted(FORMATS.items(), key=lambda s: -len(s[0])) if name.endswith(suffix)), None)
    if fmt is None:
        raise ValueError(f"cannot tell the format of {path}: end the name in {', '.join(FORMATS)}")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ValueError(f"writing {path} needs pyarrow: install it (pip install pyarrow) or export to .csv / .csv.gz")
    if path.is_dir():
        raise ValueError(f"{path} is a directory: name a file")
    if not path.parent.is_dir():
        raise ValueError(f"the directory {path.parent} does not exist: create it first or name another path")
    return fmt


def write_table(frame: pd.DataFrame, path: Path) -> int:
    """Write ``frame`` to ``path`` (format from the name: ``.csv``, ``.csv.gz``, ``.parquet``) atomically;
    returns the rows written. A missing parent directory, an unknown suffix or Parquet without pyarrow
    raise :class:`ValueError` and write nothing. The same frame gives the same CSV bytes."""
    path = Path(path)
    fmt = _format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, engine="pyarrow", index=False)
        else:
            data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
            if fmt == "csv":
                tmp.write_bytes(data)
            else:  # no name and mtime 0 in the gzip header: reproducible bytes
                with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
                    fh.write(data)
        os.chmod(tmp, _mode(path))
    return len(frame)


def _mode(path: Path) -> int:
    """The replaced file's permissions, else what the umask gives a new file (not the temporary file's 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def archive_table(root: Path | None = None) -> pd.DataFrame:
    """:func:`tidy_runs` of every record in the archive at ``root`` (default :func:`xmr.paths.archive_dir`);
    :class:`ValueError` when it holds no run."""
    root = Path(root) if root is not None else archive_dir()
    frame = tidy_runs(records(root=root))
    if frame.empty:
        raise ValueError(f"the archive {root} holds no runs: nothing to export (xmr archive status)")
    return frame


def export_runs(path: Path, root: Path | None = None) -> int:
    """Write every run of the archive at ``root`` (default :func:`xmr.paths.archive_dir`) to ``path`` as one
    tidy table (:func:`tidy_runs`, :func:`write_table`); returns the rows written. The path is checked
    before the archive is read; an empty archive raises :class:`ValueError`."""
    path = Path(path)
    _format(path)
    return write_table(archive_table(root), path)
