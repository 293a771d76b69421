"""The method registry: every method of the study under one name.

Two kinds of method are registered:

* ``"deep"`` -- a :class:`xmr.methods.base.DeepMethod` subclass trained by the
  shared engine (:mod:`xmr.engine.single`), with model selection on the validation split.
* ``"closed_form"`` -- a scikit-learn-style estimator with
  ``fit(image, text, labels) -> self`` and ``transform(image, text) -> (Z_image, Z_text)``.
  It has no model selection, so it is fitted on train + val.

Both carry a ``defaults`` dict of hyperparameters (every one settable by name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

__all__ = ["MethodSpec", "register", "get", "names"]

Kind = Literal["deep", "closed_form"]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: Kind
    cls: type
    defaults: dict[str, Any]
    summary: str


_REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, kind: Kind) -> Callable[[type], type]:
    """Class decorator: register ``cls`` under ``name``; its ``defaults`` dict lists its hyperparameters."""

    def deco(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = MethodSpec(name, kind, cls, dict(getattr(cls, "defaults", {})), doc[0] if doc else "")
        return cls

    return deco


def get(name: str) -> MethodSpec:
    _import_all()
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def _import_all() -> None:
    from . import __all_modules__  # noqa: F401  (importing registers)
