"""The shape of the sources (issue 10, "Shape first"): celerymod's modules import each other
without a cycle, and no module or class grows past a size a newcomer can read in one sitting
unless its module docstring says why, on a line starting with "Size:".

Every import of a celerymod module counts, the ones deferred into a function included (a
deferred import dodges a cycle at import time but keeps the modules tangled), and so do the
ones under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "celerymod"
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_package: bool) -> set[str]:
    """The dotted names an import statement in module `name` may load."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets |= _imported(node, name, path.name == "__init__.py")
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)) is not None:
            return cycle
    return None


def _has_size_reason(tree: ast.Module) -> bool:
    docstring = ast.get_docstring(tree) or ""
    return any(line.strip().startswith("Size:") for line in docstring.splitlines())


def oversized() -> list[str]:
    problems = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if _has_size_reason(tree):
            continue
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    problems.append(f"{name}.{node.name}: a class of {length} lines")
    return problems


def test_the_checker_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_sees_deferred_and_relative_imports(tmp_path: Path) -> None:
    deferred = ast.parse("def f():\n    from celerymod.index import x\n")
    imports = [node for node in ast.walk(deferred) if isinstance(node, ast.ImportFrom)]
    assert _imported(imports[0], "celerymod.cli", False) == {"celerymod.index", "celerymod.index.x"}
    relative = ast.parse("from . import base\n").body[0]
    assert isinstance(relative, ast.ImportFrom)
    assert "celerymod.transforms.base" in _imported(relative, "celerymod.transforms.rule", False)
    assert "celerymod.transforms.base" in _imported(relative, "celerymod.transforms", True)


def test_no_import_cycle_between_celerymod_modules() -> None:
    graph = import_graph()
    assert graph.get("celerymod.cli"), "the graph found the imports"
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_module_or_class_too_big_without_a_reason() -> None:
    assert oversized() == []
