"""Test items identical to a train/val item: planted duplicates, ``dedupe=True``, and the real releases.

Expected duplicates come from construction (synthetic data) or from brute-force
comparisons written here (real data: raw bytes, raw float64 feature rows), never
from the code under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import xmr.data
from xmr.data import overlap
from xmr.data import web_news_cn as news
from xmr.data import wikipedia

# -- synthetic: feature rows ------------------------------------------------------------------


def _found(df) -> set[tuple[str, str, str, str]]:
    assert list(df.columns) == ["split", "id", "modality", "match_split", "match_id"]
    assert set(df["split"]) <= {"test"}
    return set(zip(df["id"], df["modality"], df["match_split"], df["match_id"]))


def _wiki_root(tmp_path: Path) -> tuple[Path, set, set]:
    """A wikipedia folder (20 train rows, 240 test rows) with planted duplicates.

    dscmr: val = test-list rows 0..230, test = rows 231..239. Returns the root, the
    duplicates expected under dscmr, and the test pairs that must be dropped.
    """
    from scipy.io import savemat

    rng = np.random.default_rng(7)
    i_tr, t_tr = rng.random((20, 4)), rng.random((20, 3))
    i_te, t_te = rng.random((240, 4)), rng.random((240, 3))
    tr_ids = [f"tr{k}" for k in range(20)]
    te_ids = [f"te{k}" for k in range(240)]
    i_te[231] = i_tr[3]  # image = a train image
    t_tr[2, 0] = 0.0
    t_te[233] = t_tr[2]
    t_te[233, 0] = -0.0  # equal under ==, different bytes
    t_te[235] = t_te[5]  # text = a val text
    i_te[238], t_te[238] = i_tr[7], t_tr[9]  # both modalities, different train pairs
    i_te[239] = i_te[236]  # only within test: not a duplicate
    i_te[237] = i_tr[4] + 1e-6  # near, not identical
    d = tmp_path / "wikipedia"
    d.mkdir()
    savemat(d / "raw_features.mat", {"I_tr": i_tr, "I_te": i_te, "T_tr": t_tr, "T_te": t_te})
    labels = lambda n: rng.integers(1, 11, n)  # noqa: E731
    for name, ids in (("trainset_txt_img_cat.list", tr_ids), ("testset_txt_img_cat.list", te_ids)):
        (d / name).write_text("".join(f"{i}\timg{i}\t{lab}\n" for i, lab in zip(ids, labels(len(ids)))))
    (d / "categories.list").write_text("".join(f"{k} c{k}\n" for k in range(1, 11)))
    pid = lambda i: f"{i}|img{i}"  # noqa: E731
    expected = {
        (pid("te231"), "image", "train", pid("tr3")),
        (pid("te233"), "text", "train", pid("tr2")),
        (pid("te235"), "text", "val", pid("te5")),
        (pid("te238"), "image", "train", pid("tr7")),
        (pid("te238"), "text", "train", pid("tr9")),
    }
    return tmp_path, expected, {pid(f"te{k}") for k in (231, 233, 235, 238)}


@pytest.fixture
def wiki_synthetic(tmp_path, monkeypatch):
    monkeypatch.setattr(wikipedia, "verify", lambda *a, **k: None)  # synthetic files: no published sha256
    return _wiki_root(tmp_path)


def test_feature_duplicates_finds_exactly_the_planted_rows(wiki_synthetic):
    root, expected, _ = wiki_synthetic
    df = xmr.data.duplicates("wikipedia", root=root)
    assert _found(df) == expected
    assert df.attrs["basis"] == "identical feature rows"
    assert _found(xmr.data.duplicates(xmr.data.load("wikipedia", root=root))) == expected


def test_dedupe_drops_exactly_the_planted_pairs(wiki_synthetic):
    root, _, drop = wiki_synthetic
    full = xmr.data.load("wikipedia", root=root)
    ds = xmr.data.load("wikipedia", root=root, dedupe=True)
    assert "dedupe" not in full.options and ds.options == {"dedupe": True}
    keep = [k for k in range(231, 240) if f"te{k}|imgte{k}" not in drop]
    assert ds.test.ids.tolist() == [f"te{k}|imgte{k}" for k in keep]
    rows = [np.flatnonzero(full.test.ids == i)[0] for i in ds.test.ids]
    np.testing.assert_array_equal(ds.test.image, full.test.image[rows])
    np.testing.assert_array_equal(ds.test.text, full.test.text[rows])
    np.testing.assert_array_equal(ds.test.labels, full.test.labels[rows])
    for name in ("train", "val"):
        np.testing.assert_array_equal(ds.splits[name].ids, full.splits[name].ids)
    assert set(ds.dropped) == drop
    assert "4 test pairs dropped" in ds.card() and "4 test pairs dropped" not in full.card()
    assert xmr.data.duplicates(ds).empty


def test_dedupe_official_protocol_drops_train_list_duplicates(wiki_synthetic):
    # official: test = the whole test list; only the train-list twins count (val is drawn from train)
    root, _, _ = wiki_synthetic
    ds = xmr.data.load("wikipedia", root=root, protocol="official", dedupe=True)
    assert sorted(ds.dropped) == sorted(f"te{k}|imgte{k}" for k in (231, 233, 238))
    assert len(ds.test) == 240 - 3 and ds.options == {"seed": 0, "dedupe": True}


def test_from_arrays_duplicates_and_drop():
    rng = np.random.default_rng(0)
    tr = (rng.random((6, 3)), rng.random((6, 2)), np.arange(6) % 2)
    va = (rng.random((3, 3)), rng.random((3, 2)), np.arange(3) % 2)
    te = (rng.random((5, 3)), rng.random((5, 2)), np.arange(5) % 2)
    te[0][1] = tr[0][4]
    te[1][3] = va[1][2]
    ds = xmr.data.from_arrays("mine", tr, va, te)
    df = xmr.data.duplicates(ds)
    assert _found(df) == {("test_1", "image", "train", "train_4"), ("test_3", "text", "val", "val_2")}
    out = overlap.drop_test_pairs(ds, df)
    assert out.test.ids.tolist() == ["test_0", "test_2", "test_4"] and out.dropped == ("test_1", "test_3")
    text = overlap.summary(df)
    assert "image 1, text 1; 2 test pairs affected" in text and "test_3  = val val_2" in text


@pytest.mark.parametrize("name", ["wikipedia", "pascal", "pascal100", "web_news_cn"])
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_dedupe_bad_values_are_clear_errors(tmp_path, name, bad):
    with pytest.raises(ValueError, match=r"dedupe must be True or False"):
        xmr.data.load(name, root=tmp_path, dedupe=bad)


# -- synthetic: raw files (web_news_cn) ---------------------------------------------------------


def _news_folder(tmp_path: Path) -> Path:
    """Three categories; train list ids 1..10, test list 11..17; planted byte-identical files."""
    rng = np.random.default_rng(3)
    d = tmp_path / "web_news_cn"
    (d / "texts").mkdir(parents=True)
    cats = ["a", "b", "c"]
    (d / "categories.list").write_text("\n".join(cats) + "\n")
    for c in cats:
        (d / "images" / c).mkdir(parents=True)
    img = {i: rng.bytes(64) for i in range(1, 18)}
    txt = {i: f"新闻 {i} {rng.integers(1 << 30)}".encode() for i in range(1, 18)}
    img[11] = img[2]  # test image = a train image
    txt[12] = txt[5]  # test text = a train text
    img[13] = img[3][:-1] + bytes([img[3][-1] ^ 1])  # one byte differs: not identical
    txt[14] = txt[15]  # only within test
    img[14] = img[10]  # test image = the item listed as 10 (val below)
    img[15] = img[1]  # its file name has a space before the extension
    img[8] = img[7]
    img[16] = img[7]  # two train twins
    cat = {i: cats[i % 3] for i in range(1, 18)}
    for i in range(1, 18):
        name = f"{i} .jpg" if i == 15 else f"{i}.jpg"
        (d / "images" / cat[i] / name).write_bytes(img[i])
        (d / "texts" / f"{i}.txt").write_bytes(txt[i])
    for lst, ids in (("trainset", range(1, 11)), ("testset", range(11, 18))):
        (d / f"{lst}_txt_img_cat.list").write_text("".join(f"{i}\t{i}\t{cats.index(cat[i]) + 1}\n" for i in ids))
    return d


NEWS_EXPECTED = {
    ("11", "image", "train", "2"), ("12", "text", "train", "5"), ("14", "image", "val", "10"),
    ("15", "image", "train", "1"), ("16", "image", "train", "7"), ("16", "image", "train", "8"),
}


def test_news_file_duplicates_find_exactly_the_planted_files(tmp_path):
    raw = news.scan(_news_folder(tmp_path))
    ids = {"train": [str(i) for i in range(1, 10)], "val": ["10"], "test": [str(i) for i in range(11, 18)]}
    df = news.find_duplicates(raw, ids)
    assert _found(df) == NEWS_EXPECTED
    assert df.attrs["basis"] == "byte-identical raw files"


def test_news_dedupe_drops_rows_after_features_by_id(tmp_path, monkeypatch):
    folder = _news_folder(tmp_path)
    monkeypatch.setattr(news, "read_raw", lambda root: news.scan(folder))

    def fake_features(raw, text_features, settings, progress=False):
        n = len(raw.paths("image"))  # row k = k-th usable pair, train list then test list
        rows = np.arange(n, dtype=np.float32)[:, None]
        return np.hstack([rows, rows]), -rows

    monkeypatch.setattr(news, "_features", fake_features)
    full = news.load(tmp_path)
    ds = news.load(tmp_path, dedupe=True)
    assert full.test.ids.tolist() == [str(i) for i in range(11, 18)]
    assert ds.test.ids.tolist() == ["13", "17"]
    np.testing.assert_array_equal(ds.test.image[:, 0], [12, 16])  # rows of pairs 13 and 17 (10 train pairs first)
    np.testing.assert_array_equal(ds.test.text[:, 0], [-12, -16])
    assert sorted(ds.dropped, key=int) == ["11", "12", "14", "15", "16"]
    assert ds.options["dedupe"] is True and "dedupe" not in full.options
    assert "5 test pairs dropped" in ds.card()


# -- the real releases ------------------------------------------------------------------------

WIKI_DSCMR = {
    ("21898ba7134f979e9eb31f17bee2a008-2.1|a16fd1e1f457f0ee293f4d24b249d80e", "image", "train",
     "21898ba7134f979e9eb31f17bee2a008-2|1342dba32beabcd70b355adaa0af8d09"),
    ("8fa52fc9e76962339d5fe4f985ced328-3|6411042ef729c50f2a75eb55528b15ad", "image", "train",
     "90edde4ecc403ea91eaa3443872111dc-5|5fc8b4e35632dcfe3465c9da71647f71"),
}
WIKI_OFFICIAL_TEST_IDS = {
    "12471fa7b776e267a9e2817faf032e24-6|062318218f9d923c3e56bed1e3039087",
    "21898ba7134f979e9eb31f17bee2a008-2.1|a16fd1e1f457f0ee293f4d24b249d80e",
    "8fa52fc9e76962339d5fe4f985ced328-3|6411042ef729c50f2a75eb55528b15ad",
}


def _brute_force(split_ids: dict, rows: dict) -> set:
    """Every (test id, modality, split, ref id) whose raw row equals the test row, by direct comparison."""
    out = set()
    for modality in ("image", "text"):
        for ref in ("train", "val"):
            ref_ids = list(split_ids[ref])
            table = np.stack([rows[modality][i] for i in ref_ids])
            for t in split_ids["test"]:
                for k in np.flatnonzero((table == rows[modality][t]).all(axis=1)):
                    out.add((t, modality, ref, ref_ids[k]))
    return out


@pytest.mark.data
@pytest.mark.parametrize("protocol", ["dscmr", "official", "smcr"])
def test_real_wikipedia_duplicates_equal_a_brute_force_comparison(real_data, protocol):
    from scipy.io import loadmat

    mat = loadmat(real_data / "wikipedia/raw_features.mat")  # the original float64 rows
    rows: dict = {"image": {}, "text": {}}
    for lst, suffix in (("trainset", "tr"), ("testset", "te")):
        lines = [ln.split("\t") for ln in (real_data / f"wikipedia/{lst}_txt_img_cat.list").read_text().splitlines() if ln]
        for k, (t, i, _) in enumerate(lines):
            rows["image"][f"{t}|{i}"], rows["text"][f"{t}|{i}"] = mat[f"I_{suffix}"][k], mat[f"T_{suffix}"][k]
    ds = xmr.data.load("wikipedia", protocol=protocol)
    expected = _brute_force({k: s.ids.tolist() for k, s in ds.splits.items()}, rows)
    assert _found(xmr.data.duplicates("wikipedia", protocol=protocol)) == expected
    assert {e[1] for e in expected} <= {"image"}  # no text (LDA) row repeats
    if protocol == "dscmr":
        assert expected == WIKI_DSCMR
    if protocol == "official":
        assert {e[0] for e in expected} == WIKI_OFFICIAL_TEST_IDS


@pytest.mark.data
def test_real_wikipedia_dedupe(real_data):
    full = xmr.data.load("wikipedia")
    ds = xmr.data.load("wikipedia", dedupe=True)
    dropped = {e[0] for e in WIKI_DSCMR}
    assert "dedupe" not in full.options and ds.options == {"dedupe": True}
    assert len(ds.test) == 460 and set(ds.dropped) == dropped
    assert ds.test.ids.tolist() == [i for i in full.test.ids.tolist() if i not in dropped]
    keep = np.isin(full.test.ids, list(dropped), invert=True)
    np.testing.assert_array_equal(ds.test.image, full.test.image[keep])
    np.testing.assert_array_equal(ds.test.text, full.test.text[keep])
    assert len(ds.train) == 2173 and len(ds.val) == 231


@pytest.mark.data
def test_real_pascal_features_have_no_repeated_rows(real_data):
    from scipy.io import loadmat

    d = real_data / "pascal_sentence/dscmr"
    img, txt = loadmat(d / "test_img.mat")["test_img"], loadmat(d / "test_txt.mat")["test_txt"]
    train_txt = loadmat(d / "train_txt.mat")["train_txt"]
    for a, b in ((img, img), (txt, txt), (txt, train_txt)):
        equal = (a[:, None, :] == b[None, :, :]).all(axis=2)
        if a is b:
            np.fill_diagonal(equal, False)
        assert not equal.any()
    for fold in range(5):  # so no pascal100 fold can have a duplicate
        assert xmr.data.duplicates("pascal100", fold=fold).empty
        assert len(xmr.data.load("pascal100", fold=fold, dedupe=True).test) == 20


def _news_bytes(real_data: Path) -> tuple[dict, dict]:
    """(list -> [(id, image bytes, text bytes)] of entries with an image, category folder by listed label."""
    d = real_data / "web_news_cn"
    cats = [c.strip() for c in (d / "categories.list").read_text(encoding="utf-8").splitlines() if c.strip()]
    out = {}
    for lst in ("trainset", "testset"):
        items = []
        for line in (d / f"{lst}_txt_img_cat.list").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            t, i, lab = (x.strip() for x in line.split("\t"))
            folder = d / "images" / cats[int(lab) - 1]
            names = [n for n in os.listdir(folder) if os.path.splitext(n)[0].strip() == i]
            if names:
                items.append((t, (folder / names[0]).read_bytes(), (d / "texts" / f"{t}.txt").read_bytes()))
        out[lst] = items
    return out["trainset"], out["testset"]


@pytest.mark.data
def test_real_news_duplicates_equal_a_byte_comparison(real_data, monkeypatch):
    from xmr.features import image, text

    def forbidden(*args, **kwargs):
        raise AssertionError("finding duplicates must not extract features")

    for module, name in ((image, "extract"), (text, "doc2vec_vectors"), (text, "segment_all")):
        monkeypatch.setattr(module, name, forbidden)
    train, test = _news_bytes(real_data)
    assert (len(train), len(test)) == (1696, 497)
    expected = set()
    for k, modality in ((1, "image"), (2, "text")):
        for t in test:
            expected |= {(t[0], modality, r[0]) for r in train if r[k] == t[k]}
    assert expected == {("1917", "image", "1617"), ("1919", "image", "1618"), ("1996", "image", "1621"),
                        ("2031", "image", "1420"), ("1996", "text", "1621")}
    df = xmr.data.duplicates("web_news_cn")
    assert {(i, m, o) for i, m, _, o in _found(df)} == expected
    splits = news.split_ids(news.read_raw(), seed=0)
    assert all(o in splits[s] for _, _, s, o in _found(df))


@pytest.mark.data
@pytest.mark.slow
def test_real_news_dedupe_with_cached_features(real_data):
    full = xmr.data.load("web_news_cn")
    ds = xmr.data.load("web_news_cn", dedupe=True)
    dropped = {"1917", "1919", "1996", "2031"}
    assert len(ds.test) == 493 and set(ds.dropped) == dropped
    keep = np.isin(full.test.ids, list(dropped), invert=True)
    assert ds.test.ids.tolist() == full.test.ids[keep].tolist()
    np.testing.assert_array_equal(ds.test.image, full.test.image[keep])
    np.testing.assert_array_equal(ds.test.text, full.test.text[keep])
    np.testing.assert_array_equal(ds.train.ids, full.train.ids)
    assert ds.options == {**full.options, "dedupe": True}
    assert "4 test pairs dropped" in ds.card()
