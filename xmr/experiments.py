"""The experiments API the notebooks and the CLI use: run a method, get pandas tables back.

>>> res = xmr.experiments.run("dscmr", "wikipedia", seeds=range(5))
>>> res.table            # one row per seed: test mAP (whole ranking, @5/@25/@50), epochs, timings
>>> res.summary()        # mean and std over seeds
>>> res.history          # per-epoch loss terms and validation mAP
>>> res.pr               # the test precision-recall curves of the selected states
>>> xmr.experiments.grid("smcr", "wikipedia", {"alpha": [0.1, 1], "beta": [0.1, 1]}, seeds=range(3))

Every run is cached (:mod:`xmr.results`); asking again returns the stored run.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from . import data as xdata
from .data import content as data_content
from .data.consistency import check as check_dataset
from .data.pack import ENV as PACK_ENV
from .data.protocols import default_protocol
from . import results as cache_mod
from .methods import registry
from .paths import results_dir
from .methods.readings import feature_set
from .engine import AT_K, resolve_device, resolve_hparams, train

__all__ = ["Results", "RunSpec", "Execution", "REPLAY", "run", "run_spec", "replay", "grid", "planned_runs", "METRIC_COLUMNS",
           "cli_summary"]

_AT_COLUMNS = [f"{task}@{k}" for k in AT_K for task in ("i2t", "t2i", "avg")]
#: The numeric columns of :attr:`Results.table` that :meth:`Results.summary` aggregates.
METRIC_COLUMNS = ["i2t", "t2i", "avg", *_AT_COLUMNS, "best_epoch", "epochs", "seconds",
                  "last_i2t", "last_t2i", "last_avg", "val_avg_best",
                  "test_best_i2t", "test_best_t2i", "test_best_avg", "test_best_epoch"]


@dataclass
class Results:
    """The runs of one method on one dataset, one per seed (as stored in the cache)."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """One row per seed: identity, test mAP (whole ranking and @5/@25/@50), selection, timing
        (and, for runs with ``track_test``, ``test_best_{epoch,i2t,t2i,avg}``: what test-set selection reports)."""
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {k: r[k] for k in ("method", "dataset", "protocol", "seed")}
            row["without"] = ",".join(r.get("without", []))
            row.update(i2t=r["i2t"], t2i=r["t2i"], avg=r["avg"])
            for k in AT_K:
                for task in ("i2t", "t2i", "avg"):
                    row[f"{task}@{k}"] = r["at"][str(k)][task]
            row.update(best_epoch=r["best_epoch"], epochs=r["epochs"], seconds=r["seconds"])
            last = r.get("last_epoch") or {}
            row.update(last_i2t=last.get("i2t"), last_t2i=last.get("t2i"), last_avg=last.get("avg"))
            row["val_avg_best"] = (r.get("val_best") or {}).get("avg")
            if r.get("test_best"):  # runs with track_test only
                row.update({f"test_best_{k}": v for k, v in r["test_best"].items()})
            row["cached"] = bool(r.get("cached", False))
            rows.append(row)
        table = pd.DataFrame(rows)
        for col in METRIC_COLUMNS:  # None -> NaN, so closed-form rows stay numeric
            if col in table:
                table[col] = pd.to_numeric(table[col])
        return table

    @property
    def history(self) -> pd.DataFrame:
        """Per-epoch records: seed, epoch, one column per loss term, ``loss``, val_i2t, val_t2i, val_avg."""
        frames = [pd.DataFrame(r["history"]).assign(seed=r["seed"]) for r in self.runs if r["history"]]
        if not frames:
            return pd.DataFrame(columns=["seed", "epoch", "val_i2t", "val_t2i", "val_avg"])
        df = pd.concat(frames, ignore_index=True)
        return df[["seed"] + [c for c in df.columns if c != "seed"]]

    @property
    def pr(self) -> pd.DataFrame:
        """Test precision-recall curves of the selected states: seed, task, recall, precision."""
        rows = []
        for r in self.runs:
            for task, curve in r["pr"].items():
                for rec, prec in zip(curve["recall"], curve["precision"]):
                    rows.append({"seed": r["seed"], "task": task, "recall": rec, "precision": prec})
        return pd.DataFrame(rows, columns=["seed", "task", "recall", "precision"])

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation (ddof=1; 0 for one seed) over seeds of the metric columns."""
        t = self.table[[c for c in METRIC_COLUMNS if c in self.table]]
        return pd.DataFrame({"mean": t.mean(), "std": t.std(ddof=1).fillna(0.0) if len(t) > 1 else t.mean() * 0})

    def __repr__(self) -> str:
        if not self.runs:
            return "Results(no runs)"
        t = self.table
        return f"Results({t['method'][0]} on {t['dataset'][0]}/{t['protocol'][0]}, seeds {list(t['seed'])}, avg mAP {t['avg'].mean():.4f})"


