"""`xmr data verify` and `xmr data info` through the real entry point."""

from __future__ import annotations

import shutil

import pytest

from xmr.cli import main

pytestmark = pytest.mark.data


def test_verify_reports_every_file_ok(real_data, capsys):
    assert main(["data", "verify"]) == 0
    out = capsys.readouterr().out
    assert "13 of 13 files OK" in out and "MISMATCH" not in out


def test_verify_flags_a_corrupted_copy(real_data, tmp_path, capsys):
    root = tmp_path / "d"
    shutil.copytree(real_data / "wikipedia", root / "wikipedia")
    for big in ("pascal_sentence", "web_news_cn"):  # untouched: link, don't copy
        (root / big).symlink_to((real_data / big).resolve())
    (root / "wikipedia/categories.list").write_text("tampered\n")
    assert main(["data", "verify", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "wikipedia/categories.list" in out and "MISMATCH" in out


def test_info_prints_a_card(real_data, capsys):
    assert main(["data", "info", "wikipedia", "--protocol", "smcr"]) == 0
    out = capsys.readouterr().out
    assert "train 2063, val 229, test 574" in out and "warfare" in out and "128-d" in out


def test_info_on_missing_data_is_a_clean_error(tmp_path, capsys):
    assert main(["data", "info", "wikipedia", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "XMR_DATA_DIR" in err and "Traceback" not in err
