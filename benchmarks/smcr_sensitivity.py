"""SMCR's parameter-sensitivity experiment (paper 003, Section 6.3, Fig. 2) in one call.

alpha, beta in {0.1, 1, 10, 100} on Wikipedia (``smcr`` protocol); prints test mAP@50
for txt2img, img2txt and their average (the three panels of Fig. 2), one table each,
rows alpha and columns beta, averaged over the seeds given. Every run goes through
:func:`xmr.experiments.grid`, so repeated calls reuse the results cache.

    XMR_DATA_DIR=../shared/data python benchmarks/smcr_sensitivity.py [--seeds 0] [--epochs N]

``--epochs`` caps training (the default is SMCR's own, with its validation early stopping).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from xmr import experiments

GRID = [0.1, 1, 10, 100]


def sensitivity(seeds: list[int], epochs: int | None = None, dataset: str = "wikipedia",
                protocol: str = "smcr", device: str | None = None) -> pd.DataFrame:
    """One row per (alpha, beta, seed): the grid's runs (cached)."""
    return experiments.grid("smcr", dataset, {"alpha": GRID, "beta": GRID}, protocol=protocol,
                            seeds=seeds, epochs=epochs, device=device)


def panels(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Fig. 2's three panels: mean over seeds of mAP@50, rows alpha, columns beta."""
    return {name: table.pivot_table(index="alpha", columns="beta", values=col, aggfunc="mean")
            for name, col in (("txt2img", "t2i@50"), ("img2txt", "i2t@50"), ("average", "avg@50"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--epochs", type=int, default=None, help="cap on epochs (default: SMCR's)")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    table = sensitivity(seeds, args.epochs, device=args.device)
    for name, panel in panels(table).items():
        print(f"\nmAP@50 {name} (rows alpha, columns beta; mean over seeds {seeds})")
        print(panel.round(4).to_string())
    avg = panels(table)["average"]
    print(f"\naverage mAP@50: min {avg.values.min():.4f}, max {avg.values.max():.4f}, "
          f"spread {avg.values.max() - avg.values.min():.4f}")
    print(f"{len(table)} runs ({int(table['cached'].sum())} cached) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
