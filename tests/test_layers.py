"""Imports only go down the layers, and each layer's folder says what it may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xmr"

#: Lowest first. A module may import its own layer and the layers below, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("xmr", "xmr.paths", "xmr.io", "xmr.metrics"),
    ("xmr.data", "xmr.features"),
    ("xmr.methods",),
    ("xmr.engine",),
    ("xmr.fingerprint", "xmr.archive", "xmr.records", "xmr.export", "xmr.results", "xmr.experiments"),
    ("xmr.study",),
    ("xmr.orchestrate",),
    ("xmr.publish",),
    ("xmr.cli", "xmr.__main__"),
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer of ``module``: the longest matching prefix in :data:`LAYERS`."""
    best, found = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), i
    if found is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")
    return found


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every xmr module ``path`` imports, at module level or inside functions."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name == "xmr" or a.name.startswith("xmr.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "xmr" and not target.startswith("xmr."):
                continue
            for a in node.names:  # "from xmr.study import chapters" imports xmr.study.chapters
                sub = f"{target}.{a.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (PACKAGE.parent / sub.replace(".", "/") / "__init__.py").exists()
                out.append((node.lineno, sub if is_module else target))
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_only_go_down(path):
    here = layer_of(_module(path))
    upward = [f"line {line}: {target} (layer {layer_of(target)})" for line, target in imports(path)
              if layer_of(target) > here]
    assert not upward, f"{_module(path)} (layer {here}) imports upward: " + "; ".join(upward)


def test_the_layer_rule_can_fail(tmp_path, monkeypatch):
    """A method that imports the study is caught (the checker is not vacuous)."""
    bad = PACKAGE / "methods" / "dscmr.py"
    fake = tmp_path / "xmr" / "methods" / "dscmr.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(bad.read_text() + "\nfrom ..study import chapters\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "xmr")
    (tmp_path / "xmr" / "study").mkdir()
    (tmp_path / "xmr" / "study" / "chapters.py").write_text("")
    targets = [t for _, t in imports(fake)]
    assert "xmr.study.chapters" in targets and layer_of("xmr.study.chapters") > layer_of("xmr.methods.dscmr")


@pytest.mark.parametrize("folder", ["data", "features", "methods", "engine", "study", "orchestrate", "publish", "cli"])
def test_each_layer_folder_says_what_it_may_import(folder):
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert "Layer:" in doc, f"xmr/{folder}/__init__.py: say in its docstring what the layer may import ('Layer: ...')"


def test_the_top_level_holds_only_the_shared_modules():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "archive", "experiments", "export", "fingerprint", "io", "metrics", "paths",
                   "records", "results"]


def _graph() -> dict[str, set[str]]:
    """Every xmr module -> the xmr modules it imports (at module level, in functions, under TYPE_CHECKING)."""
    mods = {_module(p) for p in SOURCES}

    def owner(target: str) -> str:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target

    return {_module(p): {owner(t) for _, t in imports(p)} - {"", _module(p)} for p in SOURCES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_anywhere_in_xmr():
    found = cycles(_graph())
    assert found == [], f"import cycles: {found}"


def test_the_cycle_check_can_fail():
    """A hand-made graph with one cycle through an in-function import is caught, and an acyclic one passes."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_folder_is_named_like_build_output():
    """A folder named build/ is skipped by the standard Python .gitignore and by tools' default excludes."""
    assert not (PACKAGE / "build").exists()
    assert not [p for p in PACKAGE.rglob("*") if p.is_dir() and p.name in ("build", "dist", "_build")]
