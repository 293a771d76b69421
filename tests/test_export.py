"""``xmr results export``: the archive as one tidy table (xmr.export), checked against hand-written records."""

from __future__ import annotations

import gzip
import json
import os

import pandas as pd
import pytest

from xmr import archive, export
from xmr.cli import main
from xmr.paths import repo_root

TASKS = ("i2t", "t2i", "avg")
METRICS = ("mAP", "mAP@5", "mAP@25", "mAP@50")


def _run(base: float, best_epoch: int | None, epochs: int | None) -> dict:
    """A run whose every value is distinct and can be recomputed: base + task offset + metric offset."""
    off = {"i2t": 0.01, "t2i": 0.02, "avg": 0.03}
    return {
        **{t: base + off[t] for t in TASKS},
        "at": {k: {t: base + off[t] + int(k) / 1000 for t in TASKS} for k in ("5", "25", "50")},
        "best_epoch": best_epoch, "epochs": epochs, "seconds": 1.5, "history": [], "last_epoch": None,
        "pr": {}, "val_best": None,
    }


def _prov(device: str = "cpu") -> dict:
    return {"cpu": "Test CPU", "date": "2020-01-02T03:04:05Z", "device": device, "machine": "x86_64",
            "python": "3.11.7", "threads": 4, "torch": "2.0.0"}


RECORDS = [
    {"key": "bbbb000000000002", "identity": {
        "code": "c0de000000000002", "dataset": "pascal100", "dataset_options": {"fold": 3}, "epochs": 20,
        "hparams": {"lr": 0.001, "dim": 8}, "method": "dscmr", "protocol": "cv5", "seed": 7, "version": "0.1.0",
        "without": ["dis", "pre"]}, "run": _run(0.5, 12, 20), "provenance": _prov("cuda")},
    {"key": "aaaa000000000001", "identity": {
        "code": "c0de000000000001", "dataset": "wikipedia", "dataset_options": {}, "epochs": 20,
        "hparams": {"dim": 8, "lr": 0.001}, "method": "dscmr", "protocol": "official", "seed": 0, "version": "0.1.0",
        "without": []}, "run": _run(0.3, 5, 20), "provenance": _prov()},
    {"key": "cccc000000000003", "identity": {
        "code": "c0de000000000003", "dataset": "web_news_cn", "dataset_options": {"text_features": "bow"},
        "epochs": None, "hparams": {"n_components": 10}, "method": "cca", "protocol": "official", "seed": 1,
        "version": "0.1.0", "without": []}, "run": _run(0.2, None, None), "provenance": _prov()},
]


def _write_archive(root, records=RECORDS):
    root.mkdir(parents=True, exist_ok=True)
    by_method: dict[str, list[dict]] = {}
    for rec in records:
        by_method.setdefault(rec["identity"]["method"], []).append(rec)
    for method, recs in by_method.items():
        with gzip.open(root / f"{method}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for rec in recs:
                fh.write(json.dumps(rec) + "\n")
    return root


@pytest.fixture
def arch(tmp_path, monkeypatch):
    root = _write_archive(tmp_path / "archive")
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(root))
    return root


def test_one_row_per_run_task_and_metric():
    df = export.tidy_runs(RECORDS)
    assert len(df) == len(RECORDS) * len(TASKS) * len(METRICS)
    assert set(df["task"]) == set(TASKS) and set(df["metric"]) == set(METRICS)
    assert (df.groupby(["key", "task", "metric"]).size() == 1).all()
    assert list(df.columns[:6]) == ["key", "method", "dataset", "protocol", "fold", "seed"]


def test_each_value_lands_in_its_task_and_metric_row():
    df = export.tidy_runs(RECORDS).set_index(["key", "task", "metric"])
    assert df.loc[("bbbb000000000002", "t2i", "mAP@25"), "value"] == pytest.approx(0.5 + 0.02 + 0.025)
    assert df.loc[("bbbb000000000002", "avg", "mAP"), "value"] == pytest.approx(0.53)
    assert df.loc[("aaaa000000000001", "i2t", "mAP@50"), "value"] == pytest.approx(0.3 + 0.01 + 0.05)
    assert df.loc[("cccc000000000003", "i2t", "mAP@5"), "value"] == pytest.approx(0.2 + 0.01 + 0.005)


def test_identity_and_provenance_columns():
    df = export.tidy_runs(RECORDS)
    row = lambda key: df[df["key"] == key].iloc[0]  # noqa: E731
    b, a, c = row("bbbb000000000002"), row("aaaa000000000001"), row("cccc000000000003")
    assert (b["fold"], b["seed"], b["without"], b["best_epoch"], b["device"]) == (3, 7, "dis+pre", 12, "cuda")
    assert pd.isna(a["fold"]) and a["seed"] == 0 and a["without"] == "" and a["best_epoch"] == 5
    assert pd.isna(c["fold"]) and pd.isna(c["best_epoch"]) and pd.isna(c["epochs"]) and c["method"] == "cca"
    assert b["hparams"] == a["hparams"] == '{"dim":8,"lr":0.001}'  # sorted keys: the same hparams, the same text
    assert json.loads(b["dataset_options"]) == {"fold": 3}
    assert json.loads(c["dataset_options"]) == {"text_features": "bow"}
    assert (b["code"], b["threads"], b["torch"], b["date"]) == ("c0de000000000002", 4, "2.0.0", "2020-01-02T03:04:05Z")


