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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import Assignment, ScopeProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import Shape, ShapeKind, classify
from celerymod.analysis.syntax import describe, source_text
from celerymod.analysis.vocabulary import TASK_DECORATORS, CallForm, Canvas, OriginKind
from celerymod.model import Safety, Strategy
from celerymod.transforms.base import Fix, walk, with_keyword

_BY_HAND = "rewrite it by hand into a chord or chain (see `celerymod explain CEL001`)"
# Keywords of a wait that change what it returns: dropping them would change behaviour.
_VALUE_KEYWORDS = frozenset({"propagate", "callback", "on_message", "intermediate"})


class Refused(Exception):
    """No safe rewrite; the message says why (it completes 'not fixed automatically: ...')."""


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


# --- Small helpers ---------------------------------------------------------------------------


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


class _Rewrite:
    def __init__(self, celery: CeleryModule, task: Task, shape: Shape, strategy: Strategy) -> None:
        self.celery = celery
        self.task = task
        self.shape = shape
        self.strategy = strategy
        self.function = task.function
        self.imports: set[str] = set()  # canvas names the rewrite uses (`chain`, ...)
        self.spelled: dict[str, tuple[str, ImportItem | None]] = {}  # name -> (text, import)
        self.drop: set[int] = set()  # prefix statements the rewrite removes (`out = []`)
        self.extra_notes: list[str] = []  # notes found while building the callback
        self.review_notes: list[str] = []  # notes of changes that make the fix `review`
        self.timeouts: list[str] = []  # the waits' timeouts, which a chord or chain drops

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

    # -- the body, with the workaround's `with` dissolved --

    def _flatten(self) -> None:
        dissolve = {
            id(site.workaround.node)
            for site in self.shape.waits
            if site.workaround is not None and site.workaround.kind == "allow_join_result"
        }
        self.removed_workaround = bool(dissolve)
        self.leading: dict[int, list[cst.EmptyLine]] = {}
        flat: list[cst.BaseStatement] = []
        assert isinstance(self.function.body, cst.IndentedBlock)
        for statement in self.function.body.body:
            if id(statement) in dissolve:
                assert isinstance(statement, cst.With)
                if len(statement.items) != 1 or statement.items[0].asname is not None:
                    raise Refused("the `with allow_join_result():` holds more; " + _BY_HAND)
                if not isinstance(statement.body, cst.IndentedBlock):
                    raise Refused("the `with allow_join_result():` is on one line; " + _BY_HAND)
                inner = list(statement.body.body)
                if inner:  # The `with`'s own comments go to its first statement.
                    self.leading[id(inner[0])] = [
                        *statement.leading_lines,
                        *_leading(inner[0]),
                    ]
                flat.extend(inner)
            else:
                flat.append(statement)
        self.flat = flat
        self.flat_ids = {id(s): i for i, s in enumerate(flat)}
        # The dissolved `with` bodies' statements are the original objects: parents work.

    def _relead(self, statement: cst.BaseStatement) -> cst.BaseStatement:
        lines = self.leading.get(id(statement))
        return statement if lines is None else statement.with_changes(leading_lines=lines)

    def _index_of(self, node: cst.CSTNode) -> int | None:
        current: cst.CSTNode | None = node
        while current is not None:
            index = self.flat_ids.get(id(current))
            if index is not None:
                return index
            current = self.celery.parent(current)
        return None

    def _source_statements(self, site: WaitSite, wait_index: int) -> list[int]:
        """Flat indices of the `name = <dispatch>` statements feeding the wait; each must be
        a plain assignment to one of the names the result travelled through."""
        found: set[int] = set()
        for source in site.origin.sources:
            index = self._index_of(source)
            if index is None:
                raise Refused("the result is produced inside another statement; " + _BY_HAND)
            if index == wait_index:
                continue
            assigned = _single_assign_name(self.flat[index])
            if assigned is None or assigned[0] not in site.origin.names:
                raise Refused(
                    "the result is produced by a statement that does more than dispatch; "
                    + _BY_HAND
                )
            found.add(index)
        return sorted(found)

    def _wait_value(
        self, site: WaitSite, index: int, expression: cst.CSTNode
    ) -> tuple[str | None, bool]:
        """How the statement at `index` uses `expression` (the wait, or the comprehension
        of waits): (variable it is bound to, whether it is returned)."""
        small = _only_small(self.flat[index])
        if isinstance(small, cst.Assign) and small.value is expression:
            if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                return small.targets[0].target.value, False
        elif isinstance(small, cst.Return) and small.value is expression:
            return None, True
        elif isinstance(small, cst.Expr) and small.value is expression:
            return None, False
        raise Refused(
            f"the waited value is used inside a larger statement (`{describe(self.flat[index])}`); "
            + _BY_HAND
        )

    def _check_wait_call(self, site: WaitSite) -> None:
        if site.method == "collect":
            raise Refused("`collect()` yields intermediate results too; " + _BY_HAND)
        node = site.node
        if isinstance(node, cst.Call):
            for position, arg in enumerate(node.args):
                if arg.keyword is not None and arg.keyword.value in _VALUE_KEYWORDS:
                    raise Refused(
                        f"the wait passes `{arg.keyword.value}=`, which changes its value; "
                        + _BY_HAND
                    )
                if arg.star == "**":
                    continue  # `**{"disable_sync_subtasks": False}`: see the workarounds.
                if arg.keyword is None and (position > 0 or arg.star):
                    raise Refused(
                        "the wait passes positional arguments after its timeout; " + _BY_HAND
                    )
                keyword = arg.keyword.value if arg.keyword is not None else None
                if keyword == "timeout" or (keyword is None and position == 0):
                    text = f"`timeout={source_text(arg.value)}`"
                    if text not in self.timeouts:
                        self.timeouts.append(text)

    # -- shapes --

    def _fan_out(self) -> _Chord:
        (site,) = self.shape.waits
        self._check_wait_call(site)
        origin = site.origin
        if origin.canvas is not Canvas.GROUP or not isinstance(origin.signature, cst.Call):
            raise Refused("the waited canvas is already a chord; " + _BY_HAND)
        if origin.form is CallForm.APPLY:
            raise Refused("the group runs eagerly with `apply()`; " + _BY_HAND)
        if origin.call is not None and origin.call.args:
            raise Refused(
                "the group is dispatched with options the rewrite would drop; " + _BY_HAND
            )
        if origin.collection is not None:
            raise Refused("the group's results are collected in a list first; " + _BY_HAND)
        wait_index = self._index_of(site.node)
        assert wait_index is not None
        sources = self._source_statements(site, wait_index)
        name, returns = self._wait_value(site, wait_index, site.node)
        self._set_range([*sources, wait_index])
        return _Chord(source_text(origin.signature), name, returns)

    def _signature(self, site: WaitSite, immutable: bool, skip_first: bool = False) -> str:
        origin = site.origin
        if origin.kind is not OriginKind.DISPATCH or origin.canvas not in (
            Canvas.TASK,
            Canvas.SIGNATURE,
        ):
            raise Refused("the waited result is not one task's; " + _BY_HAND)
        if origin.form is CallForm.SEND_TASK:
            raise Refused("`send_task` names the task by string; " + _BY_HAND)
        if origin.collection is not None:
            raise Refused("the results are collected in a list first; " + _BY_HAND)
        arguments = origin.arguments()
        if arguments is None or origin.task_expr is None:
            raise Refused("celerymod cannot tell the task's arguments; " + _BY_HAND)
        if not arguments.spelled_out:
            raise Refused(
                "the arguments are passed as `*args`/`**kwargs` that the rewrite cannot "
                "spell out; " + _BY_HAND
            )
        if origin.canvas is Canvas.SIGNATURE and origin.call is not None and origin.call.args:
            raise Refused("the signature is dispatched with extra arguments; " + _BY_HAND)
        options = list(arguments.options)
        if origin.form is CallForm.APPLY and options:
            raise Refused("`apply()` options do not carry over; " + _BY_HAND)
        if origin.canvas is Canvas.SIGNATURE and options:
            raise Refused("the signature carries options; " + _BY_HAND)
        args = list(arguments.args[1:] if skip_first else arguments.args)
        parts = [source_text(a) for a in args]
        parts += [f"{key}={source_text(value)}" for key, value in arguments.kwargs]
        method = "si" if immutable else "s"
        text = f"{source_text(origin.task_expr)}.{method}({', '.join(parts)})"
        if options:
            text += ".set(" + ", ".join(f"{k}={source_text(v)}" for k, v in options) + ")"
        return text

    def _loop(self) -> _Chord:
        (site,) = self.shape.waits
        self._check_wait_call(site)
        loop = site.loop
        signature = self._signature(site, immutable=False)
        wait_index = self._index_of(site.node)
        assert wait_index is not None
        if self._source_statements(site, wait_index):
            raise Refused("the loop dispatches in a statement of its own; " + _BY_HAND)
        self.imports.add("group")
        if isinstance(loop, cst.ListComp):
            if loop.elt is not site.node:
                raise Refused("the comprehension does more than wait; " + _BY_HAND)
            name, returns = self._wait_value(site, wait_index, loop)
            self._set_range([wait_index])
            group = self._spell("group")
            return _Chord(f"{group}({signature}{_comp_for(loop.for_in)})", name, returns)
        if not isinstance(loop, cst.For) or self.flat[wait_index] is not loop:
            raise Refused(
                "the waits are repeated by a comprehension other than a list; " + _BY_HAND
            )
        if loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
            raise Refused("the loop has an `else` or a one-line body; " + _BY_HAND)
        body = loop.body.body
        small = _only_small(body[0]) if len(body) == 1 else None
        call = small.value if isinstance(small, cst.Expr) else None
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "append"
            and isinstance(call.func.value, cst.Name)
            and len(call.args) == 1
            and call.args[0].value is site.node
        ):
            raise Refused("the loop body does more than `results.append(<wait>)`; " + _BY_HAND)
        name = call.func.value.value
        # `name = []` before the loop, with nothing else touching `name` in between.
        start = None
        for index in range(wait_index - 1, -1, -1):
            assigned = _single_assign_name(self.flat[index])
            if assigned is not None and assigned[0] == name:
                value = assigned[1]
                if isinstance(value, cst.List) and not value.elements:
                    start = index
                break
            if any(isinstance(n, cst.Name) and n.value == name for n in walk(self.flat[index])):
                break
        if start is None:
            raise Refused(f"`{name}` is not an empty list filled only by the loop; " + _BY_HAND)
        self.drop.add(start)
        self._set_range([wait_index])
        target, values = source_text(loop.target), source_text(loop.iter)
        header = f"{self._spell('group')}({signature} for {target} in {values})"
        return _Chord(header, name, False)

    def _chain(self) -> _Chain:
        waits = self.shape.waits
        feeds = self.shape.feeds_next
        steps: list[str] = []
        involved: list[int] = []
        value_name: str | None = None
        returns = False
        self.intermediates: set[str] = set()
        for position, site in enumerate(waits):
            self._check_wait_call(site)
            receives = position > 0 and feeds[position - 1]
            steps.append(self._signature(site, immutable=not receives, skip_first=receives))
            wait_index = self._index_of(site.node)
            assert wait_index is not None
            involved += [*self._source_statements(site, wait_index), wait_index]
            name, returned = self._wait_value(site, wait_index, site.node)
            if returned and position != len(waits) - 1:
                raise Refused("a wait returns before the others ran; " + _BY_HAND)
            if value_name is not None:
                self.intermediates.add(value_name)
            value_name, returns = name, returned
        self._set_range(involved)
        self.imports.add("chain")
        return _Chain(steps, value_name, returns)

    def _set_range(self, indices: Sequence[int]) -> None:
        first, last = min(indices), max(indices)
        if sorted(set(indices)) != list(range(first, last + 1)):
            raise Refused("other statements sit between the dispatches and the waits; " + _BY_HAND)
        self.first, self.last = first, last

    # -- the tail --

    def _function_scope(self) -> object:
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        return self.celery._meta(ScopeProvider, body.body[0], None)

    def _tail_names(self, tail: Sequence[cst.BaseStatement]) -> tuple[list[str], set[str]]:
        """(names the tail reads that the orchestrator binds before it, in order of first
        use; names among them bound in the rewritten range)."""
        scope = self._function_scope()
        tail_ids = {id(n) for statement in tail for n in walk(statement)}
        wanted: list[str] = []
        in_range: set[str] = set()
        range_ids = {id(n) for s in self.flat[self.first : self.last + 1] for n in walk(s)}
        for statement in tail:
            for node in walk(statement):
                if not isinstance(node, cst.Name):
                    continue
                node_scope = self.celery._meta(ScopeProvider, node, None)
                if node_scope is None:
                    continue
                for access in node_scope.accesses[node]:
                    for referent in access.referents:
                        if not isinstance(referent, Assignment) or referent.scope is not scope:
                            continue
                        if id(referent.node) in tail_ids:
                            continue
                        if isinstance(
                            referent.node,
                            (cst.FunctionDef | cst.ClassDef, cst.Import | cst.ImportFrom),
                        ):
                            raise Refused(
                                f"the code after the wait uses `{referent.name}`, defined "
                                "inside the task; " + _BY_HAND
                            )
                        if id(referent.node) in range_ids:
                            in_range.add(referent.name)
                        if referent.name not in wanted:
                            wanted.append(referent.name)
        return wanted, in_range

    def _check_tail(self, tail: Sequence[cst.BaseStatement]) -> None:
        for statement in tail:
            for node in walk(statement):
                if isinstance(node, cst.Yield | cst.Await):
                    raise Refused("the code after the wait yields or awaits; " + _BY_HAND)
                if isinstance(node, cst.Global | cst.Nonlocal):
                    raise Refused("the code after the wait declares `global`; " + _BY_HAND)
                if isinstance(node, cst.For | cst.While):
                    for inner in walk(node.body):
                        if isinstance(inner, cst.Return):
                            raise Refused(
                                "the code after the wait returns from inside a loop; " + _BY_HAND
                            )

    # -- output --

    def _emit(self, plan: _Chain | _Chord) -> Fix:
        function = self.function
        prefix = [
            self._relead(s) for i, s in enumerate(self.flat[: self.first]) if i not in self.drop
        ]
        tail = [self._relead(s) for s in self.flat[self.last + 1 :]]
        if plan.returns_value and tail:
            raise Refused("statements follow the `return` of the wait; " + _BY_HAND)
        self._check_tail(tail)
        wanted, in_range = self._tail_names(self.flat[self.last + 1 :])
        value = plan.value_name
        intermediates: set[str] = getattr(self, "intermediates", set())
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        bind = self.task.definition.bind
        self_name = params[0] if bind and params else None
        for name in wanted:
            if name == self_name:
                raise Refused(
                    f"the code after the wait reads `{name}`, the task's own request; a "
                    "callback runs as another task: " + _BY_HAND
                )
            if name in intermediates:
                raise Refused(
                    f"the code after the waits uses `{name}`, the result of an earlier step, "
                    "and a chain hands only the last result on; " + _BY_HAND
                )
            if name in in_range and name != value:
                raise Refused(
                    f"the code after the wait uses `{name}`, the dispatched work itself; "
                    + _BY_HAND
                )
        extras = [n for n in wanted if n != value]
        uses_value = value is not None and value in wanted

        # What happens to the tail.
        literal_return = False
        callback = True
        returns_value = plan.returns_value
        small = _only_small(tail[0]) if len(tail) == 1 else None
        if not tail:
            callback = False
        elif (
            isinstance(small, cst.Return)
            and isinstance(small.value, cst.Name)
            and value is not None
            and small.value.value == value
        ):
            callback, returns_value = False, True
        elif (
            self.strategy is Strategy.METADATA
            and isinstance(small, cst.Return)
            and small.value is not None
            and _literalish(small.value)
        ):
            callback, literal_return = False, True

        taken = self._taken_names()
        module_names = self._module_names()
        safety = Safety.SAFE if self.strategy is Strategy.REPLACE else Safety.REVIEW
        notes: list[str] = []
        new_function_name = None
        callback_sig = None
        if callback:
            new_function_name = _fresh(f"{function.name.value}_finish", module_names)
            method = "s" if uses_value else "si"
            callback_sig = f"{new_function_name}.{method}({', '.join(extras)})"
            verdicts = {n: self._serialisable(n, params) for n in extras}
            for n, verdict in verdicts.items():
                if isinstance(verdict, str):
                    raise Refused(
                        f"`{n}` is {verdict}, which cannot travel to the callback through "
                        "Celery's JSON serializer (`EncodeError` when the canvas is sent): "
                        f"pass what the callback needs instead (an id, a list); " + _BY_HAND
                    )
            unsure = [n for n, verdict in verdicts.items() if verdict is not True]
            if unsure:
                names = ", ".join(f"`{n}`" for n in unsure)
                one_name = len(unsure) == 1
                notes.append(
                    f"{names} now travel{'s' if one_name else ''} to the callback through the "
                    f"serializer: check {'it survives' if one_name else 'they survive'} JSON "
                    "unchanged (a set fails, a tuple comes back a list)"
                )
                safety = Safety.REVIEW
        elif not returns_value and not literal_return and self.strategy is Strategy.REPLACE:
            notes.append("the task now returns the subtasks' result where it returned None")
            safety = Safety.REVIEW

        # The orchestrator's own request: add `bind=True` and `self` where missing.
        new_decorator = self.task.decorator
        assert new_decorator is not None
        new_params = function.params
        if not bind:
            if not _celery_decorator(self.celery, new_decorator):
                raise Refused(
                    f"the task needs `bind=True` for its own request, and celerymod cannot "
                    f"tell whether `{describe(new_decorator.decorator)}` accepts it; " + _BY_HAND
                )
            if function.params.posonly_params:
                raise Refused("the task has positional-only parameters; " + _BY_HAND)
            if "self" in taken:
                raise Refused("the task needs `self` for its request, a name it uses; " + _BY_HAND)
            self_name = "self"
            new_decorator = _with_bind(new_decorator)
            new_params = function.params.with_changes(
                params=[cst.Param(cst.Name("self")), *function.params.params]
            )
            notes.append("adds `bind=True` and `self` to the task")
        assert self_name is not None

        statements = self._dispatch(plan, callback_sig, taken, self_name, literal_return)
        generated = [cst.parse_statement(s) for s in statements]
        # Comments above the replaced statements stay, above the dispatch.
        comments: list[cst.EmptyLine] = []
        for statement in self.flat[self.first : self.last + 1]:
            comments += [line for line in _leading(self._relead(statement)) if line.comment]
            trailing = getattr(statement, "trailing_whitespace", None)
            if isinstance(trailing, cst.TrailingWhitespace) and trailing.comment is not None:
                comments.append(cst.EmptyLine(comment=trailing.comment))
        first_lines = list(_leading(self._relead(self.flat[self.first])))
        blank = [first_lines[0]] if first_lines and first_lines[0].comment is None else []
        generated[0] = generated[0].with_changes(leading_lines=[*blank, *comments])
        new_body = function.body.with_changes(body=[*prefix, *generated])
        decorators = [new_decorator if d is self.task.decorator else d for d in function.decorators]
        new_function = function.with_changes(
            body=new_body, params=new_params, decorators=decorators
        )
        replacement: cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] = new_function
        if callback:
            assert new_function_name is not None
            callback_params = (
                ([self_name] if bind else []) + ([value] if uses_value and value else []) + extras
            )
            replacement = cst.FlattenSentinel(
                [new_function, self._callback(new_function_name, callback_params, tail)]
            )
        if self.timeouts:
            # A chord or chain has no deadline of its own; `time_limit` is per subtask.
            self.review_notes.append(
                f"drops the {'wait' if len(self.shape.waits) == 1 else 'waits'}' "
                f"{', '.join(self.timeouts)}: nothing fails the task any more when the "
                "subtasks take longer (give them a `time_limit` if that mattered)"
            )
        self._failure_notes(plan, callback)
        notes += self.extra_notes + self.review_notes
        if self.review_notes:
            safety = Safety.REVIEW
        message = self._message(plan, callback_sig, literal_return, notes)
        remove: tuple[ImportItem, ...] = ()
        if self.removed_workaround:
            remove = (ImportItem("celery.result", "allow_join_result"),)
        return Fix(
            message=message,
            safety=safety,
            replacements=((function, replacement),),
            add_imports=self._import_items(),
            remove_imports=remove,
        )

    def _dispatch(
        self,
        plan: _Chain | _Chord,
        callback_sig: str | None,
        taken: set[str],
        self_name: str,
        literal_return: bool,
    ) -> list[str]:
        one = self._indent()
        out: list[str] = []
        header = None
        if isinstance(plan, _Chord):
            header = _fresh("header", taken)
            out.append(f"{header} = {plan.header}")
        links = []
        if isinstance(plan, _Chain):
            links = [*plan.steps, *([callback_sig] if callback_sig else [])]
            if len(links) == 1:
                self.imports.discard("chain")
        if self.strategy is Strategy.REPLACE:
            if len(links) == 1:
                out.append(f"return {self_name}.replace({links[0]})")
            elif isinstance(plan, _Chain):
                line = f"return {self_name}.replace({self._spell('chain')}({', '.join(links)}))"
                if len(one) + len(line) <= 88:
                    out.append(line)
                else:
                    workflow = _fresh("workflow", taken)
                    out.append(_call(f"{workflow} = {self._spell('chain')}(", links, ")", one))
                    out.append(f"return {self_name}.replace({workflow})")
            elif callback_sig:
                self.imports.add("chord")
                chord = self._spell("chord")
                out.append(f"return {self_name}.replace({chord}({header}, {callback_sig}))")
            else:
                out.append(f"return {self_name}.replace({header})")
            return [line + "\n" for line in out]
        result = _fresh("result", taken)
        if len(links) == 1:
            out.append(f"{result} = {links[0]}.apply_async()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"result_id": {result}.id',
                '"total": 1',
            ]
        elif isinstance(plan, _Chain):
            chain = self._spell("chain")
            out.append(_call(f"{result} = {chain}(", links, ").apply_async()", one))
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"chain_id": {result}.id',
                f'"result_id": {result}.id',
                f'"total": {len(links)}',  # the links of the chain, callback included
            ]
        elif callback_sig:
            self.imports.add("chord")
            out.append(f"{result} = {self._spell('chord')}({header})({callback_sig})")
            # An eager chord (`task_always_eager`) runs its header in place and keeps no
            # group: `parent` is None there, and `group_id` too.
            group_result = _fresh("group_result", taken)
            out.append(f"{group_result} = {result}.parent  # None under task_always_eager")
            out.append(f"if {group_result} is not None:\n{one}{group_result}.save()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"group_id": getattr({group_result}, "id", None)',
                f'"result_id": {result}.id',
                f'"total": len({header}.tasks)',
            ]
        else:
            out.append(f"{result} = {header}.apply_async()")
            out.append(f"{result}.save()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"group_id": {result}.id',
                f'"total": len({result}.results)',
            ]
        out.append(_call("return {", fields, "}", one, force=True))
        return [line + "\n" for line in out]

    def _indent(self) -> str:
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        return body.indent if body.indent is not None else self.celery.module.default_indent

    def _callback(
        self, name: str, params: list[str], tail: Sequence[cst.BaseStatement]
    ) -> cst.FunctionDef:
        decorator = self.task.decorator
        assert decorator is not None
        decorator = self._callback_decorator(decorator, name)
        decorators = [decorator, *self._stacked_decorators(name)]
        stub = cst.parse_statement(f"def {name}({', '.join(params)}):\n    pass\n")
        assert isinstance(stub, cst.FunctionDef)
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        moved = list(tail)
        lines = list(_leading(moved[0]))
        while lines and lines[0].comment is None:
            lines.pop(0)
        moved[0] = moved[0].with_changes(leading_lines=lines)
        return stub.with_changes(
            decorators=decorators,
            body=body.with_changes(body=moved, footer=body.footer),
            leading_lines=[cst.EmptyLine(), cst.EmptyLine()],
        )

    def _failure_notes(self, plan: _Chain | _Chord, callback: bool) -> None:
        """What the rewrite changes when a subtask fails, under `task_always_eager` and for
        retries: each seen on Celery 5.7 (prefork worker, Redis) and in the worker tests,
        which check these notes against the rule's "Failure semantics" table."""
        replace = self.strategy is Strategy.REPLACE
        # `self.replace(group)` is uplifted to a chord (with `celery.accumulate`).
        if isinstance(plan, _Chord) and (callback or replace):
            self.review_notes.append(
                "a failing subtask now reaches whoever waits on the result as `ChordError` "
                '("Dependency ... raised ..."), not as its own exception, and a chord needs a '
                "result backend that supports chords (not `rpc://`)"
            )
        elif isinstance(plan, _Chord):
            self.review_notes.append(
                "`GroupResult.save()` needs a result backend that stores groups (not "
                "`rpc://`), also under `task_always_eager`, where the wait needed none"
            )
        decorator = self.task.decorator
        assert decorator is not None
        target = decorator.decorator
        retries = isinstance(target, cst.Call) and any(
            arg.keyword is not None and arg.keyword.value == "autoretry_for" for arg in target.args
        )
        if retries:
            moved = (
                "; the callback gets the retry options too, where they retry only the code "
                "that moved"
                if callback
                else ""
            )
            self.review_notes.append(
                "`autoretry_for` no longer retries the task when a subtask fails: the subtasks "
                "run after it has returned" + moved
            )
        if replace and any(site.workaround is not None for site in self.shape.waits):
            self.review_notes.append(
                "under `task_always_eager`, `.delay()` of the task now raises Celery's guard "
                "where the workaround let it wait (`.apply()` works)"
            )
        index = next(i for i, d in enumerate(self.function.decorators) if d is decorator)
        if replace and callback and self.function.decorators[index + 1 :]:
            self.review_notes.append(
                "under `task_always_eager`, `self.replace` returns the callback's value, which "
                "the decorators below the task decorator then wrap a second time"
            )

    def _stacked_decorators(self, name: str) -> list[cst.Decorator]:
        """The decorators below the task decorator, which wrapped the code that moves into
        the callback `name`: copied onto it, in the same order. Whether they suit a
        function with other parameters, run after the subtasks, celerymod cannot tell (nor
        what the ones above the task decorator, not copied, did to the task): review."""
        decorators = list(self.function.decorators)
        index = next(i for i, d in enumerate(decorators) if d is self.task.decorator)
        above, below = decorators[:index], decorators[index + 1 :]
        if below:
            names = ", ".join(f"`@{describe(d.decorator)}`" for d in below)
            suits = "it suits" if len(below) == 1 else "they suit"
            self.review_notes.append(
                f"copies {names} onto `{name}` too: check {suits} the callback, which takes "
                "other parameters and runs after the subtasks"
            )
        if above:
            names = ", ".join(f"`@{describe(d.decorator)}`" for d in above)
            self.review_notes.append(
                f"does not copy {names}, above the task decorator, onto `{name}`: check the "
                "callback does not need it"
            )
        return [d.with_changes(leading_lines=()) for d in below]

    def _message(
        self,
        plan: _Chain | _Chord,
        callback_sig: str | None,
        literal_return: bool,
        notes: list[str],
    ) -> str:
        if isinstance(plan, _Chain) and len(plan.steps) == 1 and not callback_sig:
            what = "the subtask"
        elif isinstance(plan, _Chain):
            what = f"a chain of {len(plan.steps)} step{'s' if len(plan.steps) > 1 else ''}"
        elif callback_sig:
            what = "a chord"
        else:
            what = "a group"
        if callback_sig:
            what += (
                f" whose callback `{callback_sig.partition('.')[0]}` runs the code that followed"
            )
        if self.removed_workaround:
            what += ", without `allow_join_result()`"
        if self.strategy is Strategy.REPLACE:
            text = f"replace the task with {what} (`self.replace`)"
        else:
            text = (
                f"dispatch {what} and return its ids; the task's return value changes to "
                "`{status, job_id, ...}`"
            )
            if literal_return:
                text += " (they replace its `return` of a constant)"
            text += self._readers()
        if notes:
            text += "; " + "; ".join(notes)
        return text

    def _readers(self) -> str:
        """Where the scanned project reads what the task returns (`.get()` on its result,
        canvases and `link=` it is part of): those now get the metadata dict."""
        index = self.celery.index
        if index is None:
            return ""
        own = self.task.definition
        uses = [
            use
            for use in index.uses_of(own)
            # The task's own module is indexed from the same source: its own body is not a
            # reader (a recursive dispatch would be, and is kept).
            if not (use.path == own.path and self._inside_task(use.line))
        ]
        if not uses:
            return "; no scanned file reads its return value"
        shown = [
            f"{use.path}:{use.line} ({'its result' if use.how == 'result' else 'a signature'})"
            for use in uses[:5]
        ]
        more = f" and {len(uses) - 5} more" if len(uses) > 5 else ""
        return "; these read its return value and get that dict now: " + ", ".join(shown) + more

    def _inside_task(self, line: int) -> bool:
        position = self.celery._position(self.function)
        if position is None:
            return False
        return position.start.line <= line <= position.end.line

    # -- names --

    def _spell(self, name: str) -> str:
        """How the rewritten orchestrator spells Celery's canvas `name` (`chain`, `chord`,
        `group`) without clashing with a binding of `name` in the module or the task.

        A name the module imports from Celery, not rebound in the task, is used as it is;
        a name nothing binds gets `from celery import <name>`; otherwise `celery.<name>`
        when the module has `import celery`, else `from celery import <name> as
        celery_<name>` (an `itertools.chain` or a parameter named `group` stays intact)."""
        if name not in self.spelled:
            self.spelled[name] = self._spelling(name)
        return self.spelled[name][0]

    def _spelling(self, name: str) -> tuple[str, ImportItem | None]:
        module_scope = self.celery._meta(ScopeProvider, self.function, None)
        local = self._function_scope()
        if module_scope is None or local is None:
            raise Refused("celerymod has no scope information for the module; " + _BY_HAND)
        canvas = {f"celery.{name}", f"celery.canvas.{name}"}
        local_names = local.assignments
        star = any(isinstance(node, cst.ImportStar) for node in walk(self.celery.module))

        def only_celery(binding: str, qualified: set[str]) -> bool:
            found = list(module_scope.assignments[binding])
            return bool(found) and all(
                {q.name for q in a.get_qualified_names_for(a.name)} <= qualified for a in found
            )

        if name not in local_names:
            if only_celery(name, canvas):
                return name, None
            if name not in module_scope.assignments and not star:
                return name, ImportItem("celery", name)
        if "celery" not in local_names and only_celery("celery", {"celery"}):
            return f"celery.{name}", None
        alias = _fresh(f"celery_{name}", self._module_names())
        return alias, ImportItem("celery", name, alias=alias)

    def _import_items(self) -> tuple[ImportItem, ...]:
        items = (
            self.spelled.get(name, (name, ImportItem("celery", name)))[1] for name in self.imports
        )
        return tuple(sorted({item for item in items if item is not None}, key=str))

    def _callback_decorator(self, decorator: cst.Decorator, name: str) -> cst.Decorator:
        """The orchestrator's decorator for the callback `name`, which must register under
        a name of its own: were both registered under one name, the chord would call the
        orchestrator again as its callback, forever.

        A literal `name="x"` becomes `name="x_finish"`. Any other `name=` is not copied, so
        the callback gets Celery's default `<module>.<name>`, which ends with `name`: the
        fix is offered only when the orchestrator's name provably does not."""
        target = decorator.decorator
        if not isinstance(target, cst.Call):
            return decorator
        if any(arg.star == "**" for arg in target.args):
            raise Refused(
                f"the task decorator passes `**` options, which may hold the `name=` the "
                f"callback `{name}` would share with the task; " + _BY_HAND
            )
        given = next(
            (a.value for a in target.args if a.keyword and a.keyword.value == "name"), None
        )
        if given is None or isinstance(given, cst.SimpleString):
            return _renamed(decorator, name[len(self.function.name.value) :])
        ending = self._string_ending(given, depth=0)
        if ending is None or ending.endswith(name) or name.endswith(ending):
            raise Refused(
                f"the task is registered as `name={describe(given)}`, which celerymod cannot "
                f"tell apart from the default name of the callback `{name}` (the chord would "
                "call the task again, forever); " + _BY_HAND
            )
        self.extra_notes.append(
            f"the callback `{name}` is registered under Celery's default name, not under a "
            f"copy of `name={describe(given)}`"
        )
        args = [a for a in target.args if not (a.keyword and a.keyword.value == "name")]
        if not args:
            return decorator.with_changes(decorator=target.func)
        if target.args[-1].comma == cst.MaybeSentinel.DEFAULT:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return decorator.with_changes(decorator=target.with_changes(args=args))

    def _string_ending(self, node: cst.BaseExpression, depth: int) -> str | None:
        """The text a string expression's value provably ends with ("" when it may end with
        anything), or None when it is not a string celerymod can follow."""
        if depth > 5:
            return None
        if isinstance(node, cst.SimpleString):
            value = node.evaluated_value
            return value if isinstance(value, str) else None
        if isinstance(node, cst.ConcatenatedString):
            return self._string_ending(node.right, depth + 1)
        if isinstance(node, cst.FormattedString):
            last = node.parts[-1] if node.parts else None
            if isinstance(last, cst.FormattedStringText):
                return last.value.replace("{{", "{").replace("}}", "}")
            return ""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return self._string_ending(node.right, depth + 1)
        if isinstance(node, cst.Name):
            bound = self._module_constant(node.value)
            return None if bound is None else self._string_ending(bound, depth + 1)
        return None

    def _module_constant(self, name: str) -> cst.BaseExpression | None:
        """The value of `name = <value>`, the module's only binding of `name`."""
        scope = self.celery._meta(ScopeProvider, self.function, None)
        if scope is None or name not in scope.assignments:
            return None
        (binding, *others) = scope.assignments[name]
        if others or not isinstance(binding, Assignment):
            return None
        target = self.celery.parent(binding.node)
        statement = self.celery.parent(target) if target is not None else None
        if (
            isinstance(target, cst.AssignTarget)
            and isinstance(statement, cst.Assign)
            and len(statement.targets) == 1
            and target.target is binding.node
        ):
            return statement.value
        return None

    def _taken_names(self) -> set[str]:
        """Names the new orchestrator may not reuse: its parameters, the prefix, and what
        the replaced statements compute (not the names they bind, which disappear)."""
        nodes: list[cst.CSTNode] = [self.function.params, *self.flat[: self.first]]
        for statement in self.flat[self.first : self.last + 1]:
            assigned = _single_assign_name(statement)
            nodes.append(assigned[1] if assigned is not None else statement)
        gone = {name for site in self.shape.waits for name in site.origin.names}
        taken = {n.value for node in nodes for n in walk(node) if isinstance(n, cst.Name)}
        params = {n.value for n in walk(self.function.params) if isinstance(n, cst.Name)}
        return (taken - gone) | params

    def _module_names(self) -> set[str]:
        names = {n.value for n in walk(self.celery.module) if isinstance(n, cst.Name)}
        return names

    def _serialisable(self, name: str, params: list[str]) -> bool | str:
        """Whether `name`'s value survives the JSON serializer unchanged on its way to the
        callback: True for a parameter (it arrived through the serializer) or a name bound
        only to JSON-stable literals; a reason (str) when a binding provably cannot travel
        (a set, a model instance); False when celerymod cannot tell."""
        if name in params:
            return True
        values = []
        for statement in self.flat[: self.first]:
            assigned = _single_assign_name(statement)
            if assigned is not None and assigned[0] == name:
                values.append(assigned[1])
            elif any(isinstance(n, cst.Name) and n.value == name for n in walk(statement)):
                # Bound some other way (`x += ...`, loop target, unpacking): cannot tell.
                for node in walk(statement):
                    if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.For):
                        return False
        for value in values:
            reason = _never_serialisable(value)
            if reason is not None:
                return reason
        return bool(values) and all(_json_stable(v) for v in values)


