"""Methods of the study, one module each, all in one registry (:mod:`xmr.methods.registry`).

Add a method: write ``xmr/methods/<name>.py`` with a class decorated by
``@register("<name>", kind=...)`` and add the module name to :data:`MODULES`.
"""

from __future__ import annotations

import importlib

from .registry import MethodSpec, get, names, register

__all__ = ["MethodSpec", "get", "names", "register", "MODULES"]

#: Modules that register methods (imported lazily by :func:`get` / :func:`names`).
MODULES: list[str] = []
