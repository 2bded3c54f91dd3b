"""A wait used only as a barrier (a `while not res.ready():` loop, or `res.wait()` as a
statement) whose value the code after it reads from the result (`res.result`, `res.get()`):
those reads become the value the callback receives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import Canvas
from celerymod.analysis.waits import _rebinds
from celerymod.model import Strategy
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.body import _CONDITIONAL, _Body
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Refused,
    _fresh,
    _only_small,
)
from celerymod.transforms.blocking_subtask_wait_fix.polls import dropped_by_poll

# Keywords a read of a finished result may pass: none changes the value of a success.
_READ_KEYWORDS = frozenset({"timeout", "interval", "disable_sync_subtasks", "propagate"})


class _Reads(_Body):
    """The barrier's value, read from the result after it, and the polling loops' checks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The reads of the last wait's result in the code after it, replaced by its value in
        # the callback; the statement `name = <read>` right after the barrier, binding it.
        self.reads: tuple[cst.CSTNode, ...] = ()
        self.bound_read: int | None = None
        # What dropping the polling loops changes (each makes the fix review), and the
        # imports of their sleeps (removed where nothing else uses them).
        self.poll_notes: list[str] = []
        self.poll_imports: list[ImportItem] = []

    def _check_wait_call(self, site: WaitSite) -> None:
        if site.poll is None:
            super()._check_wait_call(site)
            return
        dropped, sleeps = dropped_by_poll(self.celery, site.poll, _receiver(site) or "")
        self.poll_imports += sleeps
        if isinstance(site.node, cst.Comparison):  # `not in READY_STATES`: its import too.
            self.poll_imports += _states_import(site.node.comparisons[0].comparator)
        if dropped:
            self.poll_notes.append(
                f"drops the polling loop's {', '.join(dropped)}, which ran while the subtask ran"
            )

    def _wait_value(
        self, site: WaitSite, index: int, expression: cst.CSTNode
    ) -> tuple[str | None, bool]:
        small = _only_small(self.flat[index])
        barrier = site.poll is not None or (
            isinstance(small, cst.Expr) and small.value is expression
        )
        receiver = _receiver(site)
        last = site is self.shape.waits[-1]
        reads = self._reads_after(site, index, receiver) if receiver and last else []
        if not barrier:
            name, returns = super()._wait_value(site, index, expression)
            if reads and (self.carried is not None or name is None):
                return name, returns  # The code after it reads `res` itself: refused later.
            if reads and any(_rebinds(s, name or "") for s in self.flat[index + 1 :]):
                raise Refused(
                    f"the code after the wait binds `{name}` again and reads the result "
                    "after that; " + _BY_HAND
                )
            self.reads = tuple(reads)  # `x = res.get()`, later `res.result`: that is `x`.
            return name, returns
        if site.poll is not None:
            self._poll_failure_note(index, reads)
        if not reads:
            return None, False
        following = _only_small(self.flat[index + 1])
        if isinstance(following, cst.Return) and following.value is reads[0]:
            self.bound_read = index + 1
            return None, True
        if (
            isinstance(following, cst.Assign)
            and following.value is reads[0]
            and len(following.targets) == 1
            and isinstance(following.targets[0].target, cst.Name)
        ):
            # `out = res.result` right after the loop: the callback receives `out`.
            name = following.targets[0].target.value
            self.bound_read = index + 1
            self.reads = tuple(reads[1:])
            if self.reads and any(_rebinds(s, name) for s in self.flat[index + 2 :]):
                raise Refused(
                    f"the code after the wait binds `{name}` again and reads the result "
                    "after that; " + _BY_HAND
                )
            return name, False
        taken = {n.value for n in walk(self.function) if isinstance(n, cst.Name)}
        self.reads = tuple(reads)
        return _fresh("value", taken | self._module_names()), False

    def _polled_appends(self, site: WaitSite, loop: cst.For) -> str:
        """`for r in rs:` whose body polls `r` (`site`), then appends its value to a list:
        `x = r.get(...)` (or `r.result`) and `out.append(x)`, or `out.append(r.get())`. The
        same as `out.append(r.get())` on success: the list's name, the chord's value."""
        receiver = _receiver(site) or ""
        body = loop.body.body if isinstance(loop.body, cst.IndentedBlock) else ()
        refused = Refused("the loop does more than poll each result and append it; " + _BY_HAND)
        if loop.orelse is not None or len(body) not in (2, 3) or body[0] is not site.poll:
            raise refused
        appending = _only_small(body[-1])
        call = appending.value if isinstance(appending, cst.Expr) else None
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "append"
            and isinstance(call.func.value, cst.Name)
            and len(call.args) == 1
            and call.args[0].keyword is None
            and not call.args[0].star
        ):
            raise refused
        read: cst.BaseExpression = call.args[0].value
        taking: cst.BaseSmallStatement | None = appending
        if len(body) == 3:  # `x = r.get()` then `out.append(x)`
            taking = _only_small(body[1])
            if not (
                isinstance(taking, cst.Assign)
                and len(taking.targets) == 1
                and isinstance(taking.targets[0].target, cst.Name)
                and _is(read, taking.targets[0].target.value)
            ):
                raise refused
            read = taking.value
        if not _read_of(read, receiver, {"get", "wait"}):
            raise refused
        self._poll_note(read, takes=True)
        return call.func.value.value

    def _reads_after(self, site: WaitSite, index: int, receiver: str) -> list[cst.CSTNode]:
        """The reads of the value of the result `receiver` in the statements after the
        barrier at `index`, in order. Refused when those statements bind `receiver` again
        (a later read would be of another result)."""
        later = self.flat[index + 1 :]
        # A group's value: `.get()` / `.join()` (a `GroupResult` has no `.result`).
        group = site.origin.canvas is Canvas.GROUP
        methods = {"get", "join", "join_native"} if group else {"get", "wait"}
        found: list[cst.CSTNode] = []
        for statement in later:
            for node in walk(statement):
                if _read_of(node, receiver, methods, field=not group):
                    found.append(node)
        if found and any(_rebinds(statement, receiver) for statement in later):
            raise Refused(f"the code after the wait binds `{receiver}` again; " + _BY_HAND)
        targets = {id(t) for statement in later for t in _targets(statement)}
        if any(id(read) in targets for read in found):  # `res.result = ...`: not a read.
            raise Refused(f"the code after the wait assigns to `{receiver}.result`; " + _BY_HAND)
        return found

    def _poll_failure_note(self, index: int, reads: list[cst.CSTNode]) -> None:
        """`_poll_note` for a loop at `index`: does the statement right after it take the
        value (`first`, the first read) before it does anything else? Only then did a failure
        raising there stop the original where the chain now stops."""
        first = reads[0] if reads else None
        following = self.flat[index + 1] if index + 1 < len(self.flat) else None
        self._poll_note(first, first is not None and _first_thing(following, first))

    def _poll_note(self, first: cst.CSTNode | None, takes: bool) -> None:
        """What dropping the loop changes besides its body. The loop ended on a failure too,
        and the code after it went on; the chord or chain stops instead: the callback never
        runs. The same only when the statement right after the loop takes (`takes`) the
        value with a `.get()` that raises the failure (`first`, the first read). And under
        `task_always_eager`, where `.delay()` of the task runs it in place, the loop let it
        run; `self.replace` there raises Celery's guard, as the `.get()` did unless it passed
        `disable_sync_subtasks=False`."""
        keywords = {
            a.keyword.value: a.value
            for a in (first.args if isinstance(first, cst.Call) else ())
            if a.keyword is not None
        }
        raises = isinstance(first, cst.Call) and _true(keywords.get("propagate"))
        guarded = takes and raises and _true(keywords.get("disable_sync_subtasks"))
        if not (takes and raises):
            went_on = (
                f"went on with `{describe(first)}` holding the exception"
                if first is not None and not raises
                else "went on"
            )
            self.poll_notes.append(
                "when a subtask fails, the code after the polling loop no longer runs (the "
                f"callback never does), where the loop ended on a failure too and the task {went_on}"
            )
        if self.strategy is Strategy.REPLACE and not guarded:
            self.poll_notes.append(
                "under `task_always_eager`, `.delay()` of the task now raises Celery's guard "
                "where the polling loop let it run (`.apply()` works)"
            )

    def _substituted(self, statement: cst.BaseStatement, name: str) -> cst.BaseStatement:
        """`statement` with each read of the result replaced by `name`, the value."""
        if not self.reads:
            return statement
        replaced = statement.visit(_Substitute({id(read) for read in self.reads}, name))
        assert isinstance(replaced, cst.BaseStatement)
        return replaced

    def _read_ids(self) -> set[int]:
        return {id(n) for read in self.reads for n in walk(read)}


