"""Wikipedia cross-modal dataset (Rasiwasia et al., 2010; Pereira et al., 2014).

The release's original features: 128-d SIFT bag-of-visual-words histograms and
10-d LDA topic posteriors, 2866 pairs in 10 categories, official split 2173 / 693.

Protocols
---------
``dscmr`` (default; the DACSL paper, following DSCMR)
    train = the 2173 official training pairs; val = the first 231 rows of the
    official test list; test = the remaining 462.
``official`` (the conventional baselines: CCA, GMA, LCFS, JFSSL)
    train 2173, test 693; val = a seeded stratified 10% of train, so model
    selection never sees the test pairs.
``smcr`` (the SMCR paper, 2292 train / 574 test)
    SMCR does not publish its split, so all 2866 pairs are split by a seeded
    stratified draw of 574 test pairs; val = a seeded stratified 10% of train.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checksums import require, verify
from .dataset import Dataset, Split
from .overlap import check_dedupe, drop_test_pairs, feature_duplicates
from .splits import stratified_split

PROTOCOLS = ("dscmr", "official", "smcr")
DEFAULT_PROTOCOL = "dscmr"
FILES = [
    "wikipedia/raw_features.mat",
    "wikipedia/trainset_txt_img_cat.list",
    "wikipedia/testset_txt_img_cat.list",
    "wikipedia/categories.list",
]
SOURCE = (
    "Rasiwasia et al., ACM MM 2010; Pereira et al., TPAMI 2014. Original 128-d SIFT BoW image "
    "and 10-d LDA text features (JFSSL-Cross-Modal-Retrieval release, wikipedia_info/)."
)
SMCR_TEST_SIZE = 574
VAL_FRACTION = 0.1


def _read_list(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ids, labels = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            text_id, image_id, label = line.split("\t")
            ids.append(f"{text_id}|{image_id}")
            labels.append(int(label) - 1)
    return np.array(ids), np.array(labels, dtype=np.int64)


def load(root: Path, protocol: str | None = None, *, seed: int = 0, dedupe: bool = False) -> Dataset:
    """Load Wikipedia under ``protocol`` (see the module docstring); ``seed`` fixes the drawn splits.

    ``dedupe=True`` drops the test pairs whose image or text feature row equals a
    train or val row (:mod:`xmr.data.overlap`); the default keeps the published split.
    """
    from scipy.io import loadmat

    protocol = protocol or DEFAULT_PROTOCOL
    if protocol not in PROTOCOLS:
        raise ValueError(f"wikipedia has protocols {PROTOCOLS}, not {protocol!r}")
    dedupe = check_dedupe(dedupe, "wikipedia")
    require(root, FILES, "wikipedia")
    verify(root, FILES)
    mat = loadmat(root / "wikipedia/raw_features.mat")
    tr_ids, tr_lab = _read_list(root / "wikipedia/trainset_txt_img_cat.list")
    te_ids, te_lab = _read_list(root / "wikipedia/testset_txt_img_cat.list")
    classes = tuple(c.strip() for c in (root / "wikipedia/categories.list").read_text().split() if c.strip())
    train = Split(mat["I_tr"].astype(np.float32), mat["T_tr"].astype(np.float32), tr_lab, tr_ids)
    test = Split(mat["I_te"].astype(np.float32), mat["T_te"].astype(np.float32), te_lab, te_ids)

    options: dict = {}
    if protocol == "dscmr":
        val, test = test.subset(np.arange(231)), test.subset(np.arange(231, len(test)))
    else:
        options["seed"] = seed
        if protocol == "smcr":
            everything = _concat(train, test)
            rest, held = stratified_split(everything.labels, SMCR_TEST_SIZE, seed)
            train, test = everything.subset(rest), everything.subset(held)
        rest, held = stratified_split(train.labels, VAL_FRACTION, seed + 1)
        train, val = train.subset(rest), train.subset(held)
    ds = Dataset("wikipedia", protocol, classes, train, val, test, SOURCE, options)
    return drop_test_pairs(ds, feature_duplicates(ds)) if dedupe else ds


def _concat(a: Split, b: Split) -> Split:
    return Split(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ("image", "text", "labels", "ids")))
