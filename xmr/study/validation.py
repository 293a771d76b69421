"""Choosing a reading on the validation split, never on test.

A default that is not justified a priori is chosen by validation avg mAP over
several seeds (:class:`xmr.methods.readings.Reading`, ``basis="validation"``).
:func:`validate` trains a method once per value of one option and seed with
``evaluate_test=False``: the engine selects the epoch on validation as usual and
then stops, so the test split is never read, not even by accident.

The study's evidence was produced by :func:`run_jobs` over an exported *bundle*
(:func:`export_bundle`): the train and validation splits of each dataset as
``.npz`` files and an empty test split, so a machine that runs the sweep (a GPU
lent for a few minutes) never holds a test item. Every record lands in
:data:`xmr.methods.readings.EVIDENCE_FILE` as one JSON line.

    python -m xmr.study.validation export BUNDLE          # here, with the data
    python -m xmr.study.validation run BUNDLE study OUT.jsonl --resume --workers 12 --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import data as xdata
from ..methods import registry
from ..methods.readings import feature_set
from ..engine import resolve_hparams, train

__all__ = ["validate", "export_bundle", "load_bundle", "run_jobs", "pending", "study_jobs", "BUNDLE_SETTINGS"]

#: The datasets the study's readings are decided on: name -> (dataset, protocol, options).
BUNDLE_SETTINGS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "wikipedia": ("wikipedia", "dscmr", {}),
    "wikipedia_smcr": ("wikipedia", "smcr", {}),
    **{f"pascal_f{k}": ("pascal100", None, {"fold": k}) for k in range(5)},
    "news_doc2vec": ("web_news_cn", None, {"text_features": "doc2vec"}),
    "news_bow": ("web_news_cn", None, {"text_features": "bow"}),
}


NORMS = ["none", "standardize", "l2"]
#: Which feature sets each deep method is run on in the book (the readings are decided there).
STUDY_SETTINGS: dict[str, list[str]] = {
    "dscmr": ["wikipedia", "pascal", "news_doc2vec", "news_bow"],
    "dacsl": ["wikipedia", "pascal", "news_doc2vec"],
    "smcr": ["wikipedia_smcr", "news_bow"],
    "acmr": ["wikipedia", "pascal", "news_doc2vec", "news_bow"],
    "dcca": ["wikipedia", "pascal", "news_doc2vec"],
    "drsl": ["wikipedia", "pascal", "news_doc2vec"],
    "cmdn": ["wikipedia_smcr", "news_bow"],
    "ssacr": ["wikipedia_smcr", "news_bow"],
}
#: SMCR's Algorithm-1 readings, each tried under every input normalisation.
#: (Explicit in every key, so that a record means the same whatever the defaults are when it is read.)
SMCR_SCHEDULES: list[dict[str, Any]] = [
    {"g_steps": 1, "d_order": "before"},
    {"g_steps": 1, "d_order": "after"},
    {"g_steps": 5, "d_order": "before"},
    {"optimizer": "sgd", "lr": 0.01},
    {"optimizer": "sgd", "lr": 0.1},
]


def study_jobs() -> list[dict[str, Any]]:
    """The sweep behind the study's validation-based defaults, most important first: input
    normalisation for every deep method and feature set; DACSL's triplet reduction; SMCR's
    Algorithm-1 schedule and optimiser; DACSL's triplet sampling. Seeds 0-2; ``pascal100`` folds
    0-4 with seed 0."""
    def expand(method: str, setting: str, option: str, value: Any, fixed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        base = {"method": method, "option": option, "values": [value], "fixed": dict(fixed or {})}
        if setting == "pascal":
            return [{**base, "setting": f"pascal_f{k}", "seeds": [0]} for k in range(5)]
        return [{**base, "setting": setting, "seeds": [0, 1, 2]}]

    jobs: list[dict[str, Any]] = []
    for method in ("dscmr", "dacsl", "smcr"):
        for setting in STUDY_SETTINGS[method]:
            for norm in NORMS:
                jobs += expand(method, setting, "input_norm", norm)
    for setting in STUDY_SETTINGS["dacsl"]:
        for norm in NORMS:
            jobs += expand("dacsl", setting, "input_norm", norm, {"triplet_reduction": "sum"})
    for setting in STUDY_SETTINGS["smcr"]:
        for schedule in SMCR_SCHEDULES:
            for norm in NORMS:
                jobs += expand("smcr", setting, "input_norm", norm, schedule)
    for method in ("acmr", "dcca", "drsl", "cmdn", "ssacr"):
        for setting in STUDY_SETTINGS[method]:
            for norm in NORMS:
                jobs += expand(method, setting, "input_norm", norm)
    for setting in STUDY_SETTINGS["dacsl"]:  # the default "all" is the input_norm runs at the defaults
        for sampling in ("random", "batch_hard"):
            jobs += expand("dacsl", setting, "triplet_sampling", sampling)
    return jobs


def validate(
    method: str,
    dataset: xdata.Dataset,
    *,
    option: str | None,
    values: Sequence[Any] = (None,),
    seeds: Iterable[int] = (0, 1, 2),
    fixed: Mapping[str, Any] | None = None,
    features: str | None = None,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Validation avg mAP of ``method`` on ``dataset`` for each value of ``option`` and each seed.

    ``fixed`` are further overrides held constant; ``features`` names the feature set
    whose per-feature defaults apply (default: from the dataset). One record per
    (value, seed); the test split is never read.
    """
    spec = registry.get(method)
    if spec.kind != "deep":
        raise ValueError(f"{method} is closed-form: it has no validation selection to compare readings with")
    seeds = [int(s) for s in seeds]
    fixed = dict(fixed or {})
    features = features or feature_set(dataset.name, dataset.options)
    records = []
    for value in values:
        overrides = {**fixed, **({option: value} if option else {})}
        hp = resolve_hparams(spec, overrides, features=features)
        started = time.perf_counter()
        runs = train(spec, dataset, hp, seeds=seeds, device=device, evaluate_test=False)
        for seed, (res, _) in zip(seeds, runs):
            records.append({
                "method": spec.name, "features": features, "option": option, "value": value, "fixed": fixed,
                "seed": seed, "fold": dataset.options.get("fold"),
                "val_avg": res["val_best"]["avg"], "val_i2t": res["val_best"]["i2t"], "val_t2i": res["val_best"]["t2i"],
                "best_epoch": res["best_epoch"], "epochs": res["epochs"], "hp": hp,
                "seconds": round((time.perf_counter() - started) / len(seeds), 2),
            })
    return records


