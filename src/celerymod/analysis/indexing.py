"""The index pass over one file: what it contributes to the project index (analysis/index.py),
found with `CeleryModule` on the module-level bindings alone, positions from Python's parser.
"""

from __future__ import annotations

import ast
from dataclasses import replace

import libcst as cst

from celerymod.analysis.index import IndexEntry, TaskDefinition, function_calls, task_uses
from celerymod.analysis.module import CeleryModule


def index_module(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """Parse a file and return what it contributes to the project index (`index_file`)."""
    from celerymod import textio

    text = textio.decode(source).text
    # No metadata: names resolve through the module-level bindings (see
    # `_module_level_qualified`), and positions come from Python's own parser, which is many
    # times faster than libcst's position metadata.
    celery = CeleryModule(cst.parse_module(text), {}, path=path, module_name=module_name)
    entry = celery.index_entry()
    if entry is None:
        return entry
    try:
        tree: ast.Module | None = ast.parse(text)
    except (SyntaxError, ValueError):  # Python's parser rejects what libcst accepted.
        tree = None
    if tree is not None:
        entry = replace(
            entry,
            uses=task_uses(tree, path, module_name, entry.aliases),
            calls=function_calls(tree, entry.module_name or "__main__", entry.aliases),
        )
    if not entry.tasks:
        return entry
    positions = _definition_positions(text, tree)
    seen: dict[str, int] = {}
    tasks: list[TaskDefinition] = []
    for task in entry.tasks:
        qualname = task.qualified_name.removeprefix(f"{module_name}.")
        occurrence = seen.get(qualname, 0)
        seen[qualname] = occurrence + 1
        found = positions.get(qualname, [])
        line, column = found[occurrence] if occurrence < len(found) else (0, 0)
        tasks.append(replace(task, line=line, column=column))
    return replace(entry, tasks=tuple(tasks))


def _definition_positions(text: str, tree: ast.Module | None) -> dict[str, list[tuple[int, int]]]:
    """`__qualname__` -> (line, 1-based column of the name) of each def/class, in source
    order; empty when Python's parser rejected what libcst accepted (`tree` is None)."""
    if tree is None:
        return {}
    lines = text.splitlines()
    found: dict[str, list[tuple[int, int]]] = {}

    def below(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualname = prefix + child.name
                line = lines[child.lineno - 1] if child.lineno <= len(lines) else ""
                column = line.find(child.name, child.col_offset) + 1
                found.setdefault(qualname, []).append((child.lineno, column))
                inner = "" if isinstance(child, ast.ClassDef) else "<locals>."
                below(child, f"{qualname}.{inner}")
            else:
                below(child, prefix)

    below(tree, "")
    return found


def index_file(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """Parse one file and record its apps and task definitions; None if it has nothing to
    record. Raises what the parser raises on a file that does not parse (the runner drops it;
    the processing pass reports it)."""
    return index_module(source, path, module_name)