def _first_thing(statement: cst.CSTNode | None, read: cst.CSTNode) -> bool:
    """Whether the simple statement `statement` evaluates `read` unconditionally and before
    any call (`v = r.get()`, `total = r.get() + 1`, `return {"v": r.get()}`; not
    `log(x, r.get())`, `a or r.get()`)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    inside = {id(node) for node in walk(read)}
    above: set[int] = set()
    for node in walk(statement):
        if node is read:
            break
        if isinstance(node, _CONDITIONAL) and any(id(n) in inside for n in walk(node)):
            return False  # `a or r.get()`: the read may not run.
        above.add(id(node))
    else:
        return False
    return not any(
        isinstance(node, cst.Call) and id(node) in above and not any(n is read for n in walk(node))
        for node in walk(statement)
    )


def _targets(statement: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """What the statement assigns to or deletes (`x.result = ...`, `del x.result`)."""
    for node in walk(statement):
        if isinstance(
            node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.Del
        ) or isinstance(node, cst.For | cst.CompFor):
            yield node.target


def _receiver(site: WaitSite) -> str | None:
    """The name holding the waited result: `res` in `res.wait()` or `not res.ready()`."""
    node: cst.CSTNode = site.node
    if isinstance(node, cst.Comparison):  # `res.state not in READY_STATES`
        field = node.left
        if isinstance(field, cst.Attribute) and isinstance(field.value, cst.Name):
            return field.value.value
        return None
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    func = node.func if isinstance(node, cst.Call) else None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        return func.value.value
    return None


def _read_of(node: cst.CSTNode, receiver: str, methods: set[str], field: bool = True) -> bool:
    """`res.result` (when `field`), or `res.get()` / `res.wait()` (a group's `.join()`)
    passing only keywords that do not change a finished success's value."""
    if isinstance(node, cst.Attribute):
        return field and node.attr.value == "result" and _is(node.value, receiver)
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return False
    return (
        node.func.attr.value in methods
        and _is(node.func.value, receiver)
        and all(a.keyword is not None and a.keyword.value in _READ_KEYWORDS for a in node.args)
    )


def _states_import(states: cst.BaseExpression) -> list[ImportItem]:
    """The import `READY_STATES` was spelled through (`from celery.states import
    READY_STATES`, `from celery import states`): removed where nothing else uses it."""
    if isinstance(states, cst.Name):
        alias = None if states.value == "READY_STATES" else states.value
        return [ImportItem("celery.states", "READY_STATES", alias)]
    if isinstance(states, cst.Attribute) and isinstance(states.value, cst.Name):
        alias = None if states.value.value == "states" else states.value.value
        return [ImportItem("celery", "states", alias)]
    return []


def _true(value: cst.BaseExpression | None) -> bool:
    """A keyword left out (Celery's default is True for both that matter here), or `True`."""
    return value is None or (isinstance(value, cst.Name) and value.value == "True")


def _is(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


class _Substitute(cst.CSTTransformer):
    """The nodes whose ids are in `ids` replaced by the name `name`."""

    def __init__(self, ids: set[int], name: str) -> None:
        super().__init__()
        self.ids, self.name = ids, name

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        if id(original_node) in self.ids:
            return cst.Name(self.name)
        return updated_node


def _first_waits(celery: CeleryModule, waits: Sequence[WaitSite]) -> list[WaitSite]:
    """The waits without those on a result an earlier wait already waited for (`res.wait()`
    then `x = res.get()`): the later one reads the finished value, which the rewrite passes
    to the callback (`_Reads`); as a step of its own it would run the subtask twice. In the
    order of the code (polling loops come after the other waits in `waits`)."""
    seen: set[int] = set()
    first: list[WaitSite] = []
    for site in sorted(waits, key=lambda site: _start(celery, [site])):
        call = site.origin.call
        single = call is not None and site.origin.collection is None and site.loop is None
        if single and id(call) in seen:
            continue
        if single:
            seen.add(id(call))
        first.append(site)
    return first


def _start(celery: CeleryModule, waits: Sequence[WaitSite]) -> tuple[int, int]:
    """Where the first of `waits` starts in the module, as (line, column)."""
    positions = [celery._position(site.node) for site in waits]
    starts = [(p.start.line, p.start.column) for p in positions if p is not None]
    return min(starts, default=(0, 0))
