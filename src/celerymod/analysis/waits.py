"""What is a wait: every wait on a Celery result in a task's body (`.get()`, `.join()`, `~sig`,
...), the loops polling one, and `allow_join_result` blocks that wait on nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import libcst as cst

from celerymod.analysis.arguments import _literal_keywords
from celerymod.analysis.evidence import ResultEvidence
from celerymod.analysis.known import POLL_FIELDS, POLL_METHODS, WAIT_METHODS
from celerymod.analysis.records import ResultOrigin, Task, WaitSite, Workaround
from celerymod.analysis.syntax import _is_loop, _is_true, _walk_body, source_text
from celerymod.analysis.vocabulary import (
    DISABLE_SYNC_SUBTASKS,
    WAIT_KEYWORDS,
    CallForm,
    Canvas,
    OriginKind,
)
from celerymod.transforms.base import walk


class Waits(ResultEvidence):
    """The waits, polling loops and bare workarounds in a task's body."""

    # -- results --

    def waits(self, task: Task) -> tuple[WaitSite, ...]:
        """Every wait on a Celery result in the task's body, in source order.

        Nested `def`, `lambda` and `class` bodies are not searched: they run only if called.
        """
        cached = self._waits.get(id(task.function))
        if cached is None:
            cached = self._waits[id(task.function)] = self._find_waits(task)
        return cached

    def _find_waits(self, task: Task) -> tuple[WaitSite, ...]:
        sites: list[WaitSite] = []
        for node in _walk_body(task.function.body):
            site: WaitSite | None = None
            if isinstance(node, cst.Call):
                site = self._call_wait(node, task)
            elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
                site = self._invert_wait(node, task)
            if site is not None:
                sites.append(site)
        return tuple(sites)

    def polls(self, task: Task) -> tuple[tuple[cst.While, str], ...]:
        """`while` loops in the task's body that poll a Celery result until it is ready
        (`while not res.ready():`, `while res.state not in READY_STATES:`, `while
        res.status == "PENDING":`): they hold the worker process like `.get()` does. Each
        with the text of the state it polls (`res.ready()`)."""
        found: list[tuple[cst.While, str]] = []
        for node in _walk_body(task.function.body):
            if not isinstance(node, cst.While):
                continue
            for part in walk(node.test):
                polled = _polled_result(part)
                if polled is not None and self.result_origin(polled, task) is not None:
                    found.append((node, source_text(part)))
                    break
        return tuple(found)

    def poll_site(self, loop: cst.While, task: Task) -> WaitSite | None:
        """The polling loop `while not res.ready():` (or `while res.state not in
        READY_STATES:`, `.status` too, with Celery's `READY_STATES`) as a wait the rewrite
        can take (`WaitSite.poll`), or None for any other condition: `res.status ==
        "PENDING"` also ends on `STARTED` or `RETRY`, before there is a value. The loop does
        not enclose its wait: it is the wait."""
        test = loop.test
        polled = _until_ready(test)
        if polled is None or not (isinstance(test, cst.UnaryOperation) or self._ready_states(test)):
            return None
        origin = self.result_origin(polled, task)
        if origin is None:
            return None
        assert isinstance(test, cst.UnaryOperation | cst.Comparison)
        site = self._site(test, "ready", origin, task, None)
        enclosing = tuple(node for node in site.enclosing if node is not loop)
        inner = next((node for node in reversed(enclosing) if _is_loop(node)), None)
        return replace(site, enclosing=enclosing, loop=inner, value_target=None, poll=loop)

    def _ready_states(self, test: cst.BaseExpression) -> bool:
        """Whether the `not in` of `res.state not in X` is Celery's `READY_STATES`."""
        assert isinstance(test, cst.Comparison)
        states = test.comparisons[0].comparator
        return bool(self.dotted_names(states) & _READY_STATES)

    def bare_workarounds(self, task: Task) -> tuple[cst.With, ...]:
        """`with allow_join_result():` blocks of the task holding no wait `waits` found
        (the wait may be in a helper it calls): still a finding (DESIGN §1)."""
        waits = self.waits(task)
        covered = {
            id(site.workaround.node)
            for site in waits
            if site.workaround and site.workaround.kind == "allow_join_result"
        }
        return tuple(
            node
            for node in _walk_body(task.function.body)
            if isinstance(node, cst.With) and self._allows_join(node) and id(node) not in covered
        )

    def _call_wait(self, call: cst.Call, task: Task) -> WaitSite | None:
        func = call.func
        if isinstance(func, cst.Name):
            return self._bound_method_wait(call, func, task)
        if not isinstance(func, cst.Attribute) or func.attr.value not in WAIT_METHODS:
            return None
        method = func.attr.value
        disable = (
            self._disable_sync_subtasks(call) if method in ("get", "join", "join_native") else None
        )
        origin = self.result_origin(func.value, task)
        if origin is not None and origin.kind is OriginKind.ARGUMENT and not _looks_like_wait(call):
            origin = None
        if origin is None and self._narrowed_to_result(func.value, task):
            origin = ResultOrigin(OriginKind.UNKNOWN, CallForm.UNKNOWN, Canvas.NONE)
        if origin is None and disable is not None:
            # The keyword exists only on Celery's waits: enough to know this is one.
            origin = ResultOrigin(OriginKind.UNKNOWN, CallForm.UNKNOWN, Canvas.NONE)
        if (
            origin is None
            and _looks_like_wait(call)  # Not `", ".join(parts)`, not `data.get("key")`.
            and self._under_allow_join(call, task)
        ):
            # `with allow_join_result():` exists only to wait on Celery results: a Celery-
            # looking wait there is one, whatever produced its receiver.
            origin = ResultOrigin(OriginKind.UNKNOWN, CallForm.UNKNOWN, Canvas.NONE)
        if origin is None:
            return None
        checked = method in ("get", "wait", "join", "join_native") and self._ready_checked(
            call, task
        )
        if checked and disable is not None:
            return None  # Reads a finished result, and says so to the guard: sound.
        workaround = Workaround("disable_sync_subtasks", disable) if disable is not None else None
        site = self._site(call, method, origin, task, workaround)
        return replace(site, ready_checked=True) if checked else site

    def _bound_method_wait(self, call: cst.Call, name: cst.Name, task: Task) -> WaitSite | None:
        """A wait method bound to a name first, then called: `j = res.join_native if native
        else res.join`, `j(timeout=5)`; `get = res.get`, `get()`. Reported, never rewritten
        (the binding would outlive the result it names): `bound_method` is set."""
        if not _looks_like_wait(call):
            return None
        for value, statement in self._assigned_values(name):
            options = [value.body, value.orelse] if isinstance(value, cst.IfExp) else [value]
            for option in options:
                if isinstance(option, cst.Attribute) and option.attr.value in WAIT_METHODS:
                    origin = self.result_origin(option.value, task)
                    if origin is None and self._narrowed_to_result(option.value, task):
                        # `if isinstance(res, ResultSet): j = res.join_native if ... else
                        # res.join`: the code says it holds a result.
                        origin = ResultOrigin(OriginKind.UNKNOWN, CallForm.UNKNOWN, Canvas.NONE)
                    if origin is not None and origin.kind is not OriginKind.ARGUMENT:
                        site = self._site(call, option.attr.value, origin, task, None)
                        return replace(site, bound_method=statement)
        return None

    def _ready_checked(self, call: cst.Call, task: Task) -> bool:
        """Whether the result `call` waits on is known to be ready when it runs: inside
        `if res.ready():` (or `.successful()` / `.failed()`, alone or in an `and`), or after
        `if not res.ready(): raise ...` / `return ...` (the retry-until-ready pattern) or a
        `while not res.ready():` loop earlier in the same block that no `break` leaves (a
        deadline), with no rebinding of `res` in between. Such a wait cannot block (Celery's guard still raises first).

        An `if` whose test or body binds `res` anywhere (`res = child.delay(x)` before the
        wait, `:=` in the test, a loop that rebinds it) proves nothing: the wait may be on
        another, running result."""
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        if not isinstance(receiver, cst.Name):
            return False
        name = receiver.value
        child: cst.CSTNode = call
        current = self.parent(call)
        statement: cst.CSTNode | None = None
        while current is not None and current is not task.function:
            if isinstance(current, cst.If) and child is current.body:
                if _tests_ready(current.test, name) and not _rebinds(current, name):
                    return True
            if statement is None and isinstance(current, cst.IndentedBlock):
                statement = child
                block = current
            child, current = current, self.parent(current)
        if statement is None or _rebinds(statement, name):
            return False
        earlier = list(block.body)[: next(i for i, s in enumerate(block.body) if s is statement)]
        for previous in reversed(earlier):
            if _rebinds(previous, name):
                return False
            test = previous.test if isinstance(previous, cst.If | cst.While) else None
            if not (
                isinstance(test, cst.UnaryOperation)
                and isinstance(test.operator, cst.Not)
                and _tests_ready(test.expression, name)
            ):
                continue
            if isinstance(previous, cst.While):
                # A `break` leaves with the result maybe still running (a deadline).
                return not _breaks_out(previous)
            assert isinstance(previous, cst.If)
            body = previous.body
            last = body.body[-1] if isinstance(body, cst.IndentedBlock) and body.body else None
            small = last.body[-1] if isinstance(last, cst.SimpleStatementLine) else None
            if previous.orelse is None and isinstance(small, cst.Raise | cst.Return):
                return True
        return False

    def _invert_wait(self, node: cst.UnaryOperation, task: Task) -> WaitSite | None:
        signature = self.signature_origin(node.expression, task)
        if signature is None or signature.canvas is Canvas.TASK:
            return None  # `~` is defined on signatures, not on tasks.
        return self._site(node, "~", replace(signature, form=CallForm.INVERT), task, None)

    def _disable_sync_subtasks(self, call: cst.Call) -> cst.CSTNode | None:
        """The argument that passes `disable_sync_subtasks` with a value other than `True`
        (literally, in a `**{...}` literal, or in a `**name` bound to a dict literal)."""
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == DISABLE_SYNC_SUBTASKS:
                return None if _is_true(arg.value) else arg
            if arg.star != "**":
                continue
            candidates = [arg.value]
            if isinstance(arg.value, cst.Name):
                candidates = [value for value, _ in self._assigned_values(arg.value)]
            for candidate in candidates:
                for key, value in _literal_keywords(candidate) or ():
                    if key == DISABLE_SYNC_SUBTASKS and not _is_true(value):
                        return arg
        return None

    def _site(
        self,
        node: cst.Call | cst.UnaryOperation | cst.Comparison,
        method: str,
        origin: ResultOrigin,
        task: Task,
        workaround: Workaround | None,
    ) -> WaitSite:
        path = self._path_in_body(node, task)
        top = path[0]
        body = list(task.function.body.body)
        index = next(i for i, s in enumerate(body) if s is top)
        statement: cst.BaseStatement = cast(cst.BaseStatement, top)
        inner = path[1:]
        if isinstance(top, cst.With) and self._allows_join(top):
            if workaround is None:
                workaround = Workaround("allow_join_result", top)
            nested = next((n for n in inner if isinstance(n, cst.BaseStatement)), None)
            if nested is not None:
                statement = nested
                inner = inner[inner.index(nested) + 1 :]
        elif workaround is None:
            # Deeper (`if x: with allow_join_result(): ...`): not rewritten, but the guard is
            # silenced all the same, and the block is not one "holding no wait".
            held = [n for n in inner if isinstance(n, cst.With) and self._allows_join(n)]
            workaround = Workaround("allow_join_result", held[0]) if held else None
        enclosing = _enclosing([statement, *inner, node])
        loop = next((n for n in reversed(enclosing) if _is_loop(n)), None)
        indices = {index}
        for source in origin.sources:
            source_index = self._top_index(source, task)
            if source_index is not None:
                indices.add(source_index)
        return WaitSite(
            node=node,
            method=method,
            origin=origin,
            task=task,
            statement_index=index,
            statement=statement,
            enclosing=enclosing,
            loop=loop,
            value_target=self._value_target(node),
            workaround=workaround,
            statement_indices=tuple(sorted(indices)),
        )

    def _path_in_body(self, node: cst.CSTNode, task: Task) -> list[cst.CSTNode]:
        """The ancestors of `node` below the task body, outermost (a body statement) first."""
        path: list[cst.CSTNode] = []
        current: cst.CSTNode | None = node
        body = task.function.body
        while current is not None and current is not body:
            path.append(current)
            current = self.parent(current)
        path.reverse()
        return path[:-1]  # Without `node` itself: an expression is never a body statement.

    def _top_index(self, node: cst.CSTNode, task: Task) -> int | None:
        current: cst.CSTNode | None = node
        body = task.function.body
        while current is not None:
            parent = self.parent(current)
            if parent is body:
                return next((i for i, s in enumerate(body.body) if s is current), None)
            current = parent
        return None

    def _value_target(self, node: cst.CSTNode) -> cst.BaseAssignTargetExpression | None:
        parent = self.parent(node)
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            return parent.targets[0].target
        if isinstance(parent, cst.AnnAssign) and parent.value is node:
            return parent.target
        return None


