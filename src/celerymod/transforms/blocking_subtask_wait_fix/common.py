"""Shared by CEL001's rewrite modules: `Refused`, the plans (`_Chain`, `_Chord`) and small
helpers on statements and names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _unreached(body: cst.IndentedBlock, ending: set[int]) -> set[int]:
    """The ids of the statements of `body` (and of the `if` arms in it) that no path reaches,
    once each block whose id is in `ending` ends by returning (a rewritten branch)."""
    dead: set[int] = set()

    def never_completes(block: cst.BaseSuite) -> bool:
        ends = False
        for statement in block.body if isinstance(block, cst.IndentedBlock) else ():
            if ends:
                dead.add(id(statement))
            elif isinstance(statement, cst.If):
                ends = _if_never_completes(statement, ending, never_completes)
            else:
                ends = isinstance(_only_small(statement), cst.Return | cst.Raise)
        return ends or id(block) in ending

    never_completes(body)
    return dead


def _if_never_completes(
    node: cst.If, ending: set[int], never_completes: Callable[[cst.BaseSuite], bool]
) -> bool:
    """Whether no arm of the `if` (each visited) lets the code after it run."""
    arms: list[cst.BaseSuite] = [node.body]
    current: cst.If | cst.Else | None = node.orelse
    while isinstance(current, cst.If):
        arms.append(current.body)
        current = current.orelse
    if current is not None:
        arms.append(current.body)
    every = [never_completes(arm) for arm in arms]  # Visit every arm: `dead` needs them all.
    return current is not None and all(every)


class _Truncated(cst.CSTTransformer):
    """`block` replaced by `new`, and the statements whose ids are in `drop` left out."""

    def __init__(self, block: cst.CSTNode, new: cst.CSTNode, drop: set[int]) -> None:
        super().__init__()
        self.block, self.new, self.drop = block, new, drop

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if original_node is self.block:
            assert isinstance(self.new, cst.IndentedBlock)
            return self.new
        kept = [
            new
            for old, new in zip(original_node.body, updated_node.body, strict=True)
            if id(old) not in self.drop
        ]
        return updated_node.with_changes(body=kept) if self.drop else updated_node


def _with_branch(
    body: cst.BaseSuite, block: cst.IndentedBlock, new_block: cst.IndentedBlock
) -> tuple[cst.IndentedBlock, bool]:
    """The task `body` with the branch `block` replaced by `new_block`, which ends by
    returning, and without the code after the `if`s that no path reaches now (then True:
    each branch that fell through to it holds it in its callback)."""
    assert isinstance(body, cst.IndentedBlock)
    dead = _unreached(body, {id(block)}) - _unreached(body, set())
    new = body.visit(_Truncated(block, new_block, dead))
    assert isinstance(new, cst.IndentedBlock)
    return new, bool(dead)
