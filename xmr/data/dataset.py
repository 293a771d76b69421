"""The in-memory shape every loader returns: a :class:`Dataset` of three :class:`Split` s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Split", "Dataset"]


@dataclass(frozen=True)
class Split:
    """One split: row ``i`` of ``image``, ``text``, ``labels`` and ``ids`` is one image-text pair."""

    image: np.ndarray  # float32 (n, d_image)
    text: np.ndarray  # float32 (n, d_text)
    labels: np.ndarray  # int64 (n,), 0-based
    ids: np.ndarray  # (n,), the pair's identifier in the source release

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("image", "text"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.dtype != np.float32:
                raise ValueError(f"Split.{name} must be a float32 2-D array, got {arr.dtype} {arr.shape}")
            if len(arr) != n:
                raise ValueError(f"Split.{name} has {len(arr)} rows but labels has {n}")
        if self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise ValueError(f"Split.labels must be int64 1-D, got {self.labels.dtype} {self.labels.shape}")
        if len(self.ids) != n:
            raise ValueError(f"Split.ids has {len(self.ids)} rows but labels has {n}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "Split":
        """Rows ``index`` of this split, as a new split."""
        return Split(self.image[index], self.text[index], self.labels[index], self.ids[index])


@dataclass(frozen=True)
class Dataset:
    """A cross-modal dataset under one protocol (split scheme)."""

    name: str
    protocol: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()  # ids of the published test pairs left out by dedupe=True

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def dims(self) -> tuple[int, int]:
        """(image feature dimension, text feature dimension)."""
        return self.train.image.shape[1], self.train.text.shape[1]

    def card(self) -> str:
        """A plain-text dataset card: pairs per split, per-class counts, dimensions, source."""
        lines = [f"dataset   {self.name} (protocol {self.protocol})"]
        if self.options:
            lines.append("options   " + ", ".join(f"{k}={v}" for k, v in sorted(self.options.items())))
        lines.append(f"features  image {self.dims[0]}-d, text {self.dims[1]}-d")
        lines.append("pairs     " + ", ".join(f"{k} {len(s)}" for k, s in self.splits.items()))
        if self.options.get("dedupe"):
            n = len(self.dropped)
            lines.append(
                f"dedupe    {n} test pair{'s' * (n != 1)} dropped (image or text identical to a train/val item)"
                + (": " + ", ".join(self.dropped) if n else "")
            )
        width = max(len(c) for c in self.classes)
        lines.append("")
        lines.append(f"{'class':<{width}}  " + "  ".join(f"{k:>5}" for k in self.splits))
        for i, c in enumerate(self.classes):
            counts = "  ".join(f"{int((s.labels == i).sum()):>5}" for s in self.splits.values())
            lines.append(f"{c:<{width}}  {counts}")
        if self.source:
            lines += ["", f"source    {self.source}"]
        return "\n".join(lines)
