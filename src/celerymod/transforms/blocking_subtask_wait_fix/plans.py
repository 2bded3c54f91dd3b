"""The chord or chain each shape of waits becomes (fan-out, loop, sequence), and the checks
on the tail that moves into the callback.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import Assignment, ScopeProvider

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import describe, source_text
from celerymod.analysis.vocabulary import CallForm, Canvas
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Refused,
    _Chain,
    _Chord,
    _literalish,
    _only_small,
    _single_assign_name,
)
from celerymod.transforms.blocking_subtask_wait_fix.reads import _receiver
from celerymod.transforms.blocking_subtask_wait_fix.steps import _Steps

# What makes a statement moved before the dispatch change the task's course.
_LEAVES = (
    cst.Return,
    cst.Raise,
    cst.Break,
    cst.Continue,
    cst.Yield,
    cst.Await,
    cst.Global,
    cst.Nonlocal,
    cst.FunctionDef,
    cst.ClassDef,
)


class _Plans(_Steps):
    """The chord or chain each shape becomes, and the checks on the tail it moves."""

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
                "the group is dispatched with arguments or options the rewrite would drop; "
                + _BY_HAND
            )
        if origin.collection is not None:
            raise Refused("the group's results are collected in a list first; " + _BY_HAND)
        wait_index = self._index_of(site.node)
        assert wait_index is not None
        sources = self._source_statements(site, wait_index)
        name, returns = self._wait_value(site, wait_index, site.node)
        self._set_range([*sources, wait_index])
        return _Chord(source_text(origin.signature), name, returns)

    def _loop(self) -> _Chord:
        (site,) = self.shape.waits
        self._check_wait_call(site)
        if site.origin.collection is not None:
            return self._collected(site)
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
            if any(
                isinstance(node, cst.Return) and any(n is site.node for n in walk(node))
                for node in walk(loop.body)
            ):
                # `return self.replace(...)` there would also leave at the first item, but
                # a chord of every item would not: the shape is not a fan-out.
                raise Refused(
                    "the wait is returned from inside the loop, which so ends at its first "
                    "item: not a fan-out a chord can run; " + _BY_HAND
                )
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

    def _collected(self, site: WaitSite) -> _Chord:
        """Results collected first, then waited one by one: `pending = [t.delay(x) for x in
        xs]` (or `pending = []` and a `for` appending `t.delay(x)`), then `[r.get() for r in
        pending]` (or a `for` appending `r.get()` to an empty list): one chord over the same
        items, whose callback receives the values in the same order."""
        origin = site.origin
        collection = origin.collection
        assert collection is not None
        name, builder = collection.name, collection.builder
        if name is None or origin.call is None:
            raise Refused("the results are collected without a name; " + _BY_HAND)
        signature = self._signature(site, immutable=False, collected=True)
        # The statements that dispatch: a comprehension, or a loop filling an empty list.
        build_index = self._index_of(builder)
        if build_index is None:
            raise Refused("the results are collected inside another statement; " + _BY_HAND)
        if isinstance(builder, cst.ListComp):
            assigned = _single_assign_name(self.flat[build_index])
            if assigned is None or assigned != (name, builder) or builder.elt is not origin.call:
                raise Refused("the comprehension that collects does more; " + _BY_HAND)
            items = _comp_for(builder.for_in)
            indices = [build_index]
        elif isinstance(builder, cst.For) and self.flat[build_index] is builder:
            appended = (_appended(builder, name), _appended_by_name(builder, name))
            if not any(value is origin.call for value in appended):
                raise Refused("the loop that collects does more than append; " + _BY_HAND)
            items = f" for {source_text(builder.target)} in {source_text(builder.iter)}"
            indices = [self._empty_list_before(name, build_index, in_range=True), build_index]
        else:
            raise Refused("the results are collected in a dict or by hand; " + _BY_HAND)
        # The statement that waits: a comprehension, or a loop filling an empty list.
        wait_index = self._index_of(site.node)
        assert wait_index is not None
        loop = site.loop
        for_in = loop.for_in if isinstance(loop, cst.ListComp) else None
        target = for_in.target if for_in is not None else getattr(loop, "target", None)
        walked = for_in.iter if for_in is not None else getattr(loop, "iter", None)
        if not (
            isinstance(walked, cst.Name)
            and walked.value == name
            and isinstance(target, cst.Name)
            and _receiver(site) == target.value
        ):
            raise Refused("the waits walk the results other than one by one in order; " + _BY_HAND)
        if isinstance(loop, cst.ListComp):
            assert for_in is not None
            if loop.elt is not site.node or for_in.ifs or for_in.inner_for_in is not None:
                raise Refused("the comprehension of waits does more than wait; " + _BY_HAND)
            value, returns = self._wait_value(site, wait_index, loop)
            indices.append(wait_index)
            if not any(isinstance(n, cst.Name) and n.value == target.value for n in walk(builder)):
                self.gone_names.add(target.value)  # The comprehension's own name goes with it.
        elif isinstance(loop, cst.For) and self.flat[wait_index] is loop:
            if site.poll is not None:  # Each result polled, then its value appended.
                value, returns = self._polled_appends(site, loop), False
            elif _appended(loop, None) is not site.node:
                raise Refused("the loop of waits does more than append; " + _BY_HAND)
            else:
                value, returns = _appended_to(loop), False
            assert value is not None
            empty = self._empty_list_before(value, wait_index, in_range=False)
            if empty >= min(indices):
                indices.append(empty)
            else:
                self.drop.add(empty)
            indices.append(wait_index)
        else:
            raise Refused(
                "the results are waited on by a comprehension other than a list; " + _BY_HAND
            )
        self._set_range(indices)
        self.imports.add("group")
        return _Chord(f"{self._spell('group')}({signature}{items})", value, returns)

    def _empty_list_before(self, name: str, index: int, in_range: bool) -> int:
        """The index of `name = []` before statement `index`, with nothing in between
        touching `name` (when `in_range`, it must be the statement right before)."""
        for position in range(index - 1, -1, -1):
            assigned = _single_assign_name(self.flat[position])
            if assigned is not None and assigned[0] == name:
                empty = isinstance(assigned[1], cst.List) and not assigned[1].elements
                if empty and (not in_range or position == index - 1):
                    return position
                break
            if any(isinstance(n, cst.Name) and n.value == name for n in walk(self.flat[position])):
                break
        raise Refused(f"`{name}` is not an empty list filled only by the loop; " + _BY_HAND)

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
            if position > 0 and (note := _early_calls(site)) is not None:
                self.review_notes.append(note)
            wait_index = self._index_of(site.node)
            assert wait_index is not None
            involved += [*self._source_statements(site, wait_index), wait_index]
            name, returned = self._wait_value(site, wait_index, site.node)
            if returned and position != len(waits) - 1:
                raise Refused("a wait returns before the others ran; " + _BY_HAND)
            if self.carried is not None and position != len(waits) - 1:
                raise Refused(
                    "an earlier step's value is used inside a larger statement, and a chain "
                    "hands only the last result on; " + _BY_HAND
                )
            if value_name is not None:
                self.intermediates.add(value_name)
            value_name, returns = name, returned
        self._set_range(involved)
        self.imports.add("chain")
        return _Chain(steps, value_name, returns)

    def _set_range(self, indices: Sequence[int]) -> None:
        """The statements the chord or chain replaces: `first`..`last`. Statements between
        them that neither read nor bind a name of the dispatches and waits (`count = 0`)
        move up, before the dispatch (`lifted`); a move that changes when code runs (a
        call) makes the fix `review`."""
        if self.bound_read is not None:  # `out = res.result` after a barrier goes with it.
            indices = [*indices, self.bound_read]
        first, last = min(indices), max(indices)
        self.first, self.last = first, last
        self.lifted = [i for i in range(first, last + 1) if i not in indices]
        if not self.lifted:
            return
        carried = self.carried.index if self.carried is not None else None
        involved = {
            n.value
            for i in set(indices) - {carried}
            for n in walk(self.flat[i])
            if isinstance(n, cst.Name)
        }
        for index in self.lifted:
            note = _lifted_note(self.flat[index], involved)
            if note is not None:
                self.review_notes.append(note)

    def _tail_names(self, tail: Sequence[cst.BaseStatement]) -> tuple[list[str], set[str]]:
        """(names the tail reads that the orchestrator binds before it, in order of first
        use; names among them bound in the rewritten range)."""
        scope = self._function_scope()
        carried = self.carried
        ranged = [
            s
            for i, s in enumerate(self.flat[self.first : self.last + 1], self.first)
            if i not in self.lifted
        ]
        if carried is not None:
            # The statement moving into the callback counts as tail, but not its wait.
            ranged.remove(carried.original)
            tail = [carried.original, *tail]
        excluded = {id(n) for n in walk(carried.wait)} if carried is not None else set()
        excluded |= self._read_ids()  # `res.result` after a barrier: the value, not `res`.
        tail_ids = {id(n) for statement in tail for n in walk(statement)} - excluded
        wanted: list[str] = []
        in_range: set[str] = set()
        range_ids = {id(n) for s in ranged for n in walk(s)} | excluded
        bound: set[str] = set()  # What the tail's statements so far bound, whatever path.
        for statement in tail:
            for node in walk(statement):
                if not isinstance(node, cst.Name) or id(node) in excluded or node.value in bound:
                    continue
                node_scope = self.celery._meta(ScopeProvider, node, None)
                if node_scope is None:
                    continue
                # This node's own reads (`accesses[node]` holds every access of its name);
                # `count += 1` reads `count` too, though scope analysis records no access.
                referents = [
                    r for a in node_scope.accesses[node] if a.node is node for r in a.referents
                ]
                augmented = self.celery.parent(node)
                if isinstance(augmented, cst.AugAssign) and augmented.target is node:
                    referents += node_scope.assignments[node]
                for referent in referents:
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
            bound |= _always_binds(statement)
        return wanted, in_range


def _always_binds(statement: cst.BaseStatement) -> set[str]:
    """The names a statement binds whenever it completes: `name = ...` (`name: T = ...`)."""
    names: set[str] = set()
    for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else []
        if isinstance(small, cst.AnnAssign) and small.value is not None:
            targets = [small.target]
        names |= {target.value for target in targets if isinstance(target, cst.Name)}
    return names


def _check_tail(tail: Sequence[cst.BaseStatement]) -> None:
    """Refused when the code that moves into the callback cannot run there."""
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


def _comp_for(node: cst.CompFor) -> str:
    """` for x in xs if c ...` on one line, whatever the comprehension's layout."""
    if node.asynchronous is not None:
        raise Refused("the comprehension is asynchronous; " + _BY_HAND)
    text = f" for {source_text(node.target)} in {source_text(node.iter)}"
    text += "".join(f" if {source_text(condition.test)}" for condition in node.ifs)
    if node.inner_for_in is not None:
        text += _comp_for(node.inner_for_in)
    return text


