"""Shared fixtures: the real data directory (tests needing it skip, with the reason, when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xmr.paths import data_root


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The data root (``$XMR_DATA_DIR``, else ``./data``); skips when the Wikipedia files are not there."""
    root = data_root()
    if not (root / "wikipedia" / "raw_features.mat").is_file():
        pytest.skip(f"real data not found in {root.resolve()}: set XMR_DATA_DIR (e.g. ../shared/data)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Use a throwaway cache unless the caller chose one (CI keeps .cache inside the clone), and an empty archive."""
    if "XMR_CACHE_DIR" not in os.environ:
        os.environ["XMR_CACHE_DIR"] = str(tmp_path_factory.mktemp("xmr-cache"))
    # Never the repository's archive: a test that trains must train, whatever the archive holds.
    os.environ["XMR_ARCHIVE_DIR"] = str(tmp_path_factory.mktemp("xmr-archive"))
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a shared 2-core machine two threads of tiny matmuls mostly wait
    for each other. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
