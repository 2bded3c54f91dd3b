"""Shared by CEL001's rewrite modules: `Refused`, the plans (`_Chain`, `_Chord`) and small
helpers on statements and names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

_BY_HAND = "rewrite it by hand into a chord or chain (see `celerymod explain CEL001`)"


# Keywords of a wait that change what it returns: dropping them would change behaviour.
_VALUE_KEYWORDS = frozenset({"propagate", "callback", "on_message", "intermediate"})


class Refused(Exception):
    """No safe rewrite; the message says why (it completes 'not fixed automatically: ...')."""


def _fresh(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _single_assign_name(statement: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    """`name = value` as a whole statement line: (name, value)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        return small.targets[0].target.value, small.value
    return None


def _only_small(statement: cst.CSTNode) -> cst.BaseSmallStatement | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        return statement.body[0]
    return None


def _literalish(node: cst.BaseExpression) -> bool:
    """A value that obviously survives JSON: literals and displays of literals."""
    if isinstance(node, cst.Integer | cst.Float | cst.SimpleString | cst.ConcatenatedString):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("None", "True", "False")
    if isinstance(node, cst.UnaryOperation):
        return _literalish(node.expression)
    if isinstance(node, cst.List | cst.Tuple):
        return all(isinstance(e, cst.Element) and _literalish(e.value) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(
            isinstance(e, cst.DictElement) and _literalish(e.key) and _literalish(e.value)
            for e in node.elements
        )
    return False


@dataclass
class _Chain:
    steps: list[str]  # signature texts, in order
    value_name: str | None  # the variable the last wait's value was bound to
    returns_value: bool  # `return <last wait>`


@dataclass
class _Chord:
    header: str  # text of the group expression
    value_name: str | None
    returns_value: bool
    total_hint: int | None = None


@dataclass(frozen=True)
class Branch:
    """The `if` branch a task's waits sit in (`if`, `elif` or `else` block, maybe nested):
    the rewrite works on `block` as on a task body. `continuation` is the code after the
    `if`s that the branch falls through to (innermost `if` first): it moves into the
    callback for this branch and stays in place for the others. `before` are the task's
    statements before the `if`s (outermost first), which ran before the branch."""

    block: cst.IndentedBlock
    continuation: tuple[cst.BaseStatement, ...]
    before: tuple[cst.BaseStatement, ...]


@dataclass(frozen=True)
class _Carried:
    """The statement that uses the last wait's value inside a larger expression
    (`print(r.get())`, `for row in r.get():`): it becomes the callback's first statement,
    with the wait replaced by `name`, the value the callback receives."""

    index: int  # in the flattened body
    original: cst.BaseStatement
    statement: cst.BaseStatement
    name: str
    wait: cst.CSTNode  # the wait (or comprehension of waits) replaced by `name`


def _leading(statement: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    lines: Sequence[cst.EmptyLine] = getattr(statement, "leading_lines", ())
    return lines
