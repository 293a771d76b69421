"""The data layer on the real files: protocols, splits, verification errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import xmr.data
from xmr.data import ChecksumError, DataNotFoundError, DataUnavailableError
from xmr.data.splits import stratified_folds, stratified_split

pytestmark = pytest.mark.data


def _ids(split) -> set:
    return set(split.ids.tolist())


def _check_dataset(ds, sizes, n_classes, dims):
    assert (len(ds.train), len(ds.val), len(ds.test)) == sizes
    assert ds.dims == dims and len(ds.classes) == n_classes
    for s in ds.splits.values():
        assert s.image.dtype == np.float32 and s.text.dtype == np.float32 and s.labels.dtype == np.int64
        assert s.labels.min() >= 0 and s.labels.max() < n_classes
        assert np.isfinite(s.image).all() and np.isfinite(s.text).all()
    assert not _ids(ds.train) & _ids(ds.val)
    assert not _ids(ds.train) & _ids(ds.test)
    assert not _ids(ds.val) & _ids(ds.test)


@pytest.mark.parametrize(
    "protocol, sizes",
    [("dscmr", (2173, 231, 462)), ("official", (1956, 217, 693)), ("smcr", (2063, 229, 574))],
)
def test_wikipedia_protocols(real_data, protocol, sizes):
    ds = xmr.data.load("wikipedia", protocol=protocol)
    _check_dataset(ds, sizes, 10, (128, 10))
    assert ds.classes[0] == "art" and ds.classes[-1] == "warfare"
    # every one of the 2866 pairs is used exactly once
    assert len(_ids(ds.train) | _ids(ds.val) | _ids(ds.test)) == 2866


def test_wikipedia_dscmr_is_the_published_split(real_data):
    """val = first 231 rows of the official test list, test = the other 462, in order."""
    lines = (real_data / "wikipedia/testset_txt_img_cat.list").read_text().splitlines()
    ds = xmr.data.load("wikipedia")
    first = lines[0].split("\t")
    assert ds.val.ids[0] == f"{first[0]}|{first[1]}" and ds.val.labels[0] == int(first[2]) - 1
    row = lines[231].split("\t")
    assert ds.test.ids[0] == f"{row[0]}|{row[1]}"
    # official features: SIFT histograms sum to one
    np.testing.assert_allclose(ds.train.image.sum(1), 1.0, atol=1e-4)


@pytest.mark.parametrize("protocol", ["official", "smcr"])
def test_seeded_splits_are_deterministic_and_seed_dependent(real_data, protocol):
    a = xmr.data.load("wikipedia", protocol=protocol, seed=0)
    b = xmr.data.load("wikipedia", protocol=protocol, seed=0)
    c = xmr.data.load("wikipedia", protocol=protocol, seed=1)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a.splits[name].ids, b.splits[name].ids)
        np.testing.assert_array_equal(a.splits[name].image, b.splits[name].image)
    assert not np.array_equal(a.val.ids, c.val.ids)


def test_smcr_split_is_stratified(real_data):
    ds = xmr.data.load("wikipedia", protocol="smcr")
    trainval = np.concatenate([ds.train.labels, ds.val.labels])
    assert len(trainval) == 2292
    frac = np.bincount(ds.test.labels, minlength=10) / np.bincount(
        np.concatenate([trainval, ds.test.labels]), minlength=10
    )
    assert np.all(np.abs(frac - 574 / 2866) < 0.01)


def test_pascal_without_train_images_says_what_is_missing(real_data, tmp_path):
    if (real_data / "pascal_sentence/dscmr/train_img.mat").exists():
        pytest.skip("train_img.mat is present here; the unavailable path cannot be exercised")
    with pytest.raises(DataUnavailableError, match=r"train_img\.mat.*train_img"):
        xmr.data.load("pascal")


def test_pascal_with_train_images_runs(real_data, tmp_path):
    """A user who has train_img.mat gets the full 800/100 protocol (simulated with a stand-in file)."""
    from scipy.io import savemat

    root = tmp_path / "data"
    shutil.copytree(real_data / "pascal_sentence", root / "pascal_sentence")
    savemat(root / "pascal_sentence/dscmr/train_img.mat", {"train_img": np.ones((800, 4096), np.float32)})
    ds = xmr.data.load("pascal", root=root)
    _check_dataset(ds, (720, 80, 100), 20, (4096, 300))
    assert np.bincount(ds.val.labels).tolist() == [4] * 20


@pytest.mark.parametrize("fold", range(5))
def test_pascal100_folds(real_data, fold):
    ds = xmr.data.load("pascal100", fold=fold)
    _check_dataset(ds, (60, 20, 20), 20, (4096, 300))
    assert np.bincount(ds.test.labels, minlength=20).tolist() == [1] * 20


def test_pascal100_test_folds_partition_the_pairs(real_data):
    tests = [_ids(xmr.data.load("pascal100", fold=f).test) for f in range(5)]
    assert len(set().union(*tests)) == 100 and sum(len(t) for t in tests) == 100
    with pytest.raises(ValueError, match="fold"):
        xmr.data.load("pascal100", fold=5)


def test_empty_data_directory_error_names_dir_files_and_env(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        xmr.data.load("wikipedia", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path.resolve()) in msg and "raw_features.mat" in msg and "XMR_DATA_DIR" in msg


def test_default_root_is_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("XMR_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=str(tmp_path.resolve())):
        xmr.data.load("wikipedia")


def test_corrupted_file_names_file_and_both_hashes(real_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(real_data / "wikipedia", root / "wikipedia")
    target = root / "wikipedia/trainset_txt_img_cat.list"
    blob = bytearray(target.read_bytes())
    blob[10] ^= 1
    target.write_bytes(bytes(blob))
    with pytest.raises(ChecksumError) as err:
        xmr.data.load("wikipedia", root=root)
    msg = str(err.value)
    assert "trainset_txt_img_cat.list" in msg
    assert "30c1ba8afbe90da5986de9b12496b6dd2e4680d3876b79ab7aae2e437d5819a3" in msg
    import hashlib

    assert hashlib.sha256(bytes(blob)).hexdigest() in msg


def test_verification_is_remembered_but_a_changed_file_is_rechecked(real_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(real_data / "wikipedia", root / "wikipedia")
    xmr.data.load("wikipedia", root=root)  # verified and stamped
    target = root / "wikipedia/categories.list"
    target.write_text(target.read_text() + "extra\n")
    with pytest.raises(ChecksumError):
        xmr.data.load("wikipedia", root=root)


def test_unknown_names_and_protocols():
    with pytest.raises(ValueError, match="unknown dataset"):
        xmr.data.load("mscoco")
    with pytest.raises(ValueError, match="protocols"):
        xmr.data.load("wikipedia", protocol="nope", root="/nonexistent")


def test_stratified_split_exact_size_and_proportions():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    rest, held = stratified_split(labels, 10, seed=0)
    assert len(held) == 10 and np.bincount(labels[held]).tolist() == [5, 3, 2]
    assert not set(rest) & set(held) and len(rest) + len(held) == 100
    rest, held = stratified_split(labels, 0.1, seed=0)
    assert np.bincount(labels[held]).tolist() == [5, 3, 2]


def test_stratified_folds_partition():
    labels = np.repeat(np.arange(4), 5)
    folds = stratified_folds(labels, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))
    assert all(np.bincount(labels[f], minlength=4).tolist() == [1, 1, 1, 1] for f in folds)


def test_from_arrays_wraps_user_features():
    rng = np.random.default_rng(0)
    split = lambda n: (rng.normal(size=(n, 6)), rng.normal(size=(n, 4)), rng.integers(0, 3, n))  # noqa: E731
    ds = xmr.data.from_arrays("mine", split(20), split(5), split(7), classes=["a", "b", "c"])
    assert ds.dims == (6, 4) and len(ds.test) == 7 and ds.train.image.dtype == np.float32
    with pytest.raises(ValueError, match="0-based"):
        xmr.data.from_arrays("bad", (np.ones((2, 2)), np.ones((2, 2)), [-1, 0]), split(2), split(2))
