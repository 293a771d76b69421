"""Seeds 0-4 test mAP of DACSL, DSCMR and SMCR on Wikipedia and the news set, for one version of the code.

Issue 15 changed defaults (input normalisation per feature set, SMCR's Algorithm-1 schedule)
on validation evidence; this records what that did to the reported numbers. Run it once
with the code before the change and once after, appending to the same file:

    git worktree add ../before f817647
    (cd ../before && PYTHONPATH=$PWD XMR_RESULTS_DIR=/tmp/before python ../main/benchmarks/before_after.py before OUT)
    python benchmarks/before_after.py after OUT

A finished (tag, method, dataset, seed) already in OUT is skipped, so an interrupted run resumes.
Further arguments keep only some jobs, as METHOD or METHOD:DATASET (e.g. ``dscmr:wikipedia``), or set
a hyperparameter of every kept job, as KEY=JSON (e.g. ``input_norm="standardize"``). DSCMR's only change
in issue 15 was its ``input_norm`` default, so its "before" is today's code with
``input_norm="standardize"``: checked identical to the old code to the last digit (Wikipedia, seed 0,
3 epochs: avg .19784911620486315 both), which lets the news set's "before" run where the old code cannot
(a GPU machine with a data pack).
Each record names the device it trained on (CUDA when available); compare tags on one device.
It prints one JSON line per run and, at the end, the mean per tag, method and dataset.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

import xmr
import xmr.experiments as ex

JOBS = [("smcr", "wikipedia", "smcr", {}), ("smcr", "web_news_cn", None, {"text_features": "bow"}),
        ("dacsl", "wikipedia", "dscmr", {}), ("dacsl", "web_news_cn", None, {"text_features": "doc2vec"}),
        ("dscmr", "wikipedia", "dscmr", {}), ("dscmr", "web_news_cn", None, {"text_features": "doc2vec"})]
#: Trained with the seeds batched together (both tags alike), because 500 epochs per seed
#: one at a time is hours on 2 CPU cores; the batched trainer is the book's default path.
BATCHED = {"dscmr"} if os.environ.get("XMR_BA_BATCHED", "1") != "0" else set()  # 0: seed by seed, resumable


def main(tag: str, out: Path, keep: list[str] | None = None) -> None:
    sets = {k: json.loads(v) for k, v in (a.split("=", 1) for a in keep or [] if "=" in a)}
    keep = [a for a in keep or [] if "=" not in a]
    done = set()
    if out.is_file():
        done = {(r["tag"], r["method"], r["dataset"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    print(f"{tag}: xmr from {xmr.__file__}", flush=True)
    for method, dataset, protocol, opts in JOBS:
        if keep and method not in keep and f"{method}:{dataset}" not in keep:
            continue
        todo = [seed for seed in range(5) if (tag, method, dataset, seed) not in done]
        groups = [todo] if method in BATCHED and todo else [[seed] for seed in todo]
        for seeds in groups:
            started = time.time()
            runs = ex.run(method, dataset, protocol=protocol, seeds=seeds, dataset_options=opts or None,
                          batched=method in BATCHED, **sets).runs
            for r in runs:
                seed = r["seed"]
                rec = {"tag": tag, "method": method, "dataset": dataset, "options": opts, "seed": seed, "avg": r["avg"],
                       "i2t": r["i2t"], "t2i": r["t2i"], "best_epoch": r["best_epoch"],
                       "seconds": round((time.time() - started) / len(seeds), 1),
                       "input_norm": r["hparams"].get("input_norm"), "batched": method in BATCHED,
                       "device": "cuda" if torch.cuda.is_available() else "cpu"}
                with out.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(json.dumps(rec), flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for key in sorted({(r["tag"], r["method"], r["dataset"]) for r in rows}):
        vals = [r["avg"] for r in rows if (r["tag"], r["method"], r["dataset"]) == key]
        print(*key, f"mean avg mAP {sum(vals) / len(vals):.4f} over {len(vals)} seed(s)")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
