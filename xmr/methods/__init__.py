"""Methods of the study, one module each, all in one registry (:mod:`xmr.methods.registry`).

Add a method: write ``xmr/methods/<name>.py`` (or a subpackage) with a class
decorated by ``@register("<name>", kind=...)``; it is found by listing the package.

Layer: imports only :mod:`xmr.data` (types), :mod:`xmr.metrics`, :mod:`xmr.paths` and :mod:`xmr.io`;
the engine trains the methods, the methods never import the engine.
"""

from __future__ import annotations

from .registry import MethodSpec, get, names, register

__all__ = ["MethodSpec", "get", "names", "register"]
