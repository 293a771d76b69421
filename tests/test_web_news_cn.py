"""web_news_cn: the raw-release quirks on a small copy, and the real dataset end to end."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from xmr.data import web_news_cn as news
from xmr.paths import data_root

SRC = data_root() / "web_news_cn"
HAVE_RAW = all((SRC / p).exists() for p in ("categories.list", "trainset_txt_img_cat.list",
                                             "testset_txt_img_cat.list", "images", "texts"))
needs_raw = pytest.mark.skipif(
    not HAVE_RAW, reason=f"raw web_news_cn release not found under {SRC} (set XMR_DATA_DIR to the shared data folder)"
)

# Real files that show each quirk (see the data README): id -> (list, label 1-based, image file)
QUIRKS = {
    "22": ("train", 1, "culture/22 .jpg"),  # trailing space in the file name
    "72": ("train", 4, None),  # list entry with no image anywhere
    "1275": ("train", 1, "culture/1275.jpg"),  # an RGBA PNG named .jpg
    "1842": ("test", 9, "Science_and_technology/1842.jpg"),  # CMYK JPEG
    "1732": ("test", 7, "people's_livelihood/1732.jpg"),  # its twin culture/1732.jpg is unreferenced
    "1834": ("test", 7, "people's_livelihood/1834.jpg"),  # greyscale JPEG
}


@pytest.fixture
def small_copy(tmp_path: Path) -> Path:
    """A web_news_cn folder with six real entries and lists rewritten to reference only them."""
    dst = tmp_path / "web_news_cn"
    (dst / "texts").mkdir(parents=True)
    shutil.copy(SRC / "categories.list", dst / "categories.list")
    lines = {"train": [], "test": []}
    for pid, (lst, label, image) in QUIRKS.items():
        lines[lst].append(f"{pid}\t{pid}\t{label}")
        shutil.copy(SRC / "texts" / f"{pid}.txt", dst / "texts" / f"{pid}.txt")
        if image:
            (dst / "images" / Path(image).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(SRC / "images" / image, dst / "images" / image)
    (dst / "images" / "culture" / "1732.jpg").write_bytes((SRC / "images/culture/1732.jpg").read_bytes())
    (dst / "trainset_txt_img_cat.list").write_text("\n".join(lines["train"]))  # no final newline, as released
    (dst / "testset_txt_img_cat.list").write_text("\n".join(lines["test"]) + "\n")
    return dst


@needs_raw
def test_scan_handles_the_quirks(small_copy: Path) -> None:
    raw = news.scan(small_copy)
    assert raw.classes[0] == "culture" and raw.classes[8] == "Science_and_technology" and len(raw.classes) == 10
    assert raw.entries == {"train": 3, "test": 3}
    assert [(p.id, p.label, p.image) for p in raw.pairs["train"]] == [
        ("22", 0, "images/culture/22 .jpg"), ("1275", 0, "images/culture/1275.jpg")]
    assert [(p.id, p.label, p.image) for p in raw.pairs["test"]] == [
        ("1842", 8, "images/Science_and_technology/1842.jpg"),
        ("1732", 6, "images/people's_livelihood/1732.jpg"),
        ("1834", 6, "images/people's_livelihood/1834.jpg")]
    assert raw.renamed == ["images/culture/22 .jpg"]
    skipped = {(s.list, s.id, s.path, s.reason) for s in raw.skipped}
    assert skipped == {
        ("train", "72", "images/education/72.jpg", "no image file in any category folder"),
        ("-", "1732", "images/culture/1732.jpg", "image file no usable list entry refers to"),
    }


@needs_raw
def test_quality_table_reports_every_skip(small_copy: Path) -> None:
    table = news.quality_table(news.scan(small_copy))
    assert "train list: 3 entries, 2 usable, 1 skipped" in table
    assert "test list: 3 entries, 3 usable, 0 skipped" in table
    assert "byte-identical to the listed images/people's_livelihood/1732.jpg (test list)" in table
    assert "'images/culture/22 .jpg'" in table
    for kind in ("JPEG  CMYK", "PNG   RGBA", "JPEG  L"):
        assert kind in table


@needs_raw
def test_scan_reports_text_problems_and_misfiled_images(small_copy: Path) -> None:
    (small_copy / "texts" / "1275.txt").write_text("  \n")
    (small_copy / "texts" / "1834.txt").unlink()
    (small_copy / "texts" / "22.txt").write_bytes(b"\xff\xfe broken")
    misfiled = small_copy / "images" / "economy"
    misfiled.mkdir()
    shutil.move(small_copy / "images/Science_and_technology/1842.jpg", misfiled / "1842.jpg")
    raw = news.scan(small_copy)
    reasons = {s.id: s.reason for s in raw.skipped if s.list != "-"}
    assert reasons["1275"] == "empty text"
    assert reasons["1834"] == "no text file"
    assert reasons["22"].startswith("text is not UTF-8")
    assert reasons["1842"] == "image only under images/economy/, not under its listed category Science_and_technology"
    assert [p.id for p in raw.pairs["train"] + raw.pairs["test"]] == ["1732"]


@needs_raw
def test_scan_refuses_ambiguous_names_and_bad_lists(small_copy: Path) -> None:
    shutil.copy(small_copy / "images/culture/22 .jpg", small_copy / "images/culture/22.jpg")
    with pytest.raises(ValueError, match="both"):
        news.scan(small_copy)
    (small_copy / "images/culture/22.jpg").unlink()
    (small_copy / "testset_txt_img_cat.list").write_text("1842 1842 9\n")
    with pytest.raises(ValueError, match=r"testset_txt_img_cat.list:1: expected"):
        news.scan(small_copy)
    (small_copy / "testset_txt_img_cat.list").write_text("1842\t1842\t11\n")
    with pytest.raises(ValueError, match="outside 1..10"):
        news.scan(small_copy)
    with pytest.raises(FileNotFoundError, match="not a web_news_cn folder"):
        news.scan(small_copy / "images")


@needs_raw
@pytest.mark.parametrize("entry", ["../../outside\t1842\t9", "1842\t../1842\t9", "..\t1842\t9", "a\\b\t1842\t9"])
def test_a_list_entry_never_names_a_path_out_of_the_folder(small_copy: Path, entry: str) -> None:
    # the bait: a text file one level above the set's folder, which a joined "../" would read
    (small_copy.parent / "outside.txt").write_text("read from outside the data folder")
    (small_copy / "testset_txt_img_cat.list").write_text("1842\t1842\t9\n" + entry + "\n")
    with pytest.raises(ValueError, match=r"testset_txt_img_cat.list:2: (text|image) id .* is not a plain file name"):
        news.scan(small_copy)


@needs_raw
def test_a_category_never_names_a_folder_out_of_images(small_copy: Path) -> None:
    lines = (small_copy / "categories.list").read_text().splitlines()
    (small_copy / "categories.list").write_text("\n".join(["../culture", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"category '../culture' is not a plain folder name"):
        news.scan(small_copy)


@needs_raw
def test_load_verifies_the_list_files(small_copy: Path) -> None:
    from xmr.data import ChecksumError

    with pytest.raises(ChecksumError):  # the rewritten lists are not the release
        news.load(small_copy.parent)


def test_load_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="protocols"):
        news.load(tmp_path, "dscmr")
    with pytest.raises(ValueError, match="text_features"):
        news.load(tmp_path, text_features="lda")
    with pytest.raises(ValueError, match="unknown option"):
        news.load(tmp_path, vocab=100)
    with pytest.raises(ValueError, match="vocab_size"):
        news.load(tmp_path, text_features="bow", vocab_size=0)


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, xmr.data; print(sorted(m for m in ('torch','gensim','jieba','PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert "web_news_cn" in __import__("xmr.data", fromlist=["names"]).names()


# -- the real dataset: features extracted once per test session --------------------------------


@pytest.fixture(scope="module")
def real() -> dict:
    if not HAVE_RAW:
        pytest.skip(f"raw web_news_cn release not found under {SRC} (set XMR_DATA_DIR to the shared data folder)")
    out = {}
    for text_features in ("doc2vec", "bow"):
        start = time.perf_counter()
        out[text_features] = news.load(data_root(), text_features=text_features)
        out[f"{text_features}_seconds"] = time.perf_counter() - start
    return out


@pytest.mark.data
@pytest.mark.slow
def test_real_counts_and_dims(real: dict) -> None:
    ds = real["doc2vec"]
    assert (len(ds.train) + len(ds.val), len(ds.test)) == (1696, 497)
    assert len(ds.val) == 170  # 10% of 1696, rounded
    assert ds.dims == (1280, 300)
    assert real["bow"].dims == (1280, 6500)
    assert ds.classes[8] == "Science_and_technology"
    assert not set(ds.train.ids) & set(ds.val.ids) and not set(ds.train.ids) & set(ds.test.ids)
    for split in ds.splits.values():
        assert np.isfinite(split.image).all() and np.isfinite(split.text).all()
    # the seven imageless entries are gone, the trailing-space ones kept
    all_ids = set(np.concatenate([s.ids for s in ds.splits.values()]))
    assert not all_ids & {"72", "162", "1106", "1180", "1729", "1730", "1784"}
    assert {"22", "1138", "444"} <= all_ids
    # val is stratified: every class keeps about its share of the train list
    labels = np.concatenate([ds.train.labels, ds.val.labels])
    share = np.bincount(ds.val.labels, minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(share - 0.1) < 0.02)


@pytest.mark.data
@pytest.mark.slow
def test_real_second_load_is_bit_identical_and_fast(real: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from xmr.features import cache, image, text

    def forbidden(*args, **kwargs):
        raise AssertionError("a warm load must neither hash the raw files again nor extract anything")

    for module, name in ((cache, "sha256_file"), (image, "extract"), (text, "doc2vec_vectors"), (text, "segment_all")):
        monkeypatch.setattr(module, name, forbidden)
    for text_features in ("doc2vec", "bow"):
        start = time.process_time()
        again = news.load(data_root(), text_features=text_features)
        cpu = time.process_time() - start  # CPU, not wall: the shared test machines are often oversubscribed
        first = real[text_features]
        for name, split in first.splits.items():
            other = again.splits[name]
            for field in ("image", "text", "labels", "ids"):
                assert np.array_equal(getattr(split, field), getattr(other, field)), (text_features, name, field)
        assert cpu < 2.0, f"warm load took {cpu:.2f} s of CPU"
    other_seed = news.load(data_root(), seed=1)
    assert not np.array_equal(other_seed.val.ids, real["doc2vec"].val.ids)
    assert np.array_equal(other_seed.test.text, real["doc2vec"].test.text)  # features do not depend on the seed


@pytest.mark.data
@pytest.mark.slow
def test_real_features_match_a_fresh_extraction(real: dict) -> None:
    """The cached features equal what the extractors compute now for a few pairs (not just the cache's echo)."""
    from xmr.features import image

    raw = news.read_raw()
    ds = real["doc2vec"]
    n_train = len(raw.pairs["train"])
    pick = [0, 5, n_train + 3]  # train-list and test-list pairs
    paths = [raw.paths("image")[i] for i in pick]
    fresh = image.extract(paths, batch_size=2)
    ids = [(raw.pairs["train"] + raw.pairs["test"])[i].id for i in pick]
    cached = np.stack([_row(ds, pid, "image") for pid in ids])
    np.testing.assert_allclose(fresh, cached, rtol=1e-4, atol=1e-4)


def _row(ds, pid: str, field: str) -> np.ndarray:
    for split in ds.splits.values():
        hit = np.flatnonzero(split.ids == pid)
        if hit.size:
            return getattr(split, field)[hit[0]]
    raise KeyError(pid)


@pytest.mark.data
@pytest.mark.slow
def test_real_info_and_linear_probes_far_above_chance(real: dict) -> None:
    """`xmr data info` reports the skips and probes; each modality's probe is far above chance."""
    import re

    report = news.info_extra(real["doc2vec"])
    assert "train list: 1700 entries, 1696 usable, 4 skipped" in report
    assert "test list: 500 entries, 497 usable, 3 skipped" in report
    assert "    7  no image file in any category folder" in report
    assert "    7  image file no usable list entry refers to" in report
    assert "3 image names with whitespace before the extension" in report
    assert "chance: uniform 0.100, majority class 0.176" in report  # 30 of 170 validation pairs
    assert "accuracy on val" in report  # the probe never reads the test split
    probes = dict(re.findall(r"^  (image|text) +\d+-d  (0\.\d+)", report, re.M))
    ds = real["bow"]
    bow = news.linear_probe(ds.train, ds.val, "text")
    # measured: image 0.465, doc2vec 0.776, bow 0.682; chance 0.100 uniform, 0.176 majority class
    assert float(probes["image"]) > 0.4
    assert float(probes["text"]) > 0.55
    assert bow > 0.5
