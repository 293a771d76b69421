"""A book scale: how many seeds, epochs, folds and grid points every chapter runs. Defined here once.

``full`` is the papers' protocol: 5 seeds, each method's own epochs (the papers'
settings), all 5 ``pascal100`` folds, and SMCR's α, β ∈ {0.1, 1, 10, 100}. ``smoke``
only checks that every chapter runs: 1 seed, 4 epochs (the fewest that CMDN's three
training stages accept), 1 fold and a 2 × 2 grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

__all__ = ["Scale", "SCALES", "scale", "parse_seeds"]


@dataclass(frozen=True)
class Scale:
    """The settings a book scale fixes for every chapter.

    ``epochs=None`` means each method's own default; ``device=None`` CUDA when available,
    else CPU; ``folds`` are the ``pascal100`` folds run; ``grid`` the α / β values of SMCR's
    sensitivity experiment.
    """

    name: str
    seeds: tuple[int, ...]
    epochs: int | None
    device: str | None
    folds: tuple[int, ...]
    grid: tuple[float, ...]
    #: A build that only exercises the machinery (smoke): its pages say so, and the multiverse and the power plan's
    #: campaign run a sample of what they declare instead of all of it.
    sampled: bool = False

    def parameters(self) -> dict[str, Any]:
        """The papermill parameters that rebuild this scale in a notebook (only what differs from the named scale)."""
        base = SCALES[self.name]
        params: dict[str, Any] = {"scale": self.name}
        if self.seeds != base.seeds:
            params["seeds"] = list(self.seeds)
        if self.epochs != base.epochs:
            params["epochs"] = self.epochs
        if self.device is not None:
            params["device"] = self.device
        return params


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", (0,), 4, None, (0,), (0.1, 10.0), sampled=True),
    "full": Scale("full", (0, 1, 2, 3, 4), None, None, (0, 1, 2, 3, 4), (0.1, 1.0, 10.0, 100.0)),
}


def scale(name: str | Scale = "full", *, seeds: Sequence[int] | None = None, epochs: int | None = None,
          device: str | None = None) -> Scale:
    """The named scale (``"full"`` or ``"smoke"``) with any of seeds, epochs and device overridden."""
    if isinstance(name, Scale):
        base = name
    elif name in SCALES:
        base = SCALES[name]
    else:
        raise ValueError(f"unknown scale {name!r}; use one of: {', '.join(SCALES)}")
    if isinstance(seeds, str):  # papermill's -p seeds "0-4" or "[0,1,2]", or a notebook's parameter cell
        seeds = parse_seeds(seeds)
    if seeds is not None:
        seeds = tuple(int(s) for s in seeds)
        if not seeds:
            raise ValueError("seeds is empty: give at least one seed, e.g. [0] or 0-4")
    if epochs is not None and int(epochs) < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    return replace(base, seeds=seeds if seeds is not None else base.seeds,
                   epochs=int(epochs) if epochs is not None else base.epochs,
                   device=device if device is not None else base.device)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,5-6"`` -> [0, 2, 5, 6]; ``"[0, 1, 2]"`` (a list written as text, as
    ``papermill -p seeds "[0,1,2]"`` passes it) -> [0, 1, 2]."""
    out: list[int] = []
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo):
                raise ValueError(f"bad seed range {part!r}; write e.g. 0-4")
            out.extend(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            out.append(int(part))
        else:
            raise ValueError(f"bad seed {part!r}; write e.g. 0-4 or 0,1,2")
    return out