def _appended(loop: cst.For, name: str | None) -> cst.BaseExpression | None:
    """What a `for` whose whole body is `<name>.append(value)` appends (any name when
    `name` is None), or None."""
    if loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
        return None
    body = loop.body.body
    small = _only_small(body[0]) if len(body) == 1 else None
    call = small.value if isinstance(small, cst.Expr) else None
    if (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "append"
        and isinstance(call.func.value, cst.Name)
        and (name is None or call.func.value.value == name)
        and len(call.args) == 1
        and call.args[0].keyword is None
        and not call.args[0].star
    ):
        return call.args[0].value
    return None


def _appended_by_name(loop: cst.For, name: str) -> cst.BaseExpression | None:
    """What a `for` whose whole body is `x = value` then `<name>.append(x)` appends: the
    same as `<name>.append(value)`, but for `x`, which the loop leaves bound (the rewrite
    refuses a tail that reads it: it is bound in the statements it replaces)."""
    if loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
        return None
    body = loop.body.body
    assigned = _single_assign_name(body[0]) if len(body) == 2 else None
    small = _only_small(body[1]) if assigned is not None else None
    call = small.value if isinstance(small, cst.Expr) else None
    if (
        assigned is not None
        and assigned[0] != name
        and isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "append"
        and isinstance(call.func.value, cst.Name)
        and call.func.value.value == name
        and len(call.args) == 1
        and call.args[0].keyword is None
        and not call.args[0].star
        and isinstance(call.args[0].value, cst.Name)
        and call.args[0].value.value == assigned[0]
    ):
        return assigned[1]
    return None


