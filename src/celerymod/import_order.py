"""Add `from <module> import <name>` where isort (ruff's `I001`, default settings) puts it.

libcst's `AddImportsVisitor` appends a new import statement after the module's last import
and merges a name into an existing `from x import ...` without isort's order, so a tree that
was clean under `ruff check --select I001` is not any more after a fix. `add_imports` keeps
it clean for the common shapes: the name joins the existing non-aliased `from x import` in
member order (constants, classes, then the rest, case-insensitively); an aliased name or a
module not imported yet gets its own statement, sorted into the section of the module's
imports it belongs to (an existing import of the same top-level package decides, else the
standard library list). Anything else (no import block, comments inside the statement,
relative imports) returns None: the caller falls back to `AddImportsVisitor`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod.visitors import ImportItem

_LINE_LENGTH = 88  # ruff's default `line-length`, which its isort wraps at.
_FUTURE, _STDLIB, _THIRD_PARTY, _LOCAL = 0, 1, 2, 4


@dataclass(frozen=True)
class _Line:
    index: int  # in module.body
    statement: cst.SimpleStatementLine
    node: cst.Import | cst.ImportFrom


def add_imports(module: cst.Module, items: Sequence[ImportItem]) -> cst.Module | None:
    for item in items:
        added = _add(module, item)
        if added is None:
            return None
        module = added
    return module


def _add(module: cst.Module, item: ImportItem) -> cst.Module | None:
    if item.relative:
        return None
    block = _import_block(module)
    if not block:
        return None
    if item.obj_name is None:
        return _add_module(module, block, item)
    alias = item.alias if item.alias != item.obj_name else None
    for line in block:
        node = line.node
        if not isinstance(node, cst.ImportFrom) or _dotted(node) != item.module:
            continue
        if node.relative or isinstance(node.names, cst.ImportStar):
            continue
        present = {(a.evaluated_name, a.evaluated_alias) for a in node.names}
        if (item.obj_name, alias) in present:
            return module  # Already imported: nothing to do.
    if alias is None:
        for line in block:
            node = line.node
            if (
                isinstance(node, cst.ImportFrom)
                and _dotted(node) == item.module
                and not node.relative
                and not isinstance(node.names, cst.ImportStar)
                and all(a.asname is None for a in node.names)
            ):
                merged = _merged(line.statement, node, item.obj_name)
                if merged is None:
                    return None
                return _replace(module, line.index, [merged])
    return _insert(module, block, item, alias)


def _add_module(module: cst.Module, block: list[_Line], item: ImportItem) -> cst.Module | None:
    """`import x` (CEL003's `import asyncio`): nothing when the module already has it, else a
    statement of its own in its section."""
    alias = item.alias if item.alias != item.module else None
    for line in block:
        if isinstance(line.node, cst.Import) and any(
            _name_text(a.name) == item.module and a.evaluated_alias == alias
            for a in line.node.names
        ):
            return module
    return _insert(module, block, item, alias)


def _merged(
    statement: cst.SimpleStatementLine, node: cst.ImportFrom, name: str
) -> cst.SimpleStatementLine | None:
    if any(isinstance(n, cst.Comment) for n in _walk(node)) or isinstance(
        node.names, cst.ImportStar
    ):
        return None
    names = sorted({a.evaluated_name for a in node.names} | {name}, key=member_key)
    module = _dotted(node)
    multi_line = node.lpar is not None and node.names[-1].comma != cst.MaybeSentinel.DEFAULT
    text = f"from {module} import {', '.join(names)}"
    if multi_line or len(text) > _LINE_LENGTH:
        text = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
    new = cst.parse_statement(text + "\n")
    assert isinstance(new, cst.SimpleStatementLine)
    return new.with_changes(
        leading_lines=statement.leading_lines, trailing_whitespace=statement.trailing_whitespace
    )


def _insert(
    module: cst.Module, block: list[_Line], item: ImportItem, alias: str | None
) -> cst.Module | None:
    as_text = f" as {alias}" if alias else ""
    if item.obj_name is None:
        text = f"import {item.module}{as_text}"
    else:
        text = f"from {item.module} import {item.obj_name}{as_text}"
    new = cst.parse_statement(text + "\n")
    assert isinstance(new, cst.SimpleStatementLine)
    key = _statement_key(new.body[0])  # type: ignore[arg-type]
    groups = _groups(block)
    section = _section_of(item.module, groups)
    # The group that imports the same package first: third-party and first-party groups
    # classify alike (both `_THIRD_PARTY`), only the package tells them apart.
    same = [
        g for g in groups if any(_top(_line_module(ln.node) or "") == _top(item.module) for ln in g)
    ]
    same = same or [g for g in groups if _group_section(g) == section]
    if same:
        group = same[0]
        after = [line for line in group if _statement_key(line.node) > key]
        if after:
            first = after[0]
            if first is group[0]:
                return _replace(
                    module,
                    first.index,
                    [
                        new.with_changes(leading_lines=first.statement.leading_lines),
                        first.statement.with_changes(leading_lines=()),
                    ],
                )
            return _replace(module, first.index, [new, first.statement])
        last = group[-1]
        return _replace(module, last.index, [last.statement, new])
    # A section of its own, between the sections before and after it.
    later = [g for g in groups if _group_section(g) > section]
    if later:
        first = later[0][0]
        blank = cst.EmptyLine()
        return _replace(
            module,
            first.index,
            [
                new.with_changes(leading_lines=first.statement.leading_lines),
                first.statement.with_changes(leading_lines=(blank,)),
            ],
        )
    last = groups[-1][-1]
    return _replace(
        module, last.index, [last.statement, new.with_changes(leading_lines=(cst.EmptyLine(),))]
    )


def _replace(
    module: cst.Module, index: int, statements: list[cst.SimpleStatementLine]
) -> cst.Module:
    body = list(module.body)
    body[index : index + 1] = statements
    return module.with_changes(body=body)


def _import_block(module: cst.Module) -> list[_Line]:
    """The module's first run of top-level import statements (after the docstring)."""
    block: list[_Line] = []
    for index, statement in enumerate(module.body):
        small = (
            statement.body[0]
            if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            else None
        )
        if isinstance(small, cst.Import | cst.ImportFrom):
            assert isinstance(statement, cst.SimpleStatementLine)
            block.append(_Line(index, statement, small))
        elif block:
            break
        elif not (isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)):
            return []  # Code before the first import: not a layout this handles.
    return block