def test_rows_are_sorted_whatever_the_record_order():
    df = export.tidy_runs(RECORDS)
    assert list(dict.fromkeys(df["key"])) == ["cccc000000000003", "aaaa000000000001", "bbbb000000000002"]
    first = df[df["key"] == "aaaa000000000001"]
    assert list(dict.fromkeys(first["task"])) == list(TASKS)
    assert list(first["metric"][:4]) == list(METRICS)
    assert export.tidy_runs(RECORDS[::-1]).equals(df)


def test_a_value_the_run_lacks_gives_no_row_and_no_nan():
    rec = json.loads(json.dumps(RECORDS[1]))
    del rec["run"]["at"]["50"]
    rec["run"]["t2i"] = None
    df = export.tidy_runs([rec, {"key": "x", "identity": {"method": "cca"}}])
    assert len(df) == len(TASKS) * 3 - 1 and not df["value"].isna().any()


def test_csv_round_trip(arch, tmp_path):
    out = tmp_path / "runs.csv.gz"
    assert export.export_runs(out, root=arch) == len(RECORDS) * 12
    back = pd.read_csv(out, keep_default_na=False, na_values=[""])
    df = export.tidy_runs(RECORDS)
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    assert back["value"].tolist() == df["value"].tolist()  # full precision
    assert back["key"].tolist() == df["key"].tolist() and back["metric"].tolist() == df["metric"].tolist()
    assert back["fold"].isna().sum() == df["fold"].isna().sum() == 24
    plain = tmp_path / "runs.csv"
    export.export_runs(plain, root=arch)
    assert plain.read_bytes() == gzip.decompress(out.read_bytes())


def test_the_same_archive_gives_the_same_bytes(arch, tmp_path):
    one, two = tmp_path / "one.csv.gz", tmp_path / "two.csv.gz"
    export.export_runs(one, root=arch)
    export.export_runs(two, root=arch)
    assert one.read_bytes() == two.read_bytes()


def test_cli_writes_the_file(arch, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert main(["results", "export", str(out)]) == 0
    assert f"wrote {len(RECORDS) * 12} rows ({len(RECORDS)} runs) to {out}" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == len(RECORDS) * 12


def test_a_missing_directory_is_an_error_and_writes_nothing(arch, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "runs.csv"
    assert main(["results", "export", str(out)]) == 2
    assert str(out.parent) in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_an_unknown_suffix_is_an_error(arch, tmp_path):
    with pytest.raises(ValueError, match=r"\.csv"):
        export.export_runs(tmp_path / "runs.xlsx", root=arch)
    assert not list(tmp_path.glob("runs*"))


def test_parquet_without_pyarrow_says_so(arch, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(ValueError, match="pyarrow"):
        export.export_runs(tmp_path / "runs.parquet", root=arch)
    assert not (tmp_path / "runs.parquet").exists()


def test_an_empty_archive_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no runs"):
        export.export_runs(tmp_path / "runs.csv")
    assert main(["results", "export", str(tmp_path / "runs.csv")]) == 2
    assert not (tmp_path / "runs.csv").exists()


def test_an_existing_file_is_replaced_atomically(arch, tmp_path, monkeypatch):
    out = tmp_path / "runs.csv"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    assert main(["results", "export", str(out)]) == 0
    assert len(pd.read_csv(out)) == len(RECORDS) * 12 and out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "runs.csv"]  # no temporary file left

    def half_then_fail(self, data):  # the disk fills up halfway through the table
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError("disk full")

    before = out.read_bytes()
    monkeypatch.setattr(type(out), "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export.export_runs(out, root=arch)
    assert out.read_bytes() == before  # the failed write left the old file whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "runs.csv"]


def test_the_committed_archive_exports_whole(tmp_path):
    root = repo_root() / "archive"  # the test session points XMR_ARCHIVE_DIR at an empty dir: name it
    recs = list(archive.records(root=root))
    if not recs:
        pytest.skip(f"no committed runs in {root}")
    out = tmp_path / "runs.csv.gz"
    rows = export.export_runs(out, root=root)
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert rows == len(df)
    sizes = df.groupby("key").size()
    assert set(sizes.index) == {str(r["key"]) for r in recs}
    assert (sizes == len(TASKS) * len(METRICS)).all()
    assert not df["value"].isna().any()
    assert set(df["metric"]) == set(METRICS)
