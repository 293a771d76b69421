"""A page of the book as a declaration, and what its notebook gets back: the bottom of the study's upper layer.

:class:`Chapter` names a page and the runs it declares at a scale; :class:`ChapterRuns` holds them once run.
Here, below :mod:`xmr.study.chapters` (the table of every chapter) and below the modules that judge a page's
runs (:mod:`xmr.study.claims`, :mod:`xmr.study.multiverse`, :mod:`xmr.study.variance`), so none of them imports
the table of chapters to name its argument's type: the study's imports have no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .runner import Request, Runner, VariantRuns
from .scale import Scale
from .standins import StandIn

__all__ = ["Groups", "Chapter", "ChapterRuns"]

Groups = dict[str, list[Request]]


@dataclass(frozen=True)
class Chapter:
    """A page of the book: its notebook name, title, paper, and the runs it declares at a scale."""

    name: str
    title: str
    paper: str
    declare: Callable[[Scale], Groups]



@dataclass
class ChapterRuns:
    """What a chapter's notebook gets back: each declared group's runs, in declaration order."""

    chapter: Chapter
    scale: Scale
    groups: dict[str, list[VariantRuns]]
    standins: dict[str, StandIn]
    runner: Runner

    def __getitem__(self, group: str) -> list[VariantRuns]:
        try:
            return self.groups[group]
        except KeyError:
            raise KeyError(f"chapter {self.chapter.name} declares no group {group!r}; groups: {', '.join(self.groups)}") from None

    def standin(self, group: str) -> StandIn:
        """The stand-in dataset of a group (every request of a group shares one)."""
        return self.standins[group]

    def by_method(self, group: str) -> dict[str, VariantRuns]:
        return {r.method: r for r in self[group]}

    def not_run_frame(self) -> pd.DataFrame:
        return self.runner.not_run_frame()

    @property
    def smoke(self) -> bool:
        return self.scale.sampled
