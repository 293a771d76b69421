"""Every directory xmr reads or writes, in one place.

Environment variables (all optional):

``XMR_DATA_DIR``
    Where the raw data lives (default ``./data``). CI and developer machines use
    ``../shared/data``.
``XMR_CACHE_DIR``
    Where derived files go: verification stamps, extracted features, results
    (default: the user's cache directory, ``$XDG_CACHE_HOME/xmr`` or
    ``~/.cache/xmr``).
``XMR_RESULTS_DIR``
    Where finished runs are stored (default ``$XMR_CACHE_DIR/results``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "cache_dir", "results_dir", "features_dir", "repo_root", "archive_dir"]


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$XMR_DATA_DIR``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("XMR_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path("data")


def cache_dir() -> Path:
    """Root of everything xmr derives and may delete: ``$XMR_CACHE_DIR`` or the user cache dir."""
    env = os.environ.get("XMR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "xmr"


def results_dir() -> Path:
    """Where finished training runs are cached (``$XMR_RESULTS_DIR`` or ``cache_dir()/results``)."""
    env = os.environ.get("XMR_RESULTS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "results"


def features_dir() -> Path:
    """Where extracted features are cached."""
    return cache_dir() / "features"


def repo_root() -> Path:
    """The source checkout (where ``notebooks/`` and ``book/`` live) when installed editable."""
    return Path(__file__).resolve().parent.parent


def archive_dir() -> Path:
    """The committed results archive (:mod:`xmr.archive`): ``$XMR_ARCHIVE_DIR``, else ``archive/`` in the checkout."""
    env = os.environ.get("XMR_ARCHIVE_DIR")
    return Path(env).expanduser() if env else repo_root() / "archive"
