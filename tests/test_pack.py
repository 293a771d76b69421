"""Data packs (xmr.data.pack): what a machine without the raw files trains on."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xmr.data as xdata
from xmr.data import pack

from test_engine import toy_dataset


def _fake_loader(calls):
    def load(name, protocol=None, **options):
        calls.append((name, protocol, options))
        if name == "pascal":
            raise xdata.DataUnavailableError("train_img.mat is not released\nmore")
        return toy_dataset(seed=options.get("seed", 0))
    return load


def test_round_trip_and_load_reads_the_pack(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    calls = []
    left_out = pack.write(path, [("wikipedia", "dscmr", {}), ("wikipedia", "dscmr", {"seed": 3}),
                                 ("wikipedia", "dscmr", {}), ("pascal", None, None)], load=_fake_loader(calls))
    assert len(calls) == 3  # the repeated variant is loaded once
    assert len(left_out) == 1 and "pascal" in left_out[0] and "not released" in left_out[0]
    got = pack.lookup(path, "wikipedia", "dscmr", {"seed": 3})
    want = toy_dataset(seed=3)
    for split in ("train", "val", "test"):
        for f in ("image", "text", "labels", "ids"):
            np.testing.assert_array_equal(getattr(getattr(got, split), f), getattr(getattr(want, split), f))
    assert got.classes == want.classes
    assert pack.lookup(path, "wikipedia", "dscmr", {"seed": 4}) is None  # not packed: caller loads raw files
    monkeypatch.setenv(pack.ENV, str(path))
    monkeypatch.setenv("XMR_DATA_DIR", str(tmp_path / "no-data-here"))
    served = xdata.load("wikipedia", protocol="dscmr", seed=3)
    np.testing.assert_array_equal(served.test.image, want.test.image)
    with pytest.raises(xdata.DataNotFoundError):  # a variant not in the pack still needs the raw files
        xdata.load("wikipedia", protocol="dscmr", seed=4)


def test_a_corrupted_pack_is_refused(tmp_path):
    path = tmp_path / "p.npz"
    pack.write(path, [("wikipedia", "dscmr", {})], load=_fake_loader([]))
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["e0/test/image"] = arrays["e0/test/image"] + np.float32(1e-3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(xdata.ChecksumError, match="do not match their recorded sha256"):
        pack.lookup(bad, "wikipedia", "dscmr", {})
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(xdata.ChecksumError, match="not an xmr data pack"):
        pack.lookup(foreign, "wikipedia", "dscmr", {})
    with pytest.raises(FileNotFoundError, match="xmr data pack"):
        pack.lookup(tmp_path / "missing.npz", "wikipedia", "dscmr", {})


def test_index_is_plain_json(tmp_path):
    path = tmp_path / "p.npz"
    pack.write(path, [("wikipedia", "dscmr", {})], load=_fake_loader([]))
    with np.load(path) as npz:
        index = json.loads(str(npz["__index__"]))
    assert index["format"] == pack.FORMAT and len(index["entries"]) == 1


def test_the_default_protocol_is_found_without_naming_it(tmp_path):
    from xmr.data import wikipedia

    def load(name, protocol=None, **options):
        ds = toy_dataset()
        return xdata.Dataset("wikipedia", protocol or wikipedia.DEFAULT_PROTOCOL, ds.classes, ds.train, ds.val, ds.test)

    path = tmp_path / "p.npz"
    pack.write(path, [("wikipedia", wikipedia.DEFAULT_PROTOCOL, {}), ("wikipedia", "official", {})], load=load)
    assert pack.lookup(path, "wikipedia", None, {}).protocol == wikipedia.DEFAULT_PROTOCOL
    assert pack.lookup(path, "wikipedia", "official", None).protocol == "official"


def test_a_default_protocol_is_known_without_loading_only_for_a_modules_own_load():
    from xmr.data.protocols import default_protocol

    assert [default_protocol(n) for n in ("wikipedia", "pascal", "web_news_cn")] == ["dscmr", "dscmr", "official"]
    assert default_protocol("pascal100") is None  # pascal.load_cv: DEFAULT_PROTOCOL describes pascal.load, not it
    assert default_protocol("no such set") is None
