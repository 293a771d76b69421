"""Whether a :class:`~xmr.data.Dataset` can be trained and scored at all: the checks :func:`xmr.experiments.run`
makes before anything trains, so that a dataset built from your own arrays (:func:`xmr.data.from_arrays`) that no
method could use fails at once with what is wrong, not late with a raw torch error or with a meaningless score.

A :class:`~xmr.data.dataset.Split` already checks itself (float32 2-D features, as many rows as labels); this
module checks the splits against each other and against the class list.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset

__all__ = ["problems", "check"]


def problems(ds: Dataset) -> list[str]:
    """Every reason ``ds`` cannot be trained and scored meaningfully (empty when it can)."""
    out = []
    splits = ds.splits
    for name in ("train", "test"):
        if len(splits[name]) == 0:
            out.append(f"the {name} split is empty")
    for modality, col in (("image", 0), ("text", 1)):
        dims = {name: s.image.shape[1] if col == 0 else s.text.shape[1] for name, s in splits.items() if len(s)}
        if len(set(dims.values())) > 1:
            out.append(f"the {modality} features have different sizes across splits "
                       f"({', '.join(f'{k} {v}' for k, v in dims.items())}); every split needs the same feature columns")
    n = len(ds.classes)
    for name, s in splits.items():
        if len(s) and int(s.labels.max()) >= n:
            out.append(f"{name} labels go up to {int(s.labels.max())}, but there are {n} classes "
                       f"({', '.join(ds.classes[:5])}{', ...' if n > 5 else ''}); give one class name per label 0 .. max")
    trained = set(np.unique(ds.train.labels).tolist())
    for name in ("val", "test"):
        unseen = sorted(set(np.unique(splits[name].labels).tolist()) - trained)
        if unseen:
            out.append(f"{name} labels {unseen[:10]}{' ...' if len(unseen) > 10 else ''} never occur in train: a "
                       f"supervised method cannot learn them (check the label coding of each split)")
    if len(ds.test) and len(np.unique(ds.test.labels)) < 2:
        out.append("the test split holds a single class: every retrieved item is relevant and mAP is 1.0 whatever the "
                   "method; retrieval needs at least 2 classes in test")
    return out


def check(ds: Dataset) -> None:
    """Raise a :class:`ValueError` listing every :func:`problems` of ``ds``."""
    found = problems(ds)
    if found:
        raise ValueError(f"dataset {ds.name!r} cannot be used as it is:\n  - " + "\n  - ".join(found))
