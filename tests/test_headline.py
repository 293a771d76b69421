"""The README's headline: written from a judged ledger (counted by hand here), and equal to what the committed
archive's runs say whenever the archive holds the whole full-scale book."""

from __future__ import annotations

import pandas as pd
import pytest

from xmr.build import edition
from xmr.paths import repo_root
from xmr.study import claims


def _ledger() -> pd.DataFrame:
    rows = [("P", "A1-pascal", "P beats Q on both tasks (Pascal)", "held", "held under every reading"),
            ("P", "A1-news", "P beats Q on both tasks (news)", "not held", "depends on the reading"),
            ("P", "A2", "Something else (x; y)", "not testable here", "not re-judged"),
            ("R", "B1-wikipedia", "R is best (average; Wikipedia)", "inconclusive", "depends on the reading"),
            ("R", "B2-wikipedia", "R converges", "not held", "depends on the reading")]
    return pd.DataFrame([{"paper": p, "id": i, "claim": c, "status": s, "robustness": r} for p, i, c, s, r in rows])


def test_the_headline_counts_the_ledger_by_hand():
    lines = claims.headline(_ledger()).splitlines()
    assert lines == [
        "- **P**: of the 2 claims we could test, 1 held, 1 not held. Its central claim, *P beats Q on both tasks*: "
        "held on Pascal Sentence; not held on the web news set. 1 verdict(s) depend on how an ambiguity of the "
        "paper is read.",
        "- **R**: of the 2 claims we could test, 1 not held, 1 inconclusive. Its central claim, *R is best*: "
        "inconclusive on Wikipedia. 2 verdict(s) depend on how an ambiguity of the paper is read."]
    assert "verdict(s) depend" not in claims.headline(_ledger().drop(columns="robustness"))


def test_the_readme_block_is_replaced_and_a_missing_block_is_a_clear_error():
    readme = f"# T\n\nbefore\n{edition.README_START}\nold text\n{edition.README_END}\nafter\n"
    new = edition.readme_with_headline(readme, "- new\n")
    assert new == f"# T\n\nbefore\n{edition.README_START}\n- new\n{edition.README_END}\nafter\n"
    assert edition.readme_headline(new) == "- new" and edition.readme_headline(readme) == "old text"
    with pytest.raises(ValueError, match="no headline block"):
        edition.readme_with_headline("# T\n", "- new")


def test_the_readme_quotes_what_the_archive_says(tmp_path, monkeypatch):
    """Read from the committed archive alone (an empty cache); skipped while the archive lacks runs of the book
    (then a build would train them, and a stale archive must not fail the suite)."""
    monkeypatch.setenv("XMR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMR_ARCHIVE_DIR", str(repo_root() / "archive"))  # the suite's own is a temporary one
    monkeypatch.delenv("XMR_ARCHIVE", raising=False)
    text = edition.headline("full")
    if text is None:
        pytest.skip("the committed archive does not hold every run of the full book (xmr archive status)")
    quoted = edition.readme_headline((repo_root() / "README.md").read_text())
    assert quoted == text.strip(), "README.md quotes another headline than the archive's runs give: " \
                                   "run `xmr archive headline --write`"
