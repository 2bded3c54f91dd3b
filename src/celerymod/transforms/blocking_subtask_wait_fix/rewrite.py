"""CEL001's fixes: rewrite a task's waits on subtasks into a chord or a chain (DESIGN §2).

`rewrite(celery, task, waits, strategy)` classifies the task's waits
(`analysis.shapes.classify`) and returns an `Outcome`: a `Fix` to attach to the first wait, or
the reason no rewrite is safe. A task body whose waits form several shapes one after the
other is rewritten one shape per fix, a chain of chords (later.py): the fix rewrites the
first shape, the code after it (holding the later waits) moves into the callback, and the
engine's fixpoint rewrites the callback's own wait next; the fix is offered only when every
later step can be rewritten too (tried on the fixed code).

The wait statement must sit at the top level of the task body, or in the body of the
`with allow_join_result():` workaround, which the fix removes (its body counts as top level),
or at the top level of one branch of an `if` (`elif`, `else`, nested `if`s): then that branch is
the body the rewrite works on (`Branch`), its dispatch ends the branch, and the code after the
`if` (the continuation) moves into the callback for that branch while it stays in place for
the others. Waits in several branches of one `if` (branches that exclude each other) are
rewritten one branch per fix: the fix is the first branch's, and the engine, which analyses
the fixed code again until nothing changes, finds the next branch's fix there. The body is
split into three parts:

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from typing import cast

import libcst as cst
from libcst.metadata import ScopeProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import Shape, ShapeKind, classify
from celerymod.model import Strategy
from celerymod.transforms.base import Fix, walk
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Branch,
    Refused,
    _Chain,
    _Chord,
    _unreached,
)
from celerymod.transforms.blocking_subtask_wait_fix.emit import _Emit
from celerymod.transforms.blocking_subtask_wait_fix.later import (
    Steps,
    callback_task,
    check_next_step,
    check_order,
    merged,
)
from celerymod.transforms.blocking_subtask_wait_fix.reads import _first_waits, _start


@dataclass(frozen=True)
class Outcome:
    """A fix for `site`, or a `reason` (per wait) why the task's waits are not fixed.

    `owners` maps each wait that a fix rewrites to the wait that fix is reported on: `site`
    for the waits of its chord or chain, the first wait of their branch for the waits of
    the `if`'s other branches, each rewritten by a fix of its own once `site`'s is applied
    (the engine re-analyses the fixed code)."""

    fix: Fix | None = None
    site: WaitSite | None = None
    reasons: dict[int, str] = field(default_factory=dict)  # id(wait node) -> reason
    owners: dict[int, WaitSite] = field(default_factory=dict)  # id(wait node) -> wait
    suppressed: frozenset[int] = frozenset()  # id(owner's node): its finding is suppressed
    # What makes `fix` review under `replace` (and the later steps' fixes), for a step
    # before it in a chain of chords to name (`later.merged`).
    review_reasons: tuple[str, ...] = ()
    # The waits of later shapes in a row, rewritten by the fixes of `callback` that follow.
    later: frozenset[int] = frozenset()
    callback: str = ""

    def help_for(self, site: WaitSite, celery: CeleryModule) -> tuple[str, bool]:
        """The `help:` of a wait without a fix of its own ("" for the plain one), and
        whether another finding's fix rewrites it (`Finding.part_of_fix`)."""
        reason = self.reasons.get(id(site.node))
        if reason:
            return f"not fixed automatically: {reason}", False
        owner = self.owners.get(id(site.node))
        if owner is None:
            return "", False
        line = _line(celery, owner)
        if id(owner.node) in self.suppressed:
            why = f"the wait{line}, whose fix would rewrite this one too, is suppressed"
            return f"not fixed automatically: {why} (`# celerymod: ignore`)", False
        if id(site.node) in self.later:
            why = (
                f"rewritten after the fix of the wait{line}, by a fix of its own: the code "
                f"after that wait, holding this one, moves into the callback `{self.callback}`, "
                "whose own wait becomes the next chord or chain"
            )
            return why, True
        if self.site is None or owner is self.site:
            return f"rewritten with the fix of the wait{line}", True
        after = f"rewritten after the fix of the wait{_line(celery, self.site)}"
        return (
            f"{after}, by a fix of its own: each branch of the `if` gets its own chord or chain",
            True,
        )


def _line(celery: CeleryModule, site: WaitSite) -> str:
    where = celery._position(site.node)
    return f" on line {where.start.line}" if where is not None else ""


# A branch's rewrite: its waits, its fix, the ids of the nodes it takes out of the task, and
# the id of the branch's block.
_Built = tuple[list[WaitSite], Outcome, set[int], int]


