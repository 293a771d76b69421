"""``xmr book --plan``'s by-chapter table counts each run where it is first needed, with the pages that re-read
the others' runs (the multiverse, then the findings page and the ledger) last: so it shows what the multiverse adds.
Checked against sets of run keys built chapter by chapter."""

from __future__ import annotations

from xmr.orchestrate import plan as P
from xmr.study.scale import scale as make_scale


def test_each_chapter_adds_the_runs_no_chapter_before_it_needs(real_data):
    sc = make_scale("smoke")
    requests = P.declared_requests(sc)
    keys = {c: set(P.distinct_runs([r for r in requests if r[0] == c], sc)["key"]) for c in dict.fromkeys(r[0] for r in requests)}
    order = [c for c in P.execution_order(list(keys)) if c not in P.REREADERS] + [c for c in P.REREADERS if c in keys]
    seen: set[str] = set()
    expected = {}
    for c in order:
        expected[c] = len(keys[c] - seen)
        seen |= keys[c]
    runs = P.distinct_runs(requests, sc)
    table = P.plan_summary(runs)["chapter"]
    got = table["runs"].to_dict()
    assert got == {c: n for c, n in expected.items() if n}
    assert list(table.index) == [c for c in order if expected[c]]
    assert got.get("multiverse", 0) > 0 and "findings" not in got and "claims_ledger" not in got
    assert table["runs"].sum() == len(runs) == len(seen)
