"""The protocol ``xmr.data.load(name)`` uses when none is given, where it is known without loading.

A loader module declares ``DEFAULT_PROTOCOL`` for its ``load``; a second loader in the same module
(``pascal.load_cv`` for ``pascal100``) is not described by it, so its default is only known once loaded.
"""

from __future__ import annotations

import sys

__all__ = ["default_protocol"]


def default_protocol(name: str) -> str | None:
    """``name``'s default protocol, or ``None`` when it cannot be known without loading the dataset."""
    from . import _LOADERS

    loader = _LOADERS.get(name)
    module = sys.modules.get(getattr(loader, "__module__", ""))
    if loader is None or getattr(module, "load", None) is not loader:
        return None
    default = getattr(module, "DEFAULT_PROTOCOL", None)
    return default if isinstance(default, str) else None
