"""Records carried across a change that cannot move their numbers, and only those (xmr.orchestrate.carry).

The "commit" is a copy of the package edited by hand, so each check is driven by a change we know: an identity
without the data digest, a loader edit that loads the same bytes, one that loads other bytes, a method edit, a
damaged record, a record another commit made."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import xmr
from xmr import archive, results
from xmr.data import content
from xmr.fingerprint import fingerprint
from xmr.orchestrate import carry as carry_mod

RUN = {"i2t": 0.25, "t2i": 0.21, "avg": 0.23, "at": {}, "best_epoch": None, "epochs": None, "seconds": 1.0,
       "last_epoch": {}, "history": [], "pr": {}}


@pytest.fixture
def old(tmp_path, monkeypatch) -> Path:
    """A copy of this package standing for another commit's sources (edit it to make that commit differ)."""
    pkg = tmp_path / "src" / "xmr"
    shutil.copytree(Path(xmr.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__", "manifests"))
    monkeypatch.setattr(carry_mod, "sources_at", lambda rev, into: ("f" * 40, pkg))
    for cached in (carry_mod._old_fingerprint, carry_mod._differs, carry_mod._data_part):
        cached.cache_clear()
    return pkg


def _edit(pkg: Path, rel: str, old_text: str, new_text: str) -> None:
    path = pkg / rel
    source = path.read_text()
    assert old_text in source, f"{rel} no longer holds {old_text!r}: update the test"
    path.write_text(source.replace(old_text, new_text, 1))


def _record(pkg: Path, method: str = "cca", *, with_data: bool = False, **over) -> dict:
    """A record as the copy's code would have made it (no ``data`` field unless asked)."""
    ident = results.identity(method, "wikipedia", "dscmr", 0, {}) | {"code": fingerprint(method, "wikipedia", root=pkg)}
    if not with_data:
        del ident["data"]
    ident |= over
    body = {"key": results.run_key(ident), "identity": ident, "run": dict(RUN), "provenance": {"date": "then"}}
    return {**body, "digest": results.digest(body)}


def test_a_record_without_the_data_digest_gets_it_and_is_served(old, tmp_path, real_data):
    arch = tmp_path / "archive"
    rec = _record(old)
    archive.add([rec], root=arch)
    assert results.judge(rec) == ("stale", "older identity layout")
    report = carry_mod.carry("HEAD", root=arch)
    assert dict(report.carried) == {"cca": 1} and not report.left and report.loads == {}
    (new,) = list(archive.records(root=arch))  # the old key is gone
    assert new["identity"]["data"] == content.digest("wikipedia") and new["run"] == RUN
    assert new["key"] == results.run_key(new["identity"]) != rec["key"]
    assert results.judge(new) == ("current", "")
    assert new["provenance"]["carried"] == {"rev": "f" * 40, "code": rec["identity"]["code"],
                                            "change": "identity gained the data digest"}
    assert new["provenance"]["date"] == "then"


def test_a_loader_edit_that_loads_the_same_bytes_is_carried(old, tmp_path, real_data):
    _edit(old, "data/wikipedia.py", "    require(root, FILES, \"wikipedia\")\n",
          "    require(root, FILES, \"wikipedia\")\n    assert FILES, 'an edit that changes no loaded byte'\n")
    rec = _record(old, with_data=True)
    assert rec["identity"]["code"] != fingerprint("cca", "wikipedia")
    report = carry_mod.carry("HEAD", [rec], write=False)
    assert dict(report.carried) == {"cca": 1}, report.left
    assert list(report.loads.values()) == [True]


def test_a_loader_edit_that_loads_other_bytes_is_left_stale(old, tmp_path, real_data):
    _edit(old, "data/wikipedia.py", 'mat["I_tr"].astype(np.float32)', '(2 * mat["I_tr"]).astype(np.float32)')
    report = carry_mod.carry("HEAD", [_record(old, with_data=True)], write=False)
    assert not report.carried
    assert dict(report.left) == {("cca", "its dataset loads to other bytes now"): 1}
    assert list(report.loads.values()) == [False]


@pytest.mark.parametrize("case, why", [
    ("method", "method or engine code changed"),
    ("damaged", "damaged"),
    ("other commit", "not made by the code of that commit"),
    ("other manifest", "another data manifest"),
    ("other version", "xmr 0.0.1"),
])
def test_what_cannot_be_shown_unchanged_is_left_stale(old, case, why):
    if case == "method":
        (old / "methods/cca.py").write_text((old / "methods/cca.py").read_text() + "\n_EDITED = True\n")
    rec = _record(old, with_data=case == "other manifest")
    if case == "damaged":
        rec["run"]["avg"] = 0.9  # the digest no longer matches
    if case == "other commit":
        rec = _record(old, code="0" * 16)
    if case == "other manifest":
        rec = _record(old, with_data=True, data="0" * 16)
    if case == "other version":
        rec = _record(old, version="0.0.1")
    report = carry_mod.carry("HEAD", [rec], write=False)
    assert not report.carried and dict(report.left) == {("cca", why): 1}


def test_an_unknown_commit_is_named():
    with pytest.raises(ValueError, match="cannot read the sources of 'no-such-commit'"):
        carry_mod.sources_at("no-such-commit", Path("/nonexistent"))


def test_a_record_of_another_manifest_is_never_served(real_data):
    rec = _record(Path(xmr.__file__).parent, with_data=True, data="0" * 16)
    assert results.judge(rec) == ("stale", "data changed (another release's manifest)")


def test_the_command_names_a_commit_it_cannot_read(capsys):
    from xmr.cli import main

    assert main(["archive", "carry", "--from", "no-such-commit", "--dry-run"]) == 2
    assert "cannot read the sources of 'no-such-commit'" in capsys.readouterr().err
