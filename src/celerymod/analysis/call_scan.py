"""One walk of a module's `ast` for the index pass: every call with the function it sits
in, the dropped values, the imports (`scan_calls`), shared by `index.task_uses`,
`index.function_calls` and `indexing` (`ast.walk` is pure Python: walking four times was
most of the pass's time).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class CallScan:
    """One walk of a module's tree, shared by `task_uses`, `function_calls` and the index
    pass (`ast.walk` is pure Python and was most of the pass's time, walked four times)."""

    # Every call, with the `__qualname__` of the module-level function (or method of a
    # module-level class) it sits in, None elsewhere.
    calls: tuple[tuple[ast.Call, str | None], ...]
    dropped: frozenset[int]  # ids of the values of expression statements
    imports: tuple[ast.Import | ast.ImportFrom, ...]  # every import, at any depth
    # The imports inside functions, with the `__qualname__` of the function (as `calls`).
    owned_imports: tuple[tuple[ast.Import | ast.ImportFrom, str], ...] = ()
    declared_global: frozenset[str] = frozenset()  # every name a `global` statement lists


def scan_calls(tree: ast.Module) -> CallScan:
    """The `CallScan` of `tree`, computed once for the latest tree."""
    global _last_scan
    if _last_scan is not None and _last_scan[0] is tree:
        return _last_scan[1]
    calls: list[tuple[ast.Call, str | None]] = []
    dropped: set[int] = set()
    imports: list[ast.Import | ast.ImportFrom] = []
    owned_imports: list[tuple[ast.Import | ast.ImportFrom, str]] = []
    declared_global: set[str] = set()

    def walk(node: ast.AST, owner: str | None) -> None:
        stack: list[object] = [node]
        while stack:
            current = stack.pop()
            kind = type(current)
            if kind is ast.Call:
                calls.append((current, owner))  # type: ignore[arg-type]
            elif kind is ast.Expr:
                dropped.add(id(current.value))  # type: ignore[attr-defined]
            elif kind is ast.Import or kind is ast.ImportFrom:
                imports.append(current)  # type: ignore[arg-type]
                if owner is not None:
                    owned_imports.append((current, owner))  # type: ignore[arg-type]
            elif kind is ast.Global:
                declared_global.update(current.names)  # type: ignore[attr-defined]
            elif not isinstance(current, ast.AST):
                continue  # A name in a list field (`global a, b`) or a missing dict key.
            for name in current._fields:  # type: ignore[attr-defined]
                value = getattr(current, name, None)
                if type(value) is list:
                    stack.extend(value)
                elif isinstance(value, ast.AST) and name != "ctx":
                    stack.append(value)

    def walk_function(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: str) -> None:
        start = len(calls)
        walk(function, owner)
        unused = _unused_nested_defs(function)
        if unused:
            # A `def` inside the function that nothing in it names never runs as part of
            # it: its calls are no edges of the call graph (still calls, for `task_uses`).
            inside = {id(n) for d in unused for n in ast.walk(d) if isinstance(n, ast.Call)}
            calls[start:] = [(c, None if id(c) in inside else o) for c, o in calls[start:]]

    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            walk_function(statement, statement.name)
        elif isinstance(statement, ast.ClassDef):
            for part in (*statement.decorator_list, *statement.bases, *statement.keywords):
                walk(part, None)
            for member in statement.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    walk_function(member, f"{statement.name}.{member.name}")
                else:
                    walk(member, None)
        else:
            walk(statement, None)
    scanned = (tuple(calls), frozenset(dropped), tuple(imports), tuple(owned_imports))
    found = CallScan(*scanned, frozenset(declared_global))
    _last_scan = (tree, found)
    return found


_last_scan: tuple[ast.Module, CallScan] | None = None


def _unused_nested_defs(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The `def`s nested in `function` whose name its code never reads outside their own
    body (defined, never called, returned or passed on). Only functions holding a nested
    `def` pay for the extra walks."""
    nested = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not function
    ]
    if not nested:
        return []
    loads: dict[str, int] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            loads[node.id] = loads.get(node.id, 0) + 1
    unused = []
    for definition in nested:
        if definition.decorator_list:
            continue  # A decorator may register it (`@app.task`, `@receiver(...)`).
        own = sum(
            1
            for node in ast.walk(definition)
            if isinstance(node, ast.Name)
            and node.id == definition.name
            and not isinstance(node.ctx, ast.Store)
        )
        if loads.get(definition.name, 0) == own:
            unused.append(definition)
    return unused
