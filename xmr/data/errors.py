"""Errors of the data layer; each message says what is wrong and how to fix it."""

from __future__ import annotations

__all__ = ["DataNotFoundError", "ChecksumError", "DataUnavailableError"]


class DataNotFoundError(FileNotFoundError):
    """The data directory does not hold the files a dataset needs."""


class ChecksumError(ValueError):
    """A raw file's sha256 differs from the one published with the data."""


class DataUnavailableError(FileNotFoundError):
    """A dataset or protocol needs a file that is not publicly obtainable here."""