def _groups(block: list[_Line]) -> list[list[_Line]]:
    """The block split where a blank line separates statements (isort's sections)."""
    groups: list[list[_Line]] = []
    for line in block:
        if not groups or any(e.comment is None for e in line.statement.leading_lines):
            groups.append([])
        groups[-1].append(line)
    return groups


def _top(module: str) -> str:
    return module.partition(".")[0]


def _line_module(node: cst.Import | cst.ImportFrom) -> str | None:
    if isinstance(node, cst.ImportFrom):
        return None if node.relative else _dotted(node)
    return _name_text(node.names[0].name)


def _classify(module: str | None) -> int:
    if module is None:
        return _LOCAL
    if module == "__future__":
        return _FUTURE
    if _top(module) in sys.stdlib_module_names:
        return _STDLIB
    return _THIRD_PARTY  # or first-party: told apart by the groups (`_section_of`)


def _group_section(group: list[_Line]) -> int:
    return _classify(_line_module(group[0].node))


def _section_of(module: str, groups: list[list[_Line]]) -> int:
    """The section of `module`: the group importing its package if any, else its class."""
    for group in groups:
        if any(_top(_line_module(line.node) or "") == _top(module) for line in group):
            return _group_section(group)
    return _classify(module)


def _statement_key(node: cst.Import | cst.ImportFrom) -> tuple[object, ...]:
    """isort's order inside a section: `import x` lines, then `from x import` lines, each by
    module (case-insensitively), then by first member, a non-aliased statement first."""
    if isinstance(node, cst.Import):
        name = _name_text(node.names[0].name)
        return (0, name.lower(), name, (), 0)
    module = _dotted(node) if not node.relative else "." * len(node.relative)
    if isinstance(node.names, cst.ImportStar):
        return (1, module.lower(), module, (), 0)
    first = node.names[0]
    return (1, module.lower(), module, member_key(first.evaluated_name), int(bool(first.asname)))


