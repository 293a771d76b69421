"""The code fingerprint of a run: a hash of the source that determines its numbers.

It is part of every run's cache identity (:func:`xmr.results.identity`, field
``"code"``), so a code fix serves new numbers even when no hyperparameter changed.

Which files (:func:`closure`), for a method M on a dataset D
    * M's own module (found through the registry) and the xmr modules it imports;
    * the engine: every module of ``xmr/engine/`` (through its ``__init__``), and ``xmr/metrics.py``;
    * the data: ``xmr/data/__init__.py`` (the dispatcher ``load`` and
      ``from_arrays``; on its own, not what it imports, or every loader would be in
      every key) and ``xmr/data/dataset.py``; for a dataset of the package also its
      loader module (``xmr/data/wikipedia.py``, ``pascal.py`` for ``pascal`` and
      ``pascal100``, ``web_news_cn.py``). Your own arrays
      (:func:`xmr.data.from_arrays`) add nothing more: their identity already
      holds a hash of the arrays.
    * "imports" is transitive and means every ``import`` / ``from ... import`` of
      an ``xmr`` module, at module level or inside a function (a lazy import is
      code the run executes: the news loader imports feature extraction,
      ``xmr/features/*``, that way), except under ``if TYPE_CHECKING:`` (never
      executed) and except :data:`EXCLUDED`: the registry's discovery import of
      every method (``xmr.methods.__all_modules__``), which would put each method
      in every method's key, and the layers above a run -- the CLI, the orchestration and the publishing (``xmr/orchestrate/``, ``xmr/publish/``),
      the study (``xmr/study/``), ``experiments.py``, the
      results cache and this module. They choose which runs to ask for; what
      they pass in (method, dataset, hyperparameters, seed, ...) is already in
      the identity, so editing them changes no key.

How the files are hashed
    Each file is parsed with :mod:`ast`, docstrings (and any other bare string
    statement, which executes nothing) are removed, and the tree is written out
    without line/column attributes and without empty fields (:func:`_dump`), so
    the same source gives the same fingerprint under every Python version. Comments, docstrings, blank lines and formatting
    therefore do not count: documenting a method does not throw its results away.
    The fingerprint is the sha256 of the (path, dump) pairs, first 16 hex digits.

:func:`fingerprint` reads the installed (editable) package's sources once per
process and (method, dataset); pass ``root=`` (a copy of the ``xmr`` package
directory) to fingerprint other sources, uncached.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["fingerprint", "data_fingerprint", "closure", "data_files", "differs", "ENGINE", "EXCLUDED"]

PACKAGE = "xmr"
#: The engine every method runs through (the whole xmr/engine package, closed-form fitting included).
ENGINE = ("xmr.engine", "xmr.metrics")
_DATA_ENTRY = "xmr.data"  # hashed on its own, imports not followed
_DATA_GENERIC = ("xmr.data.dataset",)
#: Modules (and packages, with everything under them) never part of a fingerprint.
EXCLUDED = (
    "xmr.methods.__all_modules__",
    "xmr.cli",
    "xmr.orchestrate",
    "xmr.publish",
    "xmr.study",
    "xmr.experiments",
    "xmr.results",
    "xmr.fingerprint",
)


def fingerprint(method: str, dataset: str, root: str | Path | None = None) -> str:
    """16 hex digits that change exactly when code determining ``method`` on ``dataset`` changes."""
    if root is None:
        return _installed_fingerprint(method, dataset)
    return _fingerprint(method, dataset, Path(root))


def data_fingerprint(dataset: str, root: str | Path | None = None) -> str:
    """16 hex digits that change exactly when the code that loads ``dataset`` changes: the data part
    of :func:`fingerprint`'s closure alone (no engine, no method), for what depends on the loaded
    data only, e.g. a dataset's summary (:mod:`xmr.study.datasets`)."""
    return _hash(_files(None, dataset, _default_root() if root is None else Path(root)))


def closure(method: str, dataset: str, root: str | Path | None = None) -> list[str]:
    """The files :func:`fingerprint` hashes, as sorted ``xmr/...`` paths (a method from outside: ``its/module.py``)."""
    root = _default_root() if root is None else Path(root)
    return sorted(_files(method, dataset, root))


def data_files(dataset: str, root: str | Path | None = None) -> list[str]:
    """The files :func:`data_fingerprint` hashes (the data part of every closure on ``dataset``), sorted."""
    return sorted(_files(None, dataset, _default_root() if root is None else Path(root)))


def differs(method: str | None, dataset: str, other: str | Path, root: str | Path | None = None) -> list[str]:
    """The files of the closure (``method=None``: the data part alone) whose hashed source differs between ``root``
    (default: the installed sources) and ``other`` (another copy of the ``xmr`` package directory), or that only one
    of them has, as sorted ``xmr/...`` paths: empty exactly when the two fingerprints are equal."""
    mine = _files(method, dataset, _default_root() if root is None else Path(root))
    theirs = _files(method, dataset, Path(other))
    return sorted(name for name in set(mine) | set(theirs) if name not in mine or name not in theirs
                  or _normalised(mine[name].read_text(encoding="utf-8"))
                  != _normalised(theirs[name].read_text(encoding="utf-8")))


@lru_cache(maxsize=None)
def _installed_fingerprint(method: str, dataset: str) -> str:
    return _fingerprint(method, dataset, _default_root())


def _default_root() -> Path:
    return Path(__file__).resolve().parent