# ---------------------------------------------------------------- bundles: train + val only
def export_bundle(folder: str | Path, settings: Iterable[str] | None = None) -> list[Path]:
    """Write each setting's train and validation splits to ``folder/<name>.npz`` (no test items)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in settings or BUNDLE_SETTINGS:
        dataset, protocol, options = BUNDLE_SETTINGS[name]
        ds = xdata.load(dataset, protocol=protocol, **options)
        arrays: dict[str, Any] = {"meta": np.array(json.dumps({
            "name": ds.name, "protocol": ds.protocol, "options": ds.options, "classes": list(ds.classes),
            "features": feature_set(dataset, options)}))}
        for split in ("train", "val"):
            s = ds.splits[split]
            arrays.update({f"{split}_image": s.image, f"{split}_text": s.text, f"{split}_labels": s.labels})
        path = folder / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        written.append(path)
    return written


def load_bundle(path: str | Path) -> tuple[xdata.Dataset, str]:
    """A bundle file as a :class:`~xmr.data.Dataset` with an empty test split, and its feature set."""
    z = np.load(path)
    meta = json.loads(str(z["meta"]))
    train = (z["train_image"], z["train_text"], z["train_labels"])
    val = (z["val_image"], z["val_text"], z["val_labels"])
    empty = (np.zeros((0, train[0].shape[1]), np.float32), np.zeros((0, train[1].shape[1]), np.float32),
             np.zeros(0, np.int64))
    ds = xdata.from_arrays(meta["name"], train, val, empty, classes=meta["classes"])
    ds.options.update(meta["options"])
    return ds, meta["features"]


def _run_job(args: tuple[str, dict[str, Any], str | None]) -> list[dict[str, Any]]:
    folder, job, device = args
    import torch

    torch.set_num_threads(1)
    ds, features = load_bundle(Path(folder) / f"{job['setting']}.npz")
    recs = validate(job["method"], ds, option=job.get("option"), values=job.get("values", [None]),
                    seeds=job.get("seeds", [0, 1, 2]), fixed=job.get("fixed"), features=features, device=device)
    for r in recs:
        r["setting"] = job["setting"]
        r["device"] = torch.cuda.get_device_name() if device and device.startswith("cuda") else "cpu"
    return recs


def _job_key(method: str, setting: str, value: Any, fixed: Mapping[str, Any] | None) -> str:
    return json.dumps([method, setting, value, dict(fixed or {})], sort_keys=True)


def pending(jobs: Sequence[Mapping[str, Any]], recorded: Iterable[Path]) -> list[dict[str, Any]]:
    """The jobs (one value each) with no record yet in any of the ``recorded`` JSON-lines files,
    so an interrupted sweep resumes where it stopped."""
    done = set()
    for path in recorded:
        if Path(path).is_file():
            for line in Path(path).read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    done.add(_job_key(r["method"], r["setting"], r["value"], r["fixed"]))
    out = []
    for job in jobs:
        for value in job.get("values", [None]):
            if _job_key(job["method"], job["setting"], value, job.get("fixed")) not in done:
                out.append({**job, "values": [value]})
    return out


def run_jobs(folder: str | Path, jobs: Sequence[Mapping[str, Any]], out: str | Path, *, workers: int = 1,
             device: str | None = None) -> int:
    """Run every job (``{"method", "setting", "option", "values", "seeds", "fixed"}``) over the bundle
    in ``folder``, ``workers`` processes at a time, appending each finished job's records to ``out``."""
    import multiprocessing as mp

    out = Path(out)
    args = [(str(folder), dict(job), device) for job in jobs]
    done = 0
    with out.open("a") as fh:
        if workers <= 1:
            results: Iterable[list[dict[str, Any]]] = map(_run_job, args)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(workers)
            results = pool.imap_unordered(_run_job, args)
        try:
            for recs in results:
                for r in recs:
                    fh.write(json.dumps(r, sort_keys=True) + "\n")
                fh.flush()
                done += 1
                print(f"[{done}/{len(args)}] {recs[0]['method']} {recs[0]['setting']} {recs[0]['option']}", flush=True)
        finally:
            if pool is not None:
                pool.terminate()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xmr.study.validation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="write the train + val bundle")
    ex.add_argument("folder")
    ex.add_argument("--settings", default=None, help="comma-separated subset of " + ", ".join(BUNDLE_SETTINGS))
    sub.add_parser("jobs", help="print the study's job list (JSON)")
    rn = sub.add_parser("run", help="run a job list over a bundle")
    rn.add_argument("folder")
    rn.add_argument("jobs", help="JSON file: a list of jobs, or 'study' for the study's sweep (study_jobs)")
    rn.add_argument("out", help="JSON-lines file to append records to")
    rn.add_argument("--workers", type=int, default=1)
    rn.add_argument("--device", default=None)
    rn.add_argument("--resume", nargs="*", default=None, metavar="JSONL",
                    help="skip jobs already recorded in these files (default with no file: OUT and the study's evidence)")
    args = parser.parse_args(argv)
    if args.cmd == "export":
        for p in export_bundle(args.folder, args.settings.split(",") if args.settings else None):
            print(p, f"{p.stat().st_size / 1e6:.1f} MB")
        return 0
    if args.cmd == "jobs":
        print(json.dumps(study_jobs(), indent=0))
        return 0
    jobs = study_jobs() if args.jobs == "study" else json.loads(Path(args.jobs).read_text())
    if args.resume is not None:
        from ..methods.readings import EVIDENCE_FILE

        jobs = pending(jobs, [Path(p) for p in args.resume] or [Path(args.out), EVIDENCE_FILE])
        print(f"{len(jobs)} job(s) not yet recorded", flush=True)
    run_jobs(args.folder, jobs, args.out, workers=args.workers, device=args.device)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
