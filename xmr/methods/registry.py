"""The method registry: every method of the study under one name.

Two kinds of method are registered:

* ``"deep"`` -- a :class:`xmr.methods.base.DeepMethod` subclass trained by the
  shared engine (:mod:`xmr.engine`), with model selection on the validation split.
* ``"closed_form"`` -- a scikit-learn estimator (:class:`sklearn.base.BaseEstimator`) with
  ``fit(image, text, labels) -> self`` and ``transform(image, text) -> (Z_image, Z_text)``.
  It has no model selection, so it is fitted on train + val.

Every :class:`MethodSpec` carries a ``defaults`` dict of hyperparameters (every one
settable by name; the CLI, the cache identity and the readings read it). A deep method
declares it as its class attribute ``defaults``; a closed-form method declares its
hyperparameters only as the keyword arguments of ``__init__``, and its ``defaults`` are
``get_params()`` of a default-constructed instance, in the signature's order (a
``seed`` argument, which the engine passes per run, is not a hyperparameter).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Literal

__all__ = ["MethodSpec", "register", "get", "names", "estimator_defaults"]

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
    """Class decorator: register ``cls`` under ``name`` with its hyperparameters' defaults.

    Deep: the class's ``defaults`` dict. Closed-form: :func:`estimator_defaults`.
    """

    def deco(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        doc = (cls.__doc__ or "").strip().splitlines()
        defaults = estimator_defaults(cls) if kind == "closed_form" else dict(getattr(cls, "defaults", {}))
        _REGISTRY[name] = MethodSpec(name, kind, cls, defaults, doc[0] if doc else "")
        return cls

    return deco


def estimator_defaults(cls: type) -> dict[str, Any]:
    """The hyperparameters of a closed-form estimator class and their defaults.

    ``cls().get_params(deep=False)`` (scikit-learn's view: the ``__init__`` keyword
    arguments), ordered as in the signature, without ``seed``. A class that still carries
    a ``defaults`` attribute is refused: its hyperparameters live in ``__init__`` only.
    """
    if hasattr(cls, "defaults"):
        raise TypeError(f"{cls.__name__} is closed-form: declare its hyperparameters as __init__ keyword "
                        "arguments, not in a 'defaults' attribute")
    try:
        params = cls().get_params(deep=False)
    except (TypeError, AttributeError) as err:
        raise TypeError(f"{cls.__name__} must be constructible with no arguments (every hyperparameter "
                        f"has a default) and have get_params(): {err}") from None
    order = [p for p in inspect.signature(cls.__init__).parameters if p in params and p != "seed"]
    return {p: params[p] for p in order}


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