def _stderr_progress(prefix: str) -> Callable[[dict[str, Any]], None]:
    def report(rec: dict[str, Any]) -> None:
        if "epoch" in rec:
            terms = " ".join(f"{k}={v:.4g}" for k, v in rec.items()
                             if k not in ("epoch", "epochs", "best_epoch") and isinstance(v, float) and not k.startswith("val_"))
            print(f"{prefix} epoch {rec['epoch']}/{rec['epochs']} {terms} val_avg={rec['val_avg']:.4f} "
                  f"(best epoch {rec['best_epoch']})", file=sys.stderr, flush=True)
        else:
            print(f"{prefix} fitted", file=sys.stderr, flush=True)
    return report


@dataclass(frozen=True)
class RunSpec:
    """What identifies a run: for each of its seeds, the cache identity (:func:`xmr.results.identity`) follows from
    these fields and the code. How it is executed is :class:`Execution`, never part of it.

    ``dataset`` is a name (:func:`xmr.data.names`) or your own :class:`xmr.data.Dataset`; ``hparams`` override the
    method's defaults by name; ``without`` ablates loss terms; ``epochs`` overrides the method's epoch count.
    """

    method: str
    dataset: str | xdata.Dataset
    protocol: str | None = None
    seeds: tuple[int, ...] = (0,)
    epochs: int | None = None
    without: tuple[str, ...] = ()
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    hparams: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_identity(cls, ident: Mapping[str, Any]) -> RunSpec:
        """The spec that reproduces a stored identity (an archive record's or a cache entry's ``identity``): its one
        seed, and its hyperparameters as given (``epochs`` is the identity's own field; under ``d_lr_scale`` the
        unused ``d_lr`` is dropped, since a run refuses both)."""
        hparams = {k: v for k, v in dict(ident["hparams"]).items() if k != "epochs"}
        if hparams.get("d_lr_scale") is not None:
            hparams.pop("d_lr", None)
        return cls(str(ident["method"]), str(ident["dataset"]), ident["protocol"], (int(ident["seed"]),),
                   ident["epochs"], tuple(ident["without"] or ()), dict(ident["dataset_options"] or {}), hparams)


@dataclass(frozen=True)
class Execution:
    """How a :class:`RunSpec` is executed: nothing here changes a reported number, so nothing here is in a cache key.

    ``device``: a torch device (default CUDA when available, else CPU). ``cache=False`` recomputes (and refreshes
    the stored entry). ``progress=True`` prints per-epoch progress to standard error (or give a callable).
    ``batched=True`` trains the uncached seeds of a deep method together (:mod:`xmr.engine.batched`; same cache
    keys and result fields, falling back to one seed at a time for methods that cannot be batched); ``False``
    always trains seed by seed; ``None`` batches on CUDA only, where it pays (see :func:`xmr.engine.train`).
    ``sparse=True``: a sparse input's first layer computes on its nonzeros (:mod:`xmr.engine.sparse`; equal to the
    dense path within float tolerance). ``track_test=True`` also records each epoch's test mAP (deep methods; the
    model-selection chapter's diagnostic, see :mod:`xmr.engine.select`): a cached run without that record is
    trained again and its entry replaced by the fuller one. ``sink``: each finished seed's entry
    (:func:`xmr.results.make_entry`) goes to this callable instead of the results cache (a worker on another
    machine returns it to the driver).
    """

    device: str | None = None
    cache: bool = True
    batched: bool | None = None
    sparse: bool | None = None
    progress: bool | Callable[[dict[str, Any]], None] = False
    track_test: bool = False
    sink: Callable[[dict[str, Any]], None] | None = None


#: How :func:`replay` re-trains by default: on the CPU, seed by seed, never from the cache.
REPLAY = Execution(device="cpu", cache=False, batched=False)