def rewrite(
    celery: CeleryModule,
    task: Task,
    waits: Sequence[WaitSite],
    strategy: Strategy,
    suppressed: Callable[[CeleryModule, WaitSite], bool] = lambda celery, site: False,
    steps: Steps | None = None,
) -> Outcome:
    """The fix of the task's waits. Waits in several branches of one `if` (each branch
    excludes the others) are rewritten one branch at a time: the fix is the first branch's
    whose rewrite is possible and whose finding is not `suppressed`; the waits of the other
    branches that can be rewritten are rewritten by the fixes the engine finds in its output
    (their `owners`); those that cannot keep their reason. Without `steps` (what trying a
    later step needs), a task body that waits in several places in a row is not rewritten."""
    try:
        groups = _branches_of(celery, task, waits)
    except Refused as refusal:
        return Outcome(reasons={id(site.node): str(refusal) for site in waits})
    reasons: dict[int, str] = {}
    built: list[_Built] = []
    for branch, group in groups:
        outcome, moved = _rewrite_block(celery, task, group, strategy, branch, steps)
        reasons.update(outcome.reasons)
        if outcome.fix is not None:
            built.append((group, outcome, moved, id(branch.block) if branch else 0))
    built = _keeping_names_local(celery, task, built, reasons)
    owners: dict[int, WaitSite] = {}
    hidden: set[int] = set()
    first: Outcome | None = None
    for group, outcome, _, _ in built:
        assert outcome.site is not None
        owners.update({id(site.node): outcome.site for site in group})
        if suppressed(celery, outcome.site):
            hidden.add(id(outcome.site.node))
        elif first is None:
            first = outcome
    if first is None:
        return Outcome(None, None, reasons, owners, frozenset(hidden))
    return dataclass_replace(first, reasons=reasons, owners=owners, suppressed=frozenset(hidden))


def shapes(celery: CeleryModule, task: Task, waits: Sequence[WaitSite]) -> list[Shape]:
    """The shapes `waits` form as the rewrite sees them: per `if` branch when they sit in
    branches of one `if` (a single wait in each branch is a shape of its own), else over the
    task body (`analysis.shapes.classify`). CEL002 takes a wait that is a shape alone."""
    try:
        groups = _branches_of(celery, task, waits)
    except Refused:
        return list(classify(waits))
    return [
        s for branch, group in groups for s in classify(_flattened(celery, task, group, branch))
    ]


def _keeping_names_local(
    celery: CeleryModule,
    task: Task,
    built: list[_Built],
    reasons: dict[int, str],
) -> list[_Built]:
    """The branch rewrites of `built` that change no name's meaning in the code that stays
    in the task; the others' waits get their reason in `reasons`.

    A name that only the code the rewrites take out binds, and that the code staying in the
    task still reads, stops being local there: where the original raised
    `UnboundLocalError` it would read a module global or builtin of that name, or name
    nothing at all (`ruff` F821). Every rewrite that takes out a binding of such a name is
    refused. All the branches' rewrites count at once, as if each were applied, so that the
    verdict does not depend on which one the engine applies first (what `check` says of a
    branch rewritten later is what its own fix then does)."""
    body = task.function.body
    if not built or not isinstance(body, cst.IndentedBlock):
        return built
    scope = celery._meta(ScopeProvider, body.body[0], None)
    while built and scope is not None:
        # What leaves the task: the moved code, and the code after the `if`s that no branch
        # reaches once every branch of `built` ends with its dispatch (the fix drops it).
        dead = _unreached(body, {block for *_, block in built})
        moved = set().union(*(ids for _, _, ids, _ in built))
        for statement in (node for node in walk(body) if id(node) in dead):
            moved |= {id(node) for node in walk(statement)}
        lost: dict[str, str] = {}  # the name -> the reason
        for name in sorted({a.name for a in scope.assignments}):
            bindings = scope.assignments[name]
            if all(id(binding.node) in moved for binding in bindings) and any(
                id(access.node) not in moved for b in bindings for access in b.references
            ):
                lost[name] = (
                    f"only the code that moves into the callback binds `{name}`, which the "
                    f"code staying in the task reads: there `{name}` would no longer be a "
                    "local of the task (a `NameError`, or the module's or a builtin's value, "
                    "where it was unbound); " + _BY_HAND
                )
        kept = []
        for group, outcome, ids, block in built:
            name = next(
                (n for n in lost if any(id(a.node) in ids for a in scope.assignments[n])), None
            )
            if name is None:
                kept.append((group, outcome, ids, block))
            else:
                reasons.update({id(site.node): lost[name] for site in group})
        if len(kept) == len(built):
            break
        built = kept
    return built


