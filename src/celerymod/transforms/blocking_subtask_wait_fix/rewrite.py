"""CEL001's fixes: rewrite a task's waits on subtasks into a chord or a chain (DESIGN §2).

`rewrite(celery, task, waits, strategy)` classifies the task's waits
(`analysis.shapes.classify`) and returns an `Outcome`: a `Fix` to attach to the first wait, or
the reason no rewrite is safe. A task whose waits form more than one shape is not rewritten
(the code after the first would move into the callback with waits still in it, and the
output would not be a fixpoint).

The wait statement must sit at the top level of the task body, or in the body of the
`with allow_join_result():` workaround, which the fix removes (its body counts as top level),
or at the top level of one branch of an `if` (`elif`, `else`, nested `if`s): then that branch is
the body the rewrite works on (`Branch`), its dispatch ends the branch, and the code after the
`if` (the continuation) moves into the callback for that branch while it stays in place for
the others. The body is split into three parts:

    prefix   statements before the dispatch          kept in the orchestrator
    range    dispatches and waits of the shape       replaced by the chord / chain
    tail     statements after the last wait          moved verbatim into `<task>_finish`

The tail's free names that the orchestrator binds before the wait (parameters, prefix
assignments; libcst scope analysis) become explicit parameters of the callback, after the
waited value (named as the original variable). Both strategies need the task's own request:
`bind=True` and a `self` parameter are added when missing (the same choice for `metadata`,
whose `job_id` is `self.request.id`, and `replace`, which calls `self.replace`).

The rewrite is one `_Rewrite` per task, stacked from layers in this package, each in its
own module (bottom first): spelling.py (state, names), body.py (the task body), steps.py
(each step's signature), plans.py
(the chord or chain per shape), values.py (what the callback may receive), messages.py,
emit.py (the new source); common.py holds
`Refused` and small helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from typing import cast

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import ShapeKind, classify
from celerymod.model import Strategy
from celerymod.transforms.base import Fix, walk
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Branch,
    Refused,
    _Chain,
    _Chord,
)
from celerymod.transforms.blocking_subtask_wait_fix.emit import _Emit


@dataclass(frozen=True)
class Outcome:
    """A fix for `site`, or a `reason` (per wait) why the task's waits are not fixed."""

    fix: Fix | None = None
    site: WaitSite | None = None
    reasons: dict[int, str] = field(default_factory=dict)  # id(wait node) -> reason


def rewrite(
    celery: CeleryModule, task: Task, waits: Sequence[WaitSite], strategy: Strategy
) -> Outcome:
    try:
        branch = _branch_of(celery, task, waits)
    except Refused as refusal:
        return Outcome(reasons={id(site.node): str(refusal) for site in waits})
    shapes = classify(_flattened(celery, task, waits, branch))
    if not shapes:
        return Outcome()
    first = shapes[0]
    try:
        other = next((shape for shape in shapes if shape.kind is ShapeKind.OTHER), None)
        if other is not None:
            raise Refused(f"{other.reason}; {_BY_HAND}")
        if len(shapes) > 1:
            kinds = ", ".join(str(shape.kind) for shape in shapes)
            raise Refused(
                f"the task waits in {len(shapes)} separate places ({kinds}); split it into "
                "tasks that wait once, or " + _BY_HAND
            )
        fix = _Rewrite(celery, task, first, strategy, branch).build()
    except Refused as refusal:
        return Outcome(reasons={id(site.node): str(refusal) for site in waits})
    return Outcome(fix=fix, site=first.waits[0])


def _branch_of(celery: CeleryModule, task: Task, waits: Sequence[WaitSite]) -> Branch | None:
    """The `if` branch every wait sits in, at its top level (or in a `with
    allow_join_result():` there); None when a wait is not in one (the task body is the
    block). Refused when the waits sit in different branches."""
    body = task.function.body
    if not isinstance(body, cst.IndentedBlock) or not waits:
        return None
    found: list[Branch] = []
    for site in waits:
        branch = _branch_above(celery, body, site.node)
        if branch is None:
            return None
        found.append(branch)
    if any(branch.block is not found[0].block for branch in found):
        raise Refused(
            "the task waits in more than one branch of an `if` (each would need a callback "
            "of its own); " + _BY_HAND
        )
    return found[0]