def run(
    method: str,
    dataset: str | xdata.Dataset,
    *,
    protocol: str | None = None,
    seeds: Sequence[int] | Iterable[int] = (0,),
    epochs: int | None = None,
    without: Iterable[str] = (),
    device: str | None = None,
    cache: bool = True,
    dataset_options: dict | None = None,
    progress: bool | Callable[[dict[str, Any]], None] = False,
    batched: bool | None = None,
    track_test: bool = False,
    sink: Callable[[dict[str, Any]], None] | None = None,
    sparse: bool | None = None,
    **hparams: Any,
) -> Results:
    """Run (or fetch from the cache) ``method`` on ``dataset`` for each seed: :func:`run_spec` of the
    :class:`RunSpec` these arguments identify, executed as the :class:`Execution` the others describe (``device``,
    ``cache``, ``progress``, ``batched``, ``track_test``, ``sink``, ``sparse``: see there).

    ``dataset`` may also be a :class:`xmr.data.Dataset` (e.g. from :func:`xmr.data.from_arrays`); its cache key
    then includes a hash of its arrays.
    """
    return run_spec(RunSpec(method, dataset, protocol, tuple(seeds), epochs, tuple(without), dict(dataset_options or {}),
                            dict(hparams)),
                    Execution(device, cache, batched, sparse, progress, track_test, sink))


def replay(identity: Mapping[str, Any], execution: Execution = REPLAY) -> Results:
    """Re-train the run a stored identity describes (``xmr verify``): :meth:`RunSpec.from_identity`, executed as
    ``execution`` (default :data:`REPLAY`). The entry it makes has the identity's key exactly when the code is the
    code that made it (its fingerprint is part of the key)."""
    return run_spec(RunSpec.from_identity(identity), execution)


def run_spec(what: RunSpec, execution: Execution = Execution()) -> Results:
    """Run (or fetch from the cache) ``what`` for each of its seeds, executed as ``execution``."""
    method, dataset, hparams = what.method, what.dataset, dict(what.hparams)
    cache, progress, batched, track_test = execution.cache, execution.progress, execution.batched, execution.track_test
    sink, sparse, device = execution.sink, execution.sparse, execution.device
    req = _request(method, dataset, protocol=what.protocol, seeds=what.seeds, epochs=what.epochs, without=what.without,
                   dataset_options=dict(what.dataset_options) or None, hparams=hparams)
    spec, seeds, without, hp, ds, dataset, protocol, options, idents = (
        req.spec, req.seeds, req.without, req.hp, req.ds, req.dataset, req.protocol, req.options, req.idents)
    done: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        stored = _stored(spec, idents[seed], track_test) if cache else None
        if stored is not None:
            done[seed] = {**idents[seed], **stored, "cached": True}
    todo = [seed for seed in dict.fromkeys(seeds) if seed not in done]
    # your own arrays (hashed into the key), a dataset without a manifest, or a pack (it checks its own sha256)
    unchecked = ds is not None or dataset not in data_content.FOLDERS or bool(os.environ.get(PACK_ENV))
    if done and not unchecked:  # never a result of the published bytes beside data files that differ from them
        data_content.verify(dataset, allow_missing=True)
    if todo:
        if sink is None:
            _check_writable(results_dir())
        if ds is None:
            if dataset in data_content.FOLDERS and not os.environ.get(PACK_ENV):  # a pack checks its own sha256
                data_content.verify(dataset)  # by content, before anything trains: nothing stored from other bytes
            ds = xdata.load(dataset, protocol=protocol, **options)
        check_dataset(ds)
        # before anything trains, the sizes asked for (a method's defaults adapt to small data themselves)
        _check_sizes(spec.name, {k: hp[k] for k in hparams if k in hp}, ds.dims)
        reporters = {seed: progress if callable(progress) else
                     (_stderr_progress(f"[{spec.name} {dataset} seed {seed}]") if progress else None) for seed in todo}

        where = str(resolve_device(device)) if spec.kind == "deep" else "cpu"

        def store(seed: int, result: dict[str, Any]) -> None:  # each seed as it finishes: an interrupted run keeps them
            result = _plain(result)
            if sink is None:
                cache_mod.store(idents[seed], result, device=where)
            else:
                sink(cache_mod.make_entry(idents[seed], result, device=where))
            done[seed] = {**idents[seed], **result, "cached": False}

        train(spec, ds, hp, seeds=todo, without=without, device=device, progress=reporters, batched=batched,
              track_test=track_test, on_result=store, sparse=sparse)
    out = [done[seed] for seed in seeds]
    return Results(out)


class _Request(NamedTuple):
    """A :func:`run` request resolved: the method, the seeds' cache identities, the dataset when loaded."""

    spec: registry.MethodSpec
    seeds: list[int]
    without: list[str]
    hp: dict[str, Any]
    ds: xdata.Dataset | None
    dataset: str
    protocol: str
    options: dict[str, Any]
    idents: dict[int, dict[str, Any]]