def _rewrite_block(
    celery: CeleryModule,
    task: Task,
    waits: Sequence[WaitSite],
    strategy: Strategy,
    branch: Branch | None,
    steps: Steps | None = None,
) -> tuple[Outcome, set[int]]:
    """The fix of the waits of one block, the task body or one `if` branch, with the ids of
    the nodes it takes out of the task (`_Rewrite.moved_ids`). Shapes in a row in the task
    body: the fix of the first, offered when the later ones are rewritable after it."""
    shapes = classify(_flattened(celery, task, _first_waits(celery, waits), branch))
    if not shapes:
        return Outcome(), set()
    first = shapes[0]
    try:
        other = next((shape for shape in shapes if shape.kind is ShapeKind.OTHER), None)
        several = len(shapes) > 1 and branch is None and steps is not None
        # A later shape that is no shape here (a wait in an `if`, a `try`) is judged in the
        # callback, where it may be one (each branch of an `if` gets its own rewrite).
        if other is not None and not (several and other is not first):
            raise Refused(f"{other.reason}; {_BY_HAND}")
        if len(shapes) > 1 and not several:
            kinds = ", ".join(str(shape.kind) for shape in shapes)
            raise Refused(
                f"the task waits in {len(shapes)} separate places ({kinds}); split it into "
                "tasks that wait once, or " + _BY_HAND
            )
        check_order(shapes)
        rewriting = _Rewrite(celery, task, first, strategy, branch)
        fix = rewriting.build()
        outcome = Outcome(fix=fix, site=first.waits[0], review_reasons=rewriting.reasons())
        if len(shapes) > 1:
            assert steps is not None
            outcome = _first_of_steps(celery, rewriting, outcome, shapes, steps)
    except Refused as refusal:
        reasons = {id(site.node): str(refusal) for site in waits}
        # A wait that is no shape of its own says its own reason, not the first one's
        # (`try`/`except` around one, `try`/`finally` around the next).
        for shape in (shape for shape in shapes if shape.kind is ShapeKind.OTHER):
            reasons.update({id(site.node): f"{shape.reason}; {_BY_HAND}" for site in shape.waits})
        return Outcome(reasons=reasons), set()
    return outcome, rewriting.moved_ids()


def _first_of_steps(
    celery: CeleryModule,
    rewriting: _Rewrite,
    outcome: Outcome,
    shapes: Sequence[Shape],
    steps: Steps,
) -> Outcome:
    """`outcome`, the fix of the first of `shapes`, as the first step of a chain of chords:
    the later steps tried on the code it produces (Refused when one cannot be rewritten),
    and its message and safety told what they do."""
    callback = rewriting.callback_name
    assert outcome.fix is not None
    if callback is None:  # No callback would hold the later waits: they would be lost.
        raise Refused("the code after the first wait would leave the task; " + _BY_HAND)
    fixed, task, waits = callback_task(celery, outcome.fix, callback, steps)
    if not waits:  # Nothing left for CEL001 there (CEL002 may take it): one step.
        return outcome
    after = rewrite(fixed, task, waits, rewriting.strategy, steps.suppressed, steps)
    check_next_step(after, waits)
    own = rewriting.reasons()
    fix = merged(outcome.fix, own, after, callback, rewriting.strategy)
    reasons = own + tuple(r for r in after.review_reasons if r not in own)
    later = frozenset(id(site.node) for shape in shapes[1:] for site in shape.waits)
    return dataclass_replace(
        outcome, fix=fix, review_reasons=reasons, later=later, callback=callback
    )


def _branches_of(
    celery: CeleryModule, task: Task, waits: Sequence[WaitSite]
) -> list[tuple[Branch | None, list[WaitSite]]]:
    """The blocks the waits sit in, each with its waits, in the order of the code: one `if`
    branch per block when every wait is at the top level of one (or in a `with
    allow_join_result():` there), else the task body alone (None). Refused when two of
    the branches can both run (separate `if`s, or an `if` inside a branch that waits
    too): only branches of one `if` exclude each other."""
    body = task.function.body
    if not isinstance(body, cst.IndentedBlock) or not waits:
        return [(None, list(waits))]
    groups: dict[int, tuple[Branch, list[WaitSite]]] = {}
    for site in waits:
        branch = _branch_above(celery, body, site.node)
        if branch is None:
            return [(None, list(waits))]
        groups.setdefault(id(branch.block), (branch, []))[1].append(site)
    found = sorted(groups.values(), key=lambda group: _start(celery, group[1]))
    for index, (branch, _) in enumerate(found):
        for other, _ in found[index + 1 :]:
            if not isinstance(_common_ancestor(celery, branch.block, other.block), cst.If):
                raise Refused(
                    "the task waits in two `if` blocks that can both run (separate `if`s, "
                    "or an `if` inside a branch that waits too); " + _BY_HAND
                )
    return [(branch, group) for branch, group in found]


def _common_ancestor(celery: CeleryModule, a: cst.CSTNode, b: cst.CSTNode) -> cst.CSTNode | None:
    """The deepest node that holds both `a` and `b`: an `if` for two of its branches."""
    above: set[int] = set()
    current: cst.CSTNode | None = a
    while current is not None:
        above.add(id(current))
        current = celery.parent(current)
    current = b
    while current is not None and id(current) not in above:
        current = celery.parent(current)
    return current


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

    def reasons(self) -> tuple[str, ...]:
        """After `build`: what makes the fix review under `replace`."""
        return tuple(self.review_reasons)

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