def _fingerprint(method: str, dataset: str, root: Path) -> str:
    return _hash(_files(method, dataset, root))


def _hash(files: dict[str, Path]) -> str:
    h = hashlib.sha256()
    for name, path in sorted(files.items()):
        h.update(name.encode() + b"\0" + _normalised(path.read_text(encoding="utf-8")).encode() + b"\0")
    return h.hexdigest()[:16]


def _files(method: str | None, dataset: str, root: Path) -> dict[str, Path]:
    """``{display name: file}`` of everything hashed for ``method`` on ``dataset`` (``method=None``: the data part only)."""
    found: dict[str, Path] = {}
    starts: list[str] = [*_DATA_GENERIC] if method is None else [*ENGINE, *_DATA_GENERIC]
    module = None if method is None else _method_module(method)
    if module is not None:
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            starts.append(module)
        else:  # registered from outside the package: its own file, then its xmr imports
            path = getattr(sys.modules.get(module), "__file__", None)
            if path and path.endswith(".py"):
                found[module.replace(".", "/") + ".py"] = Path(path)  # by name: not where it happens to lie
                starts.extend(_imports(Path(path), module, False, root))
    loader = _dataset_module(dataset)
    if loader is not None:
        starts.append(loader)
    entry = _module_file(_DATA_ENTRY, root)
    if entry is not None:
        found[_display(entry, root)] = entry
    seen: set[str] = set()
    todo = [m for m in starts if not _excluded(m)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name, root)
        if path is None:
            continue
        found[_display(path, root)] = path
        todo.extend(m for m in _imports(path, name, path.name == "__init__.py", root) if m not in seen and not _excluded(m))
    return found


def _method_module(method: str) -> str | None:
    """The module defining registered method ``method``; None for a name the registry does not know."""
    from .methods import registry

    try:
        return registry.get(method).cls.__module__
    except ValueError:
        return None


def _dataset_module(dataset: str) -> str | None:
    """The loader module of a dataset of the package; None for user arrays."""
    from . import data

    loader = getattr(data, "_LOADERS", {}).get(dataset)
    module = getattr(loader, "__module__", None)
    return module if isinstance(module, str) and module.startswith(PACKAGE + ".") else None


def _excluded(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in EXCLUDED)


def _module_file(module: str, root: Path) -> Path | None:
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for path in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


def _display(path: Path, root: Path) -> str:
    return "/".join([PACKAGE, *path.relative_to(root).parts])


def _imports(path: Path, module: str, is_package: bool, root: Path) -> list[str]:
    """The xmr modules ``path`` (module ``module``) imports, wherever in the file, bar ``if TYPE_CHECKING:``."""
    package = module if is_package else module.rpartition(".")[0]
    internal = module == PACKAGE or module.startswith(PACKAGE + ".")
    out: list[str] = []
    for level, target, names in _import_statements(path.read_text(encoding="utf-8")):
        if level is None:  # ``import a.b``
            out.extend(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
            continue
        if level:
            if not internal:
                continue  # relative import inside an external method's own package
            up = package.split(".")
            base_parts = up[: len(up) - (level - 1)]
            if not base_parts:
                continue
            base = ".".join(base_parts + ([target] if target else []))
        else:
            base = target
        if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
            continue
        for name in names:
            sub = f"{base}.{name}"
            # ``from pkg import name``: the submodule when there is one, else pkg itself
            out.append(sub if name != "*" and _module_file(sub, root) is not None else base)
    return out


@lru_cache(maxsize=512)
def _import_statements(source: str) -> tuple[tuple[int | None, str, tuple[str, ...]], ...]:
    """``(level, module, names)`` of each import statement (level None for ``import a.b``), keyed by text."""
    out = []
    for node in _walk_executed(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.append((None, "", tuple(a.name for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or "", tuple(a.name for a in node.names)))
    return tuple(out)


def _walk_executed(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@lru_cache(maxsize=512)
def _normalised(source: str) -> str:
    """``ast.dump`` of ``source`` without docstrings, bare strings or positions."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [s for s in body if not _bare_string(s)]
                setattr(node, field, kept or [ast.Pass()])
    return _dump(tree)


def _dump(node: object) -> str:
    """A node as ``Type(field=value,...)``, leaving out fields that are ``None`` or empty.

    Not :func:`ast.dump`: its text depends on the Python version (3.12 added
    ``type_params=[]`` to every function and class and empty pieces to some f-strings,
    3.13 prints defaults differently),
    which made the same source fingerprint differently on two machines. Grammar
    additions arrive as new optional fields, empty in code that does not use them,
    so leaving empty fields out keeps a fingerprint the same across Python versions
    (tested on 3.11 against a dump written down in the test).
    """
    if isinstance(node, ast.JoinedStr):  # f-string pieces: 3.12's parser adds empty ones, may split text
        pieces: list[ast.expr] = []
        for v in node.values:
            if isinstance(v, ast.Constant) and pieces and isinstance(pieces[-1], ast.Constant):
                pieces[-1] = ast.Constant(value=pieces[-1].value + v.value)
            else:
                pieces.append(v)
        node = ast.JoinedStr(values=[v for v in pieces if not (isinstance(v, ast.Constant) and v.value == "")])
    if isinstance(node, ast.AST):
        parts = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            parts.append(f"{name}={_dump(value)}")
        return f"{type(node).__name__}({','.join(parts)})"
    if isinstance(node, list):
        return "[" + ",".join(_dump(v) for v in node) + "]"
    return repr(node)


def _bare_string(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