def member_key(name: str) -> tuple[int, str, str]:
    """ruff's `order-by-type`: CONSTANTS, then Classes, then the rest."""
    if name.isupper() and len(name) > 1:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, name.lower(), name)


def _dotted(node: cst.ImportFrom) -> str:
    return "" if node.module is None else _name_text(node.module)


def _name_text(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_name_text(node.value)}.{node.attr.value}"
    return ""


def _walk(node: cst.CSTNode) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.children)
    return found


def tidy_removals(before: cst.Module, after: cst.Module) -> cst.Module:
    """Mend the layout `RemoveImportsVisitor` leaves behind (`before` is the module it was
    given, `after` what it returned).

    A removed statement takes its leading blank lines with it: when it opened an isort
    section, the next statement gets them, so the sections stay apart. The other way round,
    removing the file's first statement must not leave the file starting with the blank
    lines that separated it from the next one. A name removed last from a parenthesized
    multi-line `from x import (...)` takes the trailing comma (and the line break before
    `)`) with it: the new last name gets that comma back.
    """
    body: list[cst.SimpleStatementLine | cst.BaseCompoundStatement] = list(after.body)
    carry: Sequence[cst.EmptyLine] = ()
    strip_top = False  # The file's first statement went, and the file did not open blank.
    j = 0
    for statement in before.body:
        # The visitor rebuilds every node, so "kept" is structural equality, not identity.
        unchanged = j < len(body) and body[j].deep_equals(statement)
        if unchanged or (j < len(body) and _same_import(statement, body[j])):
            if not unchanged:
                body[j] = _trailing_comma_back(statement, body[j])
            current = body[j]
            lines = list(current.leading_lines)
            if carry and not any(line.comment is None for line in lines):
                lines = [*carry, *lines]
            while strip_top and lines and lines[0].comment is None:
                lines.pop(0)
            if lines != list(current.leading_lines):
                body[j] = current.with_changes(leading_lines=lines)
            carry, strip_top = (), False
            j += 1
        elif isinstance(statement, cst.SimpleStatementLine) and _import_node(statement):
            blank = [line for line in statement.leading_lines if line.comment is None]
            strip_top = strip_top or (j == 0 and not blank)
            carry = carry or blank[:1]
    return after.with_changes(body=body)


def _import_node(statement: cst.BaseStatement) -> cst.Import | cst.ImportFrom | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, cst.Import | cst.ImportFrom):
            return small
    return None


def _same_import(old: cst.BaseStatement, new: cst.BaseStatement) -> bool:
    """`new` is `old` with some names removed: the same kind of import of the same module."""
    a, b = _import_node(old), _import_node(new)
    if isinstance(a, cst.ImportFrom) and isinstance(b, cst.ImportFrom):
        return _dotted(a) == _dotted(b) and len(a.relative) == len(b.relative)
    if isinstance(a, cst.Import) and isinstance(b, cst.Import):
        return {_name_text(n.name) for n in b.names} <= {_name_text(n.name) for n in a.names}
    return False


def _trailing_comma_back(
    old: cst.BaseStatement, new: cst.SimpleStatementLine | cst.BaseCompoundStatement
) -> cst.SimpleStatementLine | cst.BaseCompoundStatement:
    a, b = _import_node(old), _import_node(new)
    if not (isinstance(a, cst.ImportFrom) and isinstance(b, cst.ImportFrom)):
        return new
    if isinstance(a.names, cst.ImportStar) or isinstance(b.names, cst.ImportStar):
        return new
    if a.lpar is None or b.lpar is None or not isinstance(a.names[-1].comma, cst.Comma):
        return new
    if isinstance(b.names[-1].comma, cst.Comma):
        return new
    names = [*b.names[:-1], b.names[-1].with_changes(comma=a.names[-1].comma)]
    assert isinstance(new, cst.SimpleStatementLine)
    return new.with_changes(body=[b.with_changes(names=names)])
