"""The typed group names of the re-reading pages (xmr.study.group_refs): written out by hand here, read back, and
every malformed name refused with the three forms."""

from __future__ import annotations

import pytest

from xmr.study.group_refs import CampaignGroup, ReadingGroup, SourceGroup, parse


@pytest.mark.parametrize("name, ref", [
    ("smcr_table2_comparison/wikipedia", SourceGroup("smcr_table2_comparison", "wikipedia")),
    ("reading/dacsl/pascal100", ReadingGroup("dacsl", "pascal100")),
    ("campaign/dacsl_table1_pascal/pascal@0", CampaignGroup(SourceGroup("dacsl_table1_pascal", "pascal"), 0)),
    ("campaign/smcr_fig2_sensitivity/grid@12", CampaignGroup(SourceGroup("smcr_fig2_sensitivity", "grid"), 12)),
])
def test_names_read_back_to_their_refs_and_print_as_written(name, ref):
    assert parse(name) == ref
    assert str(ref) == name


@pytest.mark.parametrize("name", [
    "wikipedia",  # a paper chapter's own, unprefixed group
    "reading/dacsl",  # no stand-in
    "campaign/smcr_table2_comparison/wikipedia",  # no split
    "campaign/smcr_table2_comparison/wikipedia@-1",
    "campaign/smcr_table2_comparison/wikipedia@x",
    "campaign/wikipedia@1",  # no chapter
    "a/b/c",  # a source group holds no '/'
    "/wikipedia",
    "campaign/",
])
def test_malformed_names_are_refused_with_the_three_forms(name):
    with pytest.raises(ValueError, match=r"<chapter>/<group>.*reading/<method>/<stand-in>.*campaign/<chapter>/<group>@<split>"):
        parse(name)


def test_refs_refuse_parts_that_would_not_read_back():
    with pytest.raises(ValueError, match="without '/'"):
        SourceGroup("smcr", "a/b")
    with pytest.raises(ValueError, match="names the reading groups"):
        SourceGroup("reading", "x")
    with pytest.raises(ValueError, match="split is an integer >= 0"):
        CampaignGroup(SourceGroup("c", "g"), -1)
    with pytest.raises(ValueError, match="split is an integer >= 0"):
        CampaignGroup(SourceGroup("c", "g"), True)
    with pytest.raises(ValueError, match="must not hold '@'"):
        CampaignGroup(SourceGroup("c", "g@1"), 0)
