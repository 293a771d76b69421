"""The published numbers: schema, internal consistency, and spot checks against the paper texts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from xmr.study import published

PAPERS = Path(os.environ.get("XMR_PAPERS_DIR", Path(__file__).resolve().parents[2] / "shared" / "papers"))
DACSL_TXT = PAPERS / "000_8262b8bc168b0832.txt"
SMCR_TXT = PAPERS / "003_b67ef3126669feaa.txt"


def test_schema_and_counts():
    df = published.load()
    assert tuple(df.columns) == published.COLUMNS
    counts = df.groupby(["paper", "table"]).size().to_dict()
    # DACSL: 8 methods x 3 tasks per comparison table, 4 variants x 3 tasks per ablation table.
    assert counts[("dacsl", "Table 1")] == 24 and counts[("dacsl", "Table 2")] == 24
    assert counts[("dacsl", "Table 3")] == 12 and counts[("dacsl", "Table 4")] == 12
    # SMCR: 2 datasets x 5 properties; 2 datasets x 7 methods x 3 metrics x 3 tasks; 3 variants x 3 x 3.
    assert counts[("smcr", "Table 1")] == 10
    assert counts[("smcr", "Table 2")] == 126
    assert counts[("smcr", "Table 3")] == 27 and counts[("smcr", "Table 4")] == 27
    assert not df.duplicated(["paper", "table", "dataset", "method", "variant", "task", "metric"]).any()
    scores = df[df.metric.str.startswith("mAP")]
    assert scores.value.between(0, 1).all()
    assert set(scores.task) == set(published.TASKS)


def test_averages_are_the_mean_of_both_tasks():
    df = published.load()
    df = df[df.metric.str.startswith("mAP")]
    wide = df.pivot_table(index=["paper", "table", "dataset", "method", "variant", "metric"], columns="task", values="value")
    err = ((wide.i2t + wide.t2i) / 2 - wide.avg).abs()
    # Printed to 3 (DACSL) or 4 (SMCR) decimals: rounding explains at most one unit in the last place.
    assert (err <= 0.00101).all(), err[err > 0.00101]


def test_filters_and_printed_table():
    t = published.table("dacsl", "Table 2")
    assert t.loc[("wikipedia", "dacsl", "full", "Our"), ("mAP", "i2t")] == pytest.approx(0.490)
    assert published.load(paper="smcr", table="Table 2", dataset="wikipedia", method="ssacr", metric="mAP@25", task="i2t").value.item() == pytest.approx(0.5089)
    with pytest.raises(ValueError, match="unknown column"):
        published.load(journal="x")


def _paper(path: Path) -> str:
    if not path.exists():
        pytest.skip(f"paper text {path} not found; set XMR_PAPERS_DIR to the folder holding the two papers")
    return path.read_text(encoding="utf-8")


def _row_after(text: str, anchor: str, label: str) -> list[str]:
    """The numbers on the first line starting with ``label`` after ``anchor`` (independent of our CSV)."""
    start = text.index(anchor)
    for line in text[start:].splitlines():
        if line.split("\t")[0].strip() == label:
            return re.findall(r"\d\.\d+", re.sub(r"</?b>", "", line))
    raise AssertionError(f"{label!r} not found after {anchor!r}")


@pytest.mark.parametrize(
    "anchor, label, table, dataset, method, variant",
    [
        ("Table 1: The retrieval results on Pascal", "DSCMR", "Table 1", "pascal_sentence", "dscmr", "full"),
        ("Table 1: The retrieval results on Pascal", "Our", "Table 1", "pascal_sentence", "dacsl", "full"),
        ("Table 2: The retrieval results on Wikipedia", "LCFS", "Table 2", "wikipedia", "lcfs", "full"),
        ("Table 2: The retrieval results on Wikipedia", "DRSL", "Table 2", "wikipedia", "drsl", "full"),
        ("Table 3: Results of ablation", "w/o L_{pre}", "Table 3", "pascal_sentence", "dacsl", "without_pre"),
        ("Table 4: Results of ablation", "w/o L_{tri}", "Table 4", "wikipedia", "dacsl", "without_tri"),
    ],
)
def test_dacsl_rows_match_paper_text(anchor, label, table, dataset, method, variant):
    printed = [float(v) for v in _row_after(_paper(DACSL_TXT), anchor, label)]
    ours = published.load(paper="dacsl", table=table, dataset=dataset, method=method, variant=variant).set_index("task").value
    assert [ours["i2t"], ours["t2i"], ours["avg"]] == pytest.approx(printed)  # printed order: Img2Txt, Txt2Img, Average


@pytest.mark.parametrize("dataset, label", [("scitechdaily", "JFSSL"), ("scitechdaily", "SMCR"), ("wikipedia", "CMDN"), ("wikipedia", "DSCMR")])
def test_smcr_table2_rows_match_paper_text(dataset, label):
    text = _paper(SMCR_TXT)
    anchor = "**Table 2: Comparison"
    start = text.index(anchor)
    lines = [l for l in text[start:].splitlines()[:25] if l.startswith(("SciTechDaily", "Wikipedia")) or l.startswith("\t")]
    # Rows are "<dataset>\t<method>\t..." for the first method of a block, "\t<method>\t..." after it.
    current, printed = None, None
    for line in lines:
        cells = line.split("\t")
        current = cells[0] or current
        if current and current.lower() == dataset and re.sub(r"</?b>", "", cells[1]) == label:
            printed = [float(v) for v in re.findall(r"\d\.\d+", re.sub(r"</?b>", "", line))]
            break
    assert printed is not None and len(printed) == 9
    ours = published.load(paper="smcr", table="Table 2", dataset=dataset, method=label.lower())
    ordered = [ours[(ours.metric == f"mAP@{k}") & (ours.task == t)].value.item() for k in (5, 25, 50) for t in ("t2i", "i2t", "avg")]
    assert ordered == pytest.approx(printed)


@pytest.mark.parametrize("table, variant, metric", [("Table 3", "without_con", "mAP@25"), ("Table 4", "without_imi", "mAP@50"), ("Table 4", "full", "mAP@5")])
def test_smcr_ablation_values_appear_in_paper_text(table, variant, metric):
    text = _paper(SMCR_TXT)
    block = text[text.index(f"**{table}: Performance of SMCR") if table == "Table 3" else text.index(f"{table}: Performance of SMCR"):][:900]
    rows = published.load(paper="smcr", table=table, variant=variant, metric=metric).set_index("task").value
    needle = f"{metric}\t{rows['t2i']:.4f}\t{rows['i2t']:.4f}\t{rows['avg']:.4f}"
    assert needle in block


def test_smcr_table1_matches_paper_text():
    text = _paper(SMCR_TXT)
    assert "SciTechDaily\t4,173/1,044\t8\t4,096d VGG\t6,500d BoW" in text
    assert "Wikipedia\t2,292/574\t10\t4,096d VGG\t5,000d BoW" in text
    t1 = published.load(paper="smcr", table="Table 1").pivot_table(index="dataset", columns="metric", values="value")
    assert t1.loc["scitechdaily", ["train_pairs", "test_pairs", "labels", "image_dim", "text_dim"]].tolist() == [4173, 1044, 8, 4096, 6500]
    assert t1.loc["wikipedia", ["train_pairs", "test_pairs", "labels", "image_dim", "text_dim"]].tolist() == [2292, 574, 10, 4096, 5000]