def _appended_to(loop: cst.For) -> str | None:
    """The list a `for` appends to (see `_appended`)."""
    assert isinstance(loop.body, cst.IndentedBlock)
    small = _only_small(loop.body.body[0])
    assert isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)
    func = small.value.func
    assert isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
    return func.value.value


def _early_calls(site: WaitSite) -> str | None:
    """A later step's arguments that call something ran, in the original, after the step
    before had finished (and may read what it wrote); a chain computes them all when it is
    built, before its first step runs: the review note, or None."""
    arguments = site.origin.arguments()
    assert arguments is not None  # `_signature` refused it otherwise.
    values = [*arguments.args, *(v for _, v in (*arguments.kwargs, *arguments.options))]
    calls = [source_text(v) for v in values if any(isinstance(n, cst.Call) for n in walk(v))]
    if not calls:
        return None
    return (
        f"{', '.join(f'`{c}`' for c in calls)} now run{'s' if len(calls) == 1 else ''} "
        "when the chain is built, before its first step, not after the step before it: "
        "check nothing there reads what an earlier step does"
    )


def _lifted_note(statement: cst.BaseStatement, involved: set[str]) -> str | None:
    """Refused when a statement between the dispatches and the waits shares their names or
    may leave the task; else what moving it before the dispatch changes (None: nothing)."""
    apart = "other statements sit between the dispatches and the waits"
    nodes = list(walk(statement))
    if any(isinstance(n, cst.Name) and n.value in involved for n in nodes):
        raise Refused(f"{apart}, using the same names; " + _BY_HAND)
    if any(isinstance(n, _LEAVES) for n in nodes):
        raise Refused(f"{apart}, and may leave the task early; " + _BY_HAND)
    assigned = _single_assign_name(statement)
    if assigned is None or not _literalish(assigned[1]):
        return f"`{describe(statement)}` ran after the dispatch and now runs before it"
    return None
