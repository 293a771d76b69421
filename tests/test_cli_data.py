"""`xmr data verify` and `xmr data info` through the real entry point."""

from __future__ import annotations

import shutil

import pytest

from xmr.cli import main
from xmr.cli.data_cmd import parse_dataset_options


@pytest.mark.data
def test_verify_reports_every_file_ok(real_data, capsys):
    assert main(["data", "verify"]) == 0
    out = capsys.readouterr().out
    # the README's 13 files and every news image and text, counted here from the data folder itself
    news = sum(1 for sub in ("images", "texts") for p in (real_data / "web_news_cn" / sub).rglob("*") if p.is_file())
    assert news == 4400 and f"{13 + news} of {13 + news} files OK" in out and "MISMATCH" not in out


@pytest.mark.data
def test_verify_flags_a_corrupted_copy(real_data, tmp_path, capsys):
    root = tmp_path / "d"
    shutil.copytree(real_data / "wikipedia", root / "wikipedia")
    for big in ("pascal_sentence", "web_news_cn"):  # untouched: link, don't copy
        (root / big).symlink_to((real_data / big).resolve())
    (root / "wikipedia/categories.list").write_text("tampered\n")
    assert main(["data", "verify", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "wikipedia/categories.list" in out and "MISMATCH" in out


@pytest.mark.data
def test_info_prints_a_card(real_data, capsys):
    assert main(["data", "info", "wikipedia", "--protocol", "smcr"]) == 0
    out = capsys.readouterr().out
    assert "train 2063, val 229, test 574" in out and "warfare" in out and "128-d" in out


def test_info_on_missing_data_is_a_clean_error(tmp_path, capsys):
    assert main(["data", "info", "wikipedia", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "XMR_DATA_DIR" in err and "Traceback" not in err


@pytest.mark.data
def test_info_reports_test_items_duplicated_in_train_val(real_data, capsys):
    assert main(["data", "info", "wikipedia"]) == 0
    out = capsys.readouterr().out
    assert "test items duplicated in train/val (identical feature rows): image 2, text 0; 2 test pairs affected" in out
    assert "21898ba7134f979e9eb31f17bee2a008-2.1|a16fd1e1f457f0ee293f4d24b249d80e" in out
    assert "8fa52fc9e76962339d5fe4f985ced328-3|6411042ef729c50f2a75eb55528b15ad" in out
    assert "train 2173, val 231, test 462" in out and "dropped" not in out


@pytest.mark.data
def test_info_with_dedupe_says_what_was_dropped(real_data, capsys):
    assert main(["data", "info", "wikipedia", "--set", "dedupe=true"]) == 0
    out = capsys.readouterr().out
    assert "test 460" in out and "2 test pairs dropped" in out and "dedupe=True" in out
    assert "image 0, text 0; 0 test pairs affected" in out


def test_info_dedupe_bad_value_is_a_clean_error(capsys):
    assert main(["data", "info", "wikipedia", "--set", "dedupe=maybe"]) == 2
    err = capsys.readouterr().err
    assert "--set dedupe=maybe: dedupe expects true or false" in err and "(default false)" in err
    assert "Traceback" not in err


def test_info_unknown_option_lists_the_loaders_options(capsys):
    assert main(["data", "info", "pascal100", "--set", "fodl=2"]) == 2
    err = capsys.readouterr().err
    assert "pascal100 has no loader option 'fodl' (did you mean 'fold'?)" in err
    assert "valid keys: dedupe, fold, seed" in err and "Traceback" not in err


def test_dataset_options_are_parsed_as_the_loaders_defaults():
    assert parse_dataset_options("pascal100", ["fold=2", "dedupe=1", "seed=3"]) == {"fold": 2, "dedupe": True, "seed": 3}
    assert parse_dataset_options("wikipedia", ["dedupe=false"]) == {"dedupe": False}
    # the news loader takes extraction settings through **settings: parsed loosely, checked by the loader
    assert parse_dataset_options("web_news_cn", ["text_features=bow", "vocab_size=3000"]) == {
        "text_features": "bow", "vocab_size": 3000}
    with pytest.raises(ValueError, match="protocol is --protocol"):
        parse_dataset_options("wikipedia", ["protocol=smcr"])
