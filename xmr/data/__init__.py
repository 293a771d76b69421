"""Verified loading of every dataset in the study.

>>> ds = xmr.data.load("wikipedia")                     # protocol "dscmr"
>>> ds.train.image.shape, ds.val.text.shape, ds.test.labels[:3]

Datasets: ``wikipedia`` (protocols ``dscmr``, ``official``, ``smcr``), ``pascal``
(needs the unreleased training image features), ``pascal100`` (5-fold CV on the
100 Pascal pairs that have both modalities), ``web_news_cn`` (raw news images and
texts, features extracted by xmr). Your own features: :func:`from_arrays`.
Test items identical to a train/val item: :func:`duplicates`; every loader takes
``dedupe=True`` to drop those test pairs (default: the published split).

Layer: imports only :mod:`xmr.paths`, :mod:`xmr.io` and :mod:`xmr.features` (the news loader extracts
features); nothing about methods, training, the study or the book.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..paths import data_root
from . import pack, pascal, wikipedia
from .dataset import Dataset, Split
from .errors import ChecksumError, DataNotFoundError, DataUnavailableError
from .overlap import feature_duplicates

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "load", "names", "from_arrays", "duplicates", "Dataset", "Split",
    "DataNotFoundError", "ChecksumError", "DataUnavailableError",
]

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "wikipedia": wikipedia.load,
    "pascal": pascal.load,
    "pascal100": pascal.load_cv,
}

try:  # the news set needs the optional feature-extraction extras only to extract
    from . import web_news_cn

    _LOADERS["web_news_cn"] = web_news_cn.load
except ImportError:  # pragma: no cover - module not present yet
    pass


def names() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS)


def load(name: str, *, root: str | os.PathLike[str] | None = None, protocol: str | None = None, **options: Any) -> Dataset:
    """Load dataset ``name`` from the data root (``root``, else ``$XMR_DATA_DIR``, else ``./data``).

    Every raw file is checked against its published sha256 first. ``protocol`` picks
    the split scheme (each dataset's default when ``None``); ``options`` are passed
    to the dataset's loader (e.g. ``seed=`` for drawn splits, ``fold=`` for
    ``pascal100``, ``text_features=`` for ``web_news_cn``, ``dedupe=True`` for any
    dataset to drop the test pairs that :func:`duplicates` finds).

    With ``$XMR_DATA_PACK`` naming a pack (:mod:`xmr.data.pack`, ``xmr data pack``), the
    variants it holds are read from it, checked against their recorded sha256.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(names())}")
    packed = os.environ.get(pack.ENV)
    if packed and root is None:  # a machine without the raw files (xmr.data.pack)
        ds = pack.lookup(packed, name, protocol, options)
        if ds is not None:
            return ds
    return _LOADERS[name](data_root(root), protocol, **options)


def duplicates(
    dataset: str | Dataset, *, root: str | os.PathLike[str] | None = None, protocol: str | None = None, **options: Any
) -> "pd.DataFrame":
    """Test items whose image or text is identical to an item of train or val.

    ``dataset`` is a loaded :class:`Dataset` or a name (then ``protocol`` and
    ``options`` select the splits as in :func:`load`). Raw-file datasets
    (``web_news_cn``) compare the files' bytes and never extract features; the
    others compare feature rows exactly. One row per (test item, modality, identical
    train/val item), columns ``split, id, modality, match_split, match_id``;
    :func:`xmr.data.overlap.summary` prints it.
    """
    if isinstance(dataset, Dataset):
        if dataset.name == "web_news_cn" and dataset.protocol != "custom" and "web_news_cn" in _LOADERS:
            raw = web_news_cn.read_raw(root)
            return web_news_cn.find_duplicates(raw, {k: s.ids for k, s in dataset.splits.items()})
        return feature_duplicates(dataset)
    if dataset not in _LOADERS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(names())}")
    if dataset == "web_news_cn":
        return web_news_cn.duplicates(data_root(root), protocol, **options)
    return feature_duplicates(load(dataset, root=root, protocol=protocol, **options))


def from_arrays(
    name: str,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    classes: list[str] | None = None,
) -> Dataset:
    """Wrap your own (image, text, labels) arrays per split as a :class:`Dataset`.

    This is how the original VGG19 / Doc2Vec feature files the papers used can be
    run through the same methods: load them with scipy or numpy and pass them here.
    Labels must be 0-based integers. :func:`xmr.experiments.run` checks the splits against each other before
    anything trains (:func:`xmr.data.consistency.check`: the same feature sizes, a class name per label, no
    val/test class unseen in train, at least 2 classes in test).
    """
    splits = []
    for split_name, (img, txt, lab) in zip(("train", "val", "test"), (train, val, test)):
        lab = np.asarray(lab).ravel()
        if lab.size and (lab.min() < 0 or not np.issubdtype(lab.dtype, np.integer)):
            raise ValueError(f"{split_name} labels must be 0-based integers")
        ids = np.array([f"{split_name}_{i}" for i in range(len(lab))])
        splits.append(Split(np.asarray(img, np.float32), np.asarray(txt, np.float32), lab.astype(np.int64), ids))
    n_classes = int(max(s.labels.max() for s in splits if len(s))) + 1
    classes = tuple(classes) if classes else tuple(str(i) for i in range(n_classes))
    return Dataset(name, "custom", classes, *splits, source="user-supplied arrays")