_READY_STATES = frozenset({"celery.states.READY_STATES"})


def _until_ready(test: cst.BaseExpression) -> cst.BaseExpression | None:
    """The result a loop condition waits on until it is ready, by its form: `not
    <res>.ready()`, or `<res>.state not in <states>` (`.status` too; the caller checks
    that `<states>` is Celery's `READY_STATES`)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        call = test.expression
        if (
            isinstance(call, cst.Call)
            and not call.args
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "ready"
        ):
            return call.func.value
        return None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        field = test.left
        if (
            isinstance(test.comparisons[0].operator, cst.NotIn)
            and isinstance(field, cst.Attribute)
            and field.attr.value in POLL_FIELDS
        ):
            return field.value
    return None


def _polled_result(node: cst.CSTNode) -> cst.BaseExpression | None:
    """The result in `res.ready()` / `res.successful()` / `res.failed()` / `res.state` /
    `res.status`, the expressions a polling loop's condition reads."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and not node.args:
        if node.func.attr.value in POLL_METHODS:
            return node.func.value
    if isinstance(node, cst.Attribute) and node.attr.value in POLL_FIELDS:
        return node.value
    return None


def _tests_ready(test: cst.BaseExpression, name: str) -> bool:
    """`name.ready()` / `.successful()` / `.failed()`, alone or as a part of an `and`."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _tests_ready(test.left, name) or _tests_ready(test.right, name)
    return (
        isinstance(test, cst.Call)
        and not test.args
        and isinstance(test.func, cst.Attribute)
        and test.func.attr.value in POLL_METHODS
        and isinstance(test.func.value, cst.Name)
        and test.func.value.value == name
    )


def _breaks_out(loop: cst.While) -> bool:
    """Whether a `break` of `loop` itself (not of a loop, function or class inside it) can
    end it, instead of its condition."""
    pending: list[cst.CSTNode] = [loop.body]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Break):
            return True
        if isinstance(node, cst.For | cst.While):
            # A `break` in its body is its own; one in its `else` (or its header) is ours.
            pending.extend(c for c in node.children if c is not node.body)
            continue
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue
        pending.extend(node.children)
    return False


def _rebinds(statement: cst.CSTNode, name: str) -> bool:
    """Whether `statement` may bind `name` again (an assignment, a loop target, ...)."""
    for node in walk(statement):
        targets: list[cst.CSTNode] = []
        if (
            isinstance(node, cst.AssignTarget)
            or isinstance(node, cst.AugAssign | cst.AnnAssign)
            or isinstance(node, cst.For | cst.CompFor)
        ):
            targets = [node.target]
        elif isinstance(node, cst.AsName):
            targets = [node.name]
        elif isinstance(node, cst.NamedExpr):
            targets = [node.target]
        for target in targets:
            if any(isinstance(n, cst.Name) and n.value == name for n in walk(target)):
                return True
    return False


def _looks_like_wait(call: cst.Call) -> bool:
    """Celery's waits take a numeric timeout at most positionally and only their own
    keywords: `result.get("key")` (a dict) and `", ".join(parts)` (a str) do not qualify."""
    for arg in call.args:
        if arg.star:
            return False
        if arg.keyword is None:
            if not isinstance(arg.value, cst.Integer | cst.Float):
                return False
        elif arg.keyword.value not in WAIT_KEYWORDS:
            return False
    return True


def _enclosing(path: Sequence[cst.CSTNode]) -> tuple[cst.CSTNode, ...]:
    """The compound statements and comprehensions along `path` (outermost first, ending with
    the wait) that hold the wait. The iterable of a `for` and the outermost iterable of a
    comprehension are evaluated once, before looping: a wait there is not inside the loop; nor
    is a wait in an `if`'s test (an `elif`'s test is inside the `if`'s `else`).
    A wait in the `else` of a `for` or `while` is listed under that `else` block."""
    found: list[cst.CSTNode] = []
    for position, current in enumerate(path[:-1]):
        child = path[position + 1]
        if isinstance(current, cst.For | cst.While) and child is current.orelse:
            found.append(child)
        elif isinstance(current, cst.For):
            if child is current.body:
                found.append(current)
        elif isinstance(current, cst.If) and child is current.test:
            pass  # The test runs once, unconditionally: a wait there is not under the `if`.
        elif isinstance(current, cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp):
            grandchild = path[position + 2] if position + 2 < len(path) else None
            if not (child is current.for_in and grandchild is current.for_in.iter):
                found.append(current)
        elif isinstance(current, cst.BaseCompoundStatement):
            found.append(current)
    return tuple(found)