def _branch_above(
    celery: CeleryModule, body: cst.IndentedBlock, node: cst.CSTNode
) -> Branch | None:
    """The deepest branch block on the way from the task body down to `node` that only `if`
    statements separate from the body, with the continuation after each `if` (innermost
    first) and the statements before it (outermost first)."""
    path: list[cst.CSTNode] = []
    current: cst.CSTNode | None = node
    while current is not None and current is not body:
        path.append(current)
        current = celery.parent(current)
    if current is None:
        return None
    path.reverse()  # From the body's statement down to `node`.
    block: cst.IndentedBlock | None = None
    continuation: list[cst.BaseStatement] = []
    before: list[cst.BaseStatement] = []
    container: cst.IndentedBlock = body
    position = 0
    while position < len(path) and isinstance(path[position], cst.If):
        statement = path[position]
        index = next(i for i, s in enumerate(container.body) if s is statement)
        inner = _branch_block(path, position)
        if inner is None:
            break  # The wait is in the `if`'s test: the `if` is a statement of the block.
        position, found = inner
        continuation[:0] = container.body[index + 1 :]
        before += container.body[:index]
        block = container = found
        position += 1
    if block is None:
        return None
    return Branch(block, tuple(continuation), tuple(before))


def _branch_block(
    path: Sequence[cst.CSTNode], position: int
) -> tuple[int, cst.IndentedBlock] | None:
    """From the `if` at `path[position]`, through `elif`s and `else`, the block of the branch
    `path` goes into, with its position in `path`; None when `path` goes into a test."""
    node = path[position]
    while position + 1 < len(path):
        child = path[position + 1]
        if isinstance(node, cst.If | cst.Else) and child is node.body:
            return position + 1, cast(cst.IndentedBlock, child)
        if not (isinstance(node, cst.If) and child is node.orelse):
            return None
        node, position = child, position + 1
    return None


def _flattened(
    celery: CeleryModule, task: Task, waits: Sequence[WaitSite], branch: Branch | None = None
) -> list[WaitSite]:
    """The waits with statement indices counted as if every `with allow_join_result():`
    holding one were dissolved into the body (two waits in one such block are two
    statements of a sequence, not "several waits in one statement"); in a branch, indices
    and statements are those of the branch's block, and the `if`s above it no longer
    enclose the waits."""
    body = task.function.body if branch is None else branch.block
    dissolve = {
        id(site.workaround.node)
        for site in waits
        if site.workaround is not None and site.workaround.kind == "allow_join_result"
    }
    if (not dissolve and branch is None) or not isinstance(body, cst.IndentedBlock):
        return list(waits)
    flat: dict[int, int] = {}
    statements: dict[int, cst.BaseStatement] = {}
    for statement in body.body:
        inner = statement.body if id(statement) in dissolve else None  # type: ignore[attr-defined]
        for child in inner.body if isinstance(inner, cst.IndentedBlock) else [statement]:
            flat[id(child)] = len(flat)
            statements[id(child)] = child

    def statement_of(node: cst.CSTNode) -> cst.CSTNode | None:
        current: cst.CSTNode | None = node
        while current is not None:
            if id(current) in flat:
                return current
            current = celery.parent(current)
        return None

    result = []
    for site in waits:
        top = statement_of(site.statement if branch is None else site.node)
        if top is None:
            result.append(site)
            continue
        indices = {flat[id(top)]}
        for source in site.origin.sources:
            found = statement_of(source)
            if found is not None:
                indices.add(flat[id(found)])
        changes: dict[str, object] = {}
        if branch is not None:
            inside = {id(n) for n in walk(top)}
            changes = {
                "statement": statements[id(top)],
                "enclosing": tuple(n for n in site.enclosing if id(n) in inside),
            }
        result.append(
            dataclass_replace(
                site,
                statement_index=flat[id(top)],
                statement_indices=tuple(sorted(indices)),
                **changes,  # type: ignore[arg-type]
            )
        )
    return result


class _Rewrite(_Emit):
    """One task's rewrite: `build` picks the plan for the shape and emits it."""

    # -- entry --

    def build(self) -> Fix:
        shape = self.shape
        if shape.kind is ShapeKind.OTHER:
            raise Refused(f"{shape.reason}; {_BY_HAND}")
        task = self.task
        if task.decorator is None or task.class_node is not None:
            raise Refused(
                "a class-based task has no decorator to give a callback task; " + _BY_HAND
            )
        if not any(s is self.function for s in self.celery.module.body):
            raise Refused("the task is not defined at module level; " + _BY_HAND)
        if not isinstance(self.function.body, cst.IndentedBlock):
            raise Refused("the task body is on one line; " + _BY_HAND)
        if isinstance(self.function.asynchronous, cst.Asynchronous):
            raise Refused("the task is a coroutine; " + _BY_HAND)
        self._flatten()
        if shape.kind is ShapeKind.FAN_OUT:
            plan: _Chain | _Chord = self._fan_out()
        elif shape.kind is ShapeKind.LOOP_OF_WAITS:
            plan = self._loop()
        else:
            plan = self._chain()
        return self._emit(plan)