def _request(method: str, dataset: str | xdata.Dataset, *, protocol: str | None, seeds: Iterable[int], epochs: int | None,
             without: Iterable[str], dataset_options: dict | None, hparams: Mapping[str, Any]) -> _Request:
    spec = registry.get(method)
    seeds = [_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    if protocol is not None and not str(protocol).strip():  # "" is no protocol: the default, one cache key for it
        protocol = None
    without = sorted(set(without))
    options = dict(dataset_options or {})
    ds = None
    if isinstance(dataset, xdata.Dataset):
        ds, dataset = dataset, dataset.name
        check_dataset(ds)  # before anything is keyed or planned: your own arrays, checked against each other
        if protocol is not None and protocol != ds.protocol:
            raise ValueError(f"protocol {protocol!r} given for a loaded dataset with protocol {ds.protocol!r}")
        protocol = ds.protocol
        options = {**ds.options, **options, "fingerprint": dataset_fingerprint(ds)}
    elif protocol is None:
        protocol = default_protocol(dataset)
        if protocol is None:
            ds = xdata.load(dataset, **options)
            protocol = ds.protocol
    hp = resolve_hparams(spec, hparams, epochs, features=feature_set(dataset, options))
    idents = {seed: cache_mod.identity(spec.name, dataset, protocol, seed, hp, without=without, dataset_options=options,
                                       epochs=hp.get("epochs") if spec.kind == "deep" else None) for seed in seeds}
    return _Request(spec, seeds, without, hp, ds, dataset, protocol, options, idents)


def _check_writable(root: Path) -> None:
    """Refuse to train when the finished run could not be stored (before hours of training are lost)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"the results cache {root} cannot be written ({exc.strerror or exc}); set XMR_CACHE_DIR "
                         f"(or XMR_RESULTS_DIR for the results alone) to a writable directory") from None


def _check_sizes(method: str, hp: Mapping[str, Any], dims: tuple[int, int]) -> None:
    """Sizes asked for (``hp``: the hyperparameters given, not the defaults) that cannot give a meaningful model are
    refused: a common space of fewer than 1 dimension, a hidden layer of fewer than 1 unit, or more components than
    the smaller feature set has (a closed-form fit would clip them silently)."""
    for name in ("dim", "n_components"):
        value = hp.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{method}: {name}={value!r}; it must be a whole number >= 1")
    n = hp.get("n_components")
    if n is not None and n > min(dims):
        raise ValueError(f"{method}: n_components={n} is more than the {min(dims)} dimensions of the smaller feature "
                         f"set (image {dims[0]}, text {dims[1]}); use at most {min(dims)}")
    hidden = hp.get("hidden")
    if isinstance(hidden, (list, tuple)) and any(not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
        raise ValueError(f"{method}: hidden={list(hidden)}; every layer needs a whole number >= 1 of units")


#: Seeds are 0 <= seed < 2**32: what numpy's and torch's generators take the same way (a larger one overflowed in the
#: deep methods while a closed-form fit cached it).
MAX_SEED = 2 ** 32


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) and not (
            isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        raise ValueError(f"seed {value!r} is not an integer; seeds are whole numbers 0 <= seed < 2**32")
    seed = int(value)
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed {seed} is out of range: seeds are 0 <= seed < 2**32 (e.g. 0-4)")
    return seed


def _stored(spec: registry.MethodSpec, ident: Mapping[str, Any], track_test: bool) -> dict[str, Any] | None:
    """The cached run for ``ident``, or None (also when ``track_test`` asks for a per-epoch test record it lacks)."""
    stored = cache_mod.load(ident)
    if stored is not None and track_test and spec.kind == "deep" and "test_best" not in stored:
        return None
    return stored


def planned_runs(
    method: str,
    dataset: str | xdata.Dataset,
    *,
    protocol: str | None = None,
    seeds: Sequence[int] | Iterable[int] = (0,),
    epochs: int | None = None,
    without: Iterable[str] = (),
    dataset_options: dict | None = None,
    track_test: bool = False,
    **hparams: Any,
) -> pd.DataFrame:
    """What :func:`run` with these arguments would do, without training: one row per seed with its
    cache ``key``, whether it is ``cached``, and the identity fields (``device`` / ``batched`` /
    ``progress`` / ``cache`` are accepted and ignored, so a recorded :func:`run` call can be replayed)."""
    for ignored in ("device", "batched", "progress", "cache", "sparse", "sink"):
        hparams.pop(ignored, None)
    req = _request(method, dataset, protocol=protocol, seeds=seeds, epochs=epochs, without=without,
                   dataset_options=dataset_options, hparams=hparams)
    rows = []
    for seed, ident in req.idents.items():
        rows.append({"method": req.spec.name, "kind": req.spec.kind, "dataset": req.dataset, "protocol": req.protocol,
                     "options": ident["dataset_options"], "without": ",".join(req.without), "epochs": ident["epochs"],
                     "hparams": req.hp, "seed": seed, "track_test": bool(track_test and req.spec.kind == "deep"),
                     "key": cache_mod.run_key(ident), "cached": _stored(req.spec, ident, track_test) is not None})
    return pd.DataFrame(rows)


def dataset_fingerprint(ds: xdata.Dataset) -> str:
    """A hash of a dataset's arrays (features, labels, ids of every split)."""
    import hashlib

    h = hashlib.sha256()
    for split in ds.splits.values():
        for arr in (split.image, split.text, split.labels, split.ids.astype(str)):
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _plain(obj: Any) -> Any:
    """numpy scalars/arrays -> Python, so a fresh run equals its cached JSON round trip."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def grid(method: str, dataset: str, param_grid: Mapping[str, Sequence[Any]], **kwargs: Any) -> pd.DataFrame:
    """Run every combination of ``param_grid`` (cached runs are reused); one row per combination x seed.

    ``kwargs`` go to :func:`run` (``seeds``, ``protocol``, ``epochs``, fixed hyperparameters ...).
    The grid's parameters appear as the first columns.
    """
    keys = list(param_grid)
    overlap = set(keys) & set(kwargs)
    if overlap:
        raise ValueError(f"{sorted(overlap)} given both in param_grid and as fixed arguments")
    frames = []
    for values in itertools.product(*(list(param_grid[k]) for k in keys)):
        combo = dict(zip(keys, values))
        table = run(method, dataset, **kwargs, **combo).table
        for k in reversed(keys):
            table.insert(0, k, [combo[k]] * len(table))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def cli_summary(res: Results) -> dict[str, Any]:
    """The ``xmr run --json`` object: one run's fields, or with several seeds the runs plus mean and std."""

    def one(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "method": r["method"], "dataset": r["dataset"], "protocol": r["protocol"], "seed": r["seed"],
            "without": r.get("without", []), "hparams": r["hparams"],
            "i2t": r["i2t"], "t2i": r["t2i"], "avg": r["avg"], "at": r["at"],
            "best_epoch": r["best_epoch"], "epochs": r["epochs"], "seconds": r["seconds"],
            "last_epoch": r["last_epoch"], "cached": r.get("cached", False),
            **({"test_best": r["test_best"]} if r.get("test_best") else {}),
        }

    runs = [one(r) for r in res.runs]
    if len(runs) == 1:
        return runs[0]

    def stats(fn: Callable[[np.ndarray], float]) -> dict[str, Any]:
        def agg(get: Callable[[dict], Any]) -> float | None:
            vals = [get(r) for r in runs]
            return None if any(v is None for v in vals) else float(fn(np.asarray(vals, dtype=np.float64)))
        d: dict[str, Any] = {t: agg(lambda r, t=t: r[t]) for t in ("i2t", "t2i", "avg")}
        d["at"] = {str(k): {t: agg(lambda r, k=k, t=t: r["at"][str(k)][t]) for t in ("i2t", "t2i", "avg")} for k in AT_K}
        d["last_epoch"] = {t: agg(lambda r, t=t: (r["last_epoch"] or {}).get(t)) for t in ("i2t", "t2i", "avg")}
        d["best_epoch"] = agg(lambda r: r["best_epoch"])
        d["seconds"] = agg(lambda r: r["seconds"])
        return d

    mean, std = stats(np.mean), stats(lambda a: np.std(a, ddof=1))
    first = runs[0]
    return {
        "method": first["method"], "dataset": first["dataset"], "protocol": first["protocol"],
        "seed": [r["seed"] for r in runs], "seeds": [r["seed"] for r in runs],
        "without": first["without"], "hparams": first["hparams"],
        "i2t": mean["i2t"], "t2i": mean["t2i"], "avg": mean["avg"], "at": mean["at"],
        "best_epoch": [r["best_epoch"] for r in runs], "epochs": [r["epochs"] for r in runs],
        "seconds": sum(r["seconds"] for r in runs), "last_epoch": mean["last_epoch"],
        "mean": mean, "std": std, "runs": runs,
    }
