"""Pascal Sentence (Rashtchian et al., 2010) on the DSCMR authors' released features.

Images: 4096-d VGG19 fc7; texts: 300-d sentence-CNN features; 20 classes, 50 pairs
each. The public release lacks ``train_img.mat`` (800 x 4096), so:

``pascal`` (protocol ``dscmr``, the DACSL paper's Table 1)
    train 800 / test 100, val = a seeded stratified 10% of train (the DSCMR code
    selected its epoch on the test set; we do not). Needs ``train_img.mat``: drop
    it (MATLAB file, key ``train_img``) into ``pascal_sentence/dscmr/`` and this
    loader runs the full experiment; without it, :class:`DataUnavailableError`.
``pascal100`` (protocol ``cv5``)
    The 100 test pairs, which have both modalities, as a 5-fold stratified
    cross-validation: for ``fold=k`` the test split is fold k, val is fold k+1
    (mod 5), train the other three folds (60 / 20 / 20 pairs).

Both take ``dedupe=True`` to drop the test pairs whose image or text feature row
equals a train or val row (:mod:`xmr.data.overlap`; none do in the release).

The release does not name its label indices; they are taken as the categories
in alphabetical order (as the captions file sorts them), which only affects
printed class names, never results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checksums import require, verify
from .dataset import Dataset, Split
from .overlap import check_dedupe, drop_test_pairs, feature_duplicates
from .errors import DataUnavailableError
from .splits import stratified_folds, stratified_split

D = "pascal_sentence/dscmr/"
FILES = [D + f for f in ("train_txt.mat", "test_txt.mat", "test_img.mat", "train_img_lab.mat", "test_img_lab.mat")]
CAPTIONS = "pascal_sentence/captions/pascal_sentences.json"
TRAIN_IMG = D + "train_img.mat"
# Of the module's first dataset, ``pascal`` (``pascal100`` has "cv5"): known without loading.
DEFAULT_PROTOCOL = "dscmr"
SOURCE = (
    "Rashtchian et al., NAACL-HLT 2010 workshop; features released by Zhen et al. (DSCMR, CVPR 2019): "
    "4096-d VGG19 fc7 images, 300-d sentence-CNN texts."
)
N_FOLDS = 5


def _mat(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    return loadmat(path)[key]


def _classes(root: Path) -> tuple[str, ...]:
    require(root, [CAPTIONS], "pascal")
    verify(root, [CAPTIONS])
    data = json.loads((root / CAPTIONS).read_text())
    return tuple(sorted({v["category"] for v in data.values()}))


def _test_split(root: Path) -> Split:
    img = _mat(root / (D + "test_img.mat"), "test_img").astype(np.float32)
    txt = _mat(root / (D + "test_txt.mat"), "test_txt").astype(np.float32)
    lab = _mat(root / (D + "test_img_lab.mat"), "test_img_lab").ravel().astype(np.int64)
    return Split(img, txt, lab, np.array([f"test_{i:03d}" for i in range(len(lab))]))


def _finish(ds: Dataset, dedupe: bool) -> Dataset:
    return drop_test_pairs(ds, feature_duplicates(ds)) if dedupe else ds


def load(root: Path, protocol: str | None = None, *, seed: int = 0, dedupe: bool = False) -> Dataset:
    """Full Pascal Sentence (800 / 100): needs the unreleased ``train_img.mat``."""
    protocol = protocol or DEFAULT_PROTOCOL
    if protocol != "dscmr":
        raise ValueError(f"pascal has the protocol 'dscmr' only, not {protocol!r} (see also 'pascal100')")
    dedupe = check_dedupe(dedupe, "pascal")
    require(root, FILES, "pascal")
    if not (root / TRAIN_IMG).is_file():
        raise DataUnavailableError(
            f"pascal: the training image features {TRAIN_IMG} (800 x 4096 VGG19 fc7, MATLAB key 'train_img') "
            f"are missing from {root.resolve()}. They are absent from every public copy of the DSCMR release "
            "reachable here. If you have the file, put it at "
            f"{(root / TRAIN_IMG).resolve()} and load again; otherwise use 'pascal100' (5-fold CV on the 100 "
            "test pairs)."
        )
    verify(root, FILES)
    classes = _classes(root)
    img = _mat(root / TRAIN_IMG, "train_img").astype(np.float32)
    txt = _mat(root / (D + "train_txt.mat"), "train_txt").astype(np.float32)
    lab = _mat(root / (D + "train_img_lab.mat"), "train_img_lab").ravel().astype(np.int64)
    if img.shape != (len(lab), 4096):
        raise ValueError(f"{root / TRAIN_IMG}: expected an (800, 4096) 'train_img' array, got {img.shape}")
    train = Split(img, txt, lab, np.array([f"train_{i:03d}" for i in range(len(lab))]))
    rest, held = stratified_split(lab, 0.1, seed)
    ds = Dataset(
        "pascal", protocol, classes, train.subset(rest), train.subset(held), _test_split(root), SOURCE, {"seed": seed}
    )
    return _finish(ds, dedupe)


def load_cv(root: Path, protocol: str | None = None, *, fold: int = 0, seed: int = 0, dedupe: bool = False) -> Dataset:
    """``pascal100``: fold ``fold`` (0..4) of a seeded 5-fold stratified CV on the 100 test pairs."""
    protocol = protocol or "cv5"
    if protocol != "cv5":
        raise ValueError(f"pascal100 has the protocol 'cv5' only, not {protocol!r}")
    if not 0 <= fold < N_FOLDS:
        raise ValueError(f"pascal100: fold must be in 0..{N_FOLDS - 1}, got {fold}")
    dedupe = check_dedupe(dedupe, "pascal100")
    require(root, FILES, "pascal100")
    verify(root, FILES)
    pairs = _test_split(root)
    folds = stratified_folds(pairs.labels, N_FOLDS, seed)
    val_fold = (fold + 1) % N_FOLDS
    train_idx = np.sort(np.concatenate([f for k, f in enumerate(folds) if k not in (fold, val_fold)]))
    ds = Dataset(
        "pascal100", protocol, _classes(root),
        pairs.subset(train_idx), pairs.subset(folds[val_fold]), pairs.subset(folds[fold]),
        SOURCE + " Only the 100 test pairs have both modalities publicly.", {"fold": fold, "seed": seed},
    )
    return _finish(ds, dedupe)
