"""The protocol ``xmr.data.load(name)`` uses when none is given, where it is known without loading.

A loader module declares ``DEFAULT_PROTOCOL`` for its ``load``; a second loader in the same module
(``pascal.load_cv`` for ``pascal100``) is not described by it, so its default is only known once loaded.
"""

from __future__ import annotations

from types import ModuleType

from . import pascal, wikipedia

__all__ = ["default_protocol"]

#: The datasets whose loader is their module's ``load`` (``pascal100`` is ``pascal.load_cv``: not described).
_MODULES: dict[str, ModuleType] = {"wikipedia": wikipedia, "pascal": pascal}
try:  # as in xmr.data: the news loader needs the optional feature-extraction extras
    from . import web_news_cn

    _MODULES["web_news_cn"] = web_news_cn
except ImportError:  # pragma: no cover
    pass


def default_protocol(name: str) -> str | None:
    """``name``'s default protocol, or ``None`` when it cannot be known without loading the dataset."""
    default = getattr(_MODULES.get(name), "DEFAULT_PROTOCOL", None)
    return default if isinstance(default, str) else None
