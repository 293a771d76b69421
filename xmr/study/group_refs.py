"""Typed names of the run groups a page re-reads from other chapters.

A chapter's groups are a mapping from a name to its runs (what a notebook indexes, ``ch.groups["wikipedia"]``). The
pages that re-read other chapters' runs (the ledger, the findings, the multiverse, the variance chapter) hold three
kinds of group, and these types are the one place their names are made and read:

- :class:`SourceGroup`: a group of a paper chapter, ``"<chapter>/<group>"``;
- :class:`ReadingGroup`: the multiverse's runs of one method under every declared reading on one stand-in,
  ``"reading/<method>/<stand-in>"``;
- :class:`CampaignGroup`: the power plan's runs of a source group on one split, ``"campaign/<chapter>/<group>@<split>"``.

``str(ref)`` is the name; :func:`parse` reads one back (``parse(str(ref)) == ref``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["SourceGroup", "ReadingGroup", "CampaignGroup", "GroupRef", "parse", "READING", "CAMPAIGN"]

#: The first part of a reading group's name.
READING = "reading"
#: The first part of a campaign group's name.
CAMPAIGN = "campaign"


def _check(**parts: str) -> None:
    for what, value in parts.items():
        if not value or "/" in value:
            raise ValueError(f"a group name's {what} must be a non-empty name without '/', got {value!r}")


@dataclass(frozen=True)
class SourceGroup:
    """Group ``group`` of the paper chapter ``chapter``."""

    chapter: str
    group: str

    def __post_init__(self) -> None:
        _check(chapter=self.chapter, group=self.group)
        if self.chapter in (READING, CAMPAIGN):
            raise ValueError(f"{self.chapter!r} names the {self.chapter} groups, not a chapter")

    def __str__(self) -> str:
        return f"{self.chapter}/{self.group}"


@dataclass(frozen=True)
class ReadingGroup:
    """The multiverse's runs of ``method`` on the stand-in ``standin`` (a key of the method's stand-ins)."""

    method: str
    standin: str

    def __post_init__(self) -> None:
        _check(method=self.method, standin=self.standin)

    def __str__(self) -> str:
        return f"{READING}/{self.method}/{self.standin}"


@dataclass(frozen=True)
class CampaignGroup:
    """The power plan's runs of ``source`` on split ``split`` (0: the published split)."""

    source: SourceGroup
    split: int

    def __post_init__(self) -> None:
        if isinstance(self.split, bool) or not isinstance(self.split, int) or self.split < 0:
            raise ValueError(f"a campaign group's split is an integer >= 0, got {self.split!r}")
        if "@" in self.source.group:
            raise ValueError(f"a campaign group's source group must not hold '@', got {self.source.group!r}")

    def __str__(self) -> str:
        return f"{CAMPAIGN}/{self.source}@{self.split}"


GroupRef = Union[SourceGroup, ReadingGroup, CampaignGroup]


def parse(name: str) -> GroupRef:
    """The group a re-reading page's group name refers to; a :class:`ValueError` that shows the three forms for any
    other string (a paper chapter's own, unprefixed group names among them)."""
    head, sep, rest = name.partition("/")
    try:
        if not sep:
            raise ValueError("no '/'")
        if head == READING:
            method, sep, standin = rest.partition("/")
            if not sep:
                raise ValueError("no stand-in")
            return ReadingGroup(method, standin)
        if head == CAMPAIGN:
            source, sep, split = rest.rpartition("@")
            chapter, sep2, group = source.partition("/")
            if not sep or not sep2 or not split.isdigit():
                raise ValueError("not <chapter>/<group>@<split>")
            return CampaignGroup(SourceGroup(chapter, group), int(split))
        return SourceGroup(head, rest)
    except ValueError as exc:
        raise ValueError(f"{name!r} is not a re-read group name ({exc}): expected '<chapter>/<group>', "
                         f"'{READING}/<method>/<stand-in>' or '{CAMPAIGN}/<chapter>/<group>@<split>'") from None
