"""CEL001's fixes: rewrite a task's waits on subtasks into a chord or a chain (DESIGN §2).

`rewrite(celery, task, waits, strategy)` classifies the task's waits
(`analysis.shapes.classify`) and returns an `Outcome`: a `Fix` to attach to the first wait, or
the reason no rewrite is safe. A task whose waits form more than one shape is not rewritten
(the code after the first would move into the callback with waits still in it, and the
output would not be a fixpoint).

The wait statement must sit at the top level of the task body, or in the body of the
`with allow_join_result():` workaround, which the fix removes (its body counts as top level).
The body is split into three parts:

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

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import ShapeKind, classify
from celerymod.model import Strategy
from celerymod.transforms.base import Fix
from celerymod.transforms.blocking_subtask_wait_fix.common import _BY_HAND, Refused, _Chain, _Chord
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
    shapes = classify(_flattened(celery, task, waits))
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
        fix = _Rewrite(celery, task, first, strategy).build()
    except Refused as refusal:
        return Outcome(reasons={id(site.node): str(refusal) for site in waits})
    return Outcome(fix=fix, site=first.waits[0])


def _flattened(celery: CeleryModule, task: Task, waits: Sequence[WaitSite]) -> list[WaitSite]:
    """The waits with statement indices counted as if every `with allow_join_result():`
    holding one were dissolved into the body (two waits in one such block are two
    statements of a sequence, not "several waits in one statement")."""
    body = task.function.body
    dissolve = {
        id(site.workaround.node)
        for site in waits
        if site.workaround is not None and site.workaround.kind == "allow_join_result"
    }
    if not dissolve or not isinstance(body, cst.IndentedBlock):
        return list(waits)
    flat: dict[int, int] = {}
    for statement in body.body:
        inner = statement.body if id(statement) in dissolve else None  # type: ignore[attr-defined]
        for child in inner.body if isinstance(inner, cst.IndentedBlock) else [statement]:
            flat[id(child)] = len(flat)

    def index_of(node: cst.CSTNode) -> int | None:
        current: cst.CSTNode | None = node
        while current is not None:
            if id(current) in flat:
                return flat[id(current)]
            current = celery.parent(current)
        return None

    result = []
    for site in waits:
        index = index_of(site.statement)
        if index is None:
            result.append(site)
            continue
        indices = {index}
        for source in site.origin.sources:
            found = index_of(source)
            if found is not None:
                indices.add(found)
        result.append(
            dataclass_replace(site, statement_index=index, statement_indices=tuple(sorted(indices)))
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
