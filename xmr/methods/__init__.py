"""Methods of the study, one module each, all in one registry (:mod:`xmr.methods.registry`).

Add a method: write ``xmr/methods/<name>.py`` (or a subpackage) with a class
decorated by ``@register("<name>", kind=...)``; it is found by listing the package.
"""

from __future__ import annotations

from .registry import MethodSpec, get, names, register

__all__ = ["MethodSpec", "get", "names", "register"]
