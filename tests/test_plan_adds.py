"""``xmr book --plan``'s by-chapter table counts each run where it is first needed, with the pages that re-read
the others' runs (the multiverse, then the findings page and the ledger) last: so it shows what the multiverse adds.
Checked against sets of run keys built here chapter by chapter, call by call, in an order written out by hand."""

from __future__ import annotations

from xmr import experiments
from xmr.orchestrate import plan as P
from xmr.study import chapters
from xmr.study.runner import calls
from xmr.study.scale import scale as make_scale

#: By hand: model selection first (it trains the deep runs with the per-epoch test record), the re-reading pages last.
FIRST, LAST = ["model_selection"], ["multiverse", "findings", "claims_ledger"]


def _keys(name: str, sc) -> set[str]:
    out: set[str] = set()
    for reqs in chapters.declared(name, sc).values():
        for req in reqs:
            if req.campaign:
                continue
            for call in calls(req, sc):
                kw = {k: v for k, v in call.items() if k not in ("method", "dataset", "fold")}
                out |= set(experiments.planned_runs(call["method"], call["dataset"], **kw)["key"])
    return out


def test_each_chapter_adds_the_runs_no_chapter_before_it_needs(real_data):
    sc = make_scale("smoke")
    names = chapters.names()
    order = FIRST + [c for c in names if c not in FIRST + LAST] + LAST
    seen: set[str] = set()
    expected = {}
    for c in order:
        keys = _keys(c, sc)
        expected[c] = len(keys - seen)
        seen |= keys
    runs = P.distinct_runs(P.declared_requests(sc), sc)
    table = P.plan_summary(runs)["chapter"]
    got = table["runs"].to_dict()
    assert got == {c: n for c, n in expected.items() if n}
    assert list(table.index) == [c for c in order if expected[c]]
    assert got.get("multiverse", 0) > 0 and "findings" not in got and "claims_ledger" not in got
    assert table["runs"].sum() == len(runs) == len(seen)
