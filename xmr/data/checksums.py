"""sha256 of every raw file xmr reads (from the data README), and their verification.

A file of at most :data:`REHASH_BYTES` (every file the README lists) is hashed on every load: a few
milliseconds, and no remembered check to forge. A larger one is hashed
once per *status*: the result is remembered in ``cache_dir()/verified.json`` keyed by path, device, inode,
size, and the modification **and change** times, so restoring an mtime after a same-size rewrite (which sets
the change time, which no unprivileged user can set back) forces a new check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..io import sha256_file, write_json_atomic
from ..paths import cache_dir, data_root
from .errors import ChecksumError, DataNotFoundError

__all__ = ["SHA256", "verify", "verify_all", "require"]

#: Relative path (under the data root) -> sha256, as published in data/README.md.
SHA256: dict[str, str] = {
    "wikipedia/raw_features.mat": "ca628f765a69575e168ab29eb97f5ade12fadf47b31de1328c7ff631c7f225ae",
    "wikipedia/trainset_txt_img_cat.list": "30c1ba8afbe90da5986de9b12496b6dd2e4680d3876b79ab7aae2e437d5819a3",
    "wikipedia/testset_txt_img_cat.list": "ec3123ee31cc89dd95fbeb23eb73b2ecfd1d8909bba863723471aad99408c1eb",
    "wikipedia/categories.list": "4929f3ee00e9de9ffe11f9ab18fc8919b0f6182cc801309409df2f2d05e2b0f5",
    "pascal_sentence/captions/pascal_sentences.json": "d36111c19cba691b40558c6c60d416d90b3076433717bdd7112d76318b4b5076",
    "pascal_sentence/dscmr/train_txt.mat": "208df4f70a880818f8b978a8edf21dd741c5ab6f19f5b7280782ee8d515398fc",
    "pascal_sentence/dscmr/test_txt.mat": "7d20757d936986c016da1593ec52124c5c7aa07b429ff73ddf8592758af3a9ba",
    "pascal_sentence/dscmr/test_img.mat": "65a6008374feacfad62347ff07b90b1ce628332db44e8c928b82b7236fe0e82b",
    "pascal_sentence/dscmr/train_img_lab.mat": "27fe81efae97ccb33358a72792432c8919e0c25e07504cba82dc11d87dbe14a8",
    "pascal_sentence/dscmr/test_img_lab.mat": "2116271d3193bc3cb8675d73112e1fcb0fc1b1f2ea5cccb7b7eaf2b02eb06455",
    "web_news_cn/categories.list": "1a412add6bfa74b833ce3ff1b1d26da19136684db8a4f81cb9e557d82b25a651",
    "web_news_cn/trainset_txt_img_cat.list": "f0495ce5454ecdb240401ed6e8c031e1b26208e7bc4a9d074d5e0d484e62cde7",
    "web_news_cn/testset_txt_img_cat.list": "2fd03e89529267b6f2070b0a3955df6be0f41441462c7283211d00a6e0730906",
}

_STAMPS = "verified.json"
#: Files up to this size are hashed on every load, never taken from a remembered check.
REHASH_BYTES = 16 * 2**20


def _stamp_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"


def _load_stamps() -> dict[str, str]:
    try:
        return json.loads((cache_dir() / _STAMPS).read_text())
    except (OSError, ValueError):
        return {}


def require(root: Path, relpaths: list[str], dataset: str) -> None:
    """Raise :class:`DataNotFoundError` unless every ``relpath`` exists under ``root``."""
    missing = [p for p in relpaths if not (root / p).is_file()]
    if missing:
        raise DataNotFoundError(
            f"dataset {dataset!r}: {len(missing)} of {len(relpaths)} files missing in the data directory "
            f"{root.resolve()}:\n  " + "\n  ".join(missing) + "\n"
            "Point xmr at the directory that holds them: pass root=... or set XMR_DATA_DIR "
            "(developer machines and CI: XMR_DATA_DIR=../shared/data)."
        )


def verify(root: Path, relpaths: list[str]) -> None:
    """Check each file's sha256 against :data:`SHA256`; raise :class:`ChecksumError` on a mismatch."""
    stamps = _load_stamps()
    changed = False
    for rel in relpaths:
        expected = SHA256[rel]
        path = root / rel
        small = path.stat().st_size <= REHASH_BYTES
        key = _stamp_key(path)
        if not small and stamps.get(key) == expected:
            continue
        actual = sha256_file(path)
        if actual != expected:
            raise ChecksumError(
                f"{path}: sha256 mismatch\n  expected {expected}\n  actual   {actual}\n"
                "The file is corrupted or is not the published release; restore it from the source "
                "named in the data README."
            )
        if not small:
            stamps[key] = expected
            changed = True
    if changed:
        try:
            write_json_atomic(cache_dir() / _STAMPS, stamps)
        except OSError:
            pass  # a read-only cache only costs speed


def verify_all(root: str | os.PathLike[str] | None = None) -> list[tuple[str, str, str]]:
    """Check every known file; return rows ``(relpath, status, detail)`` with status OK/MISSING/MISMATCH."""
    base = data_root(root)
    rows = []
    for rel, expected in SHA256.items():
        path = base / rel
        if not path.is_file():
            rows.append((rel, "MISSING", str(path)))
            continue
        actual = sha256_file(path)
        rows.append((rel, "OK" if actual == expected else "MISMATCH", actual[:16]))
    return rows