_MODEL_LOOKUPS = frozenset(
    {"get", "first", "last", "latest", "earliest", "create", "get_or_create", "update_or_create"}
)


def _never_serialisable(node: cst.BaseExpression) -> str | None:
    """Why a value provably cannot go through Celery's JSON serializer (`EncodeError` when
    the canvas is sent), or None. Only shapes whose type is certain: displays and builtins
    (celerymod resolves no other call), and Django's `<Model>.objects.<lookup>(...)`."""
    if isinstance(node, cst.Set | cst.SetComp):
        return "a set"
    if isinstance(node, cst.GeneratorExp):
        return "a generator"
    if isinstance(node, cst.Lambda):
        return "a function"
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
        if node.func.value in ("set", "frozenset"):
            return f"a {node.func.value}"
        if node.func.value == "open":
            return "an open file"
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        owner = node.func.value
        if (
            node.func.attr.value in _MODEL_LOOKUPS
            and isinstance(owner, cst.Attribute)
            and owner.attr.value == "objects"
        ):
            return f"a model instance (`{source_text(node.func)}(...)`)"
    return None


def _json_stable(node: cst.BaseExpression) -> bool:
    """A literal that comes back from JSON as it went in: not a tuple (it comes back a
    list), not bytes, no dict with keys that are not strings (they come back strings)."""
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.ConcatenatedString):
        return _json_stable(node.left) and _json_stable(node.right)
    if isinstance(node, cst.Integer | cst.Float):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("None", "True", "False")
    if isinstance(node, cst.UnaryOperation):
        return _json_stable(node.expression)
    if isinstance(node, cst.List):
        return all(isinstance(e, cst.Element) and _json_stable(e.value) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(
            isinstance(e, cst.DictElement)
            and isinstance(e.key, cst.SimpleString | cst.ConcatenatedString)
            and _json_stable(e.key)
            and _json_stable(e.value)
            for e in node.elements
        )
    return False


def _comp_for(node: cst.CompFor) -> str:
    """` for x in xs if c ...` on one line, whatever the comprehension's layout."""
    if node.asynchronous is not None:
        raise Refused("the comprehension is asynchronous; " + _BY_HAND)
    text = f" for {source_text(node.target)} in {source_text(node.iter)}"
    text += "".join(f" if {source_text(condition.test)}" for condition in node.ifs)
    if node.inner_for_in is not None:
        text += _comp_for(node.inner_for_in)
    return text


def _leading(statement: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    lines: Sequence[cst.EmptyLine] = getattr(statement, "leading_lines", ())
    return lines


def _celery_decorator(celery: CeleryModule, decorator: cst.Decorator | None) -> bool:
    """True for Celery's own task decorators (`shared_task`, `<app>.task`), which take
    `bind=True`; a configured custom decorator may not."""
    if decorator is None:
        return False
    target = decorator.decorator
    base = target.func if isinstance(target, cst.Call) else target
    if celery.dotted_names(base) & TASK_DECORATORS:
        return True
    return (
        isinstance(base, cst.Attribute) and base.attr.value == "task" and celery.is_app(base.value)
    )


def _with_bind(decorator: cst.Decorator) -> cst.Decorator:
    target = decorator.decorator
    if not isinstance(target, cst.Call):
        target = cst.Call(func=target)
    kept = [a for a in target.args if not (a.keyword and a.keyword.value == "bind")]
    return decorator.with_changes(decorator=with_keyword(target, "bind", cst.Name("True"), kept))


def _renamed(decorator: cst.Decorator, suffix: str) -> cst.Decorator:
    """The decorator for the callback: a registered `name="x"` becomes `name="x_finish"`."""
    target = decorator.decorator
    if not isinstance(target, cst.Call):
        return decorator
    args = []
    for arg in target.args:
        if (
            arg.keyword is not None
            and arg.keyword.value == "name"
            and isinstance(arg.value, cst.SimpleString)
        ):
            text = arg.value.value
            quote = re.match(r"[a-zA-Z]*('''|\"\"\"|'|\")", text)
            if quote:
                q = quote.group(1)
                inner = text[quote.end() : len(text) - len(q)]
                arg = arg.with_changes(
                    value=cst.SimpleString(f"{text[: quote.end()]}{inner}{suffix}{q}")
                )
        args.append(arg)
    return decorator.with_changes(decorator=target.with_changes(args=args))


def _call(opening: str, items: Sequence[str], closing: str, one: str, force: bool = False) -> str:
    """`opening item, item closing` on one line when short, else one item per line."""
    flat = f"{opening}{', '.join(items)}{closing}"
    if not force and len(one) + len(flat) <= 88 and "\n" not in flat:
        return flat
    # Continuation lines are relative: libcst adds the block's indentation to them.
    inner = "".join(f"{one}{item},\n" for item in items)
    return f"{opening}\n{inner}{closing}"
