"""The task body CEL001's rewrite works on: the `with allow_join_result():` workaround
dissolved, and the statements that dispatch and wait.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import describe, source_text
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    _VALUE_KEYWORDS,
    Refused,
    _Carried,
    _fresh,
    _leading,
    _only_small,
    _single_assign_name,
)
from celerymod.transforms.blocking_subtask_wait_fix.spelling import _Spelling

# Statements that may hold the last wait inside a larger expression (see `_carry`).
_CARRIED_SMALL = (cst.Expr, cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Return)

# Expressions whose parts run only under a condition, or repeatedly.
_CONDITIONAL = (
    cst.IfExp,
    cst.BooleanOperation,
    cst.Lambda,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
)


class _Body(_Spelling):
    """The task body, with the workaround's `with` dissolved, and the statements of a wait."""

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
        block = self.function.body if self.branch is None else self.branch.block
        assert isinstance(block, cst.IndentedBlock)
        for statement in block.body:
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
        self.carried = self._carry(index, expression)
        return self.carried.name, False

    def _carry(self, index: int, expression: cst.CSTNode) -> _Carried:
        """The statement at `index` uses the waited value inside a larger expression
        (`print(r.get())`, `total += r.get()`, `return f(r.get())`, `for row in r.get():`,
        `if r.get():`): it moves into the callback with the wait replaced by a name for the
        value the callback receives. Refused where the wait runs only under a condition
        (`a or r.get()`, `x if c else r.get()`) or more than once."""
        statement = self.flat[index]
        larger = f"the waited value is used inside `{describe(statement)}`"
        path: list[cst.CSTNode] = []
        current = self.celery.parent(expression)
        while current is not None and current is not statement:
            path.append(current)
            current = self.celery.parent(current)
        if current is None:
            raise Refused(f"{larger}; " + _BY_HAND)
        small = _only_small(statement)
        if isinstance(statement, cst.SimpleStatementLine):
            if not isinstance(small, _CARRIED_SMALL):
                raise Refused(f"{larger}; " + _BY_HAND)
        elif isinstance(statement, cst.For):
            if not (statement.iter is expression or any(n is statement.iter for n in path)):
                raise Refused(f"{larger}; " + _BY_HAND)
        elif isinstance(statement, cst.If):
            if not (statement.test is expression or any(n is statement.test for n in path)):
                raise Refused(f"{larger}; " + _BY_HAND)
        else:
            raise Refused(f"{larger}; " + _BY_HAND)
        for node in path:
            if isinstance(node, _CONDITIONAL):
                raise Refused(
                    f"{larger}, where it runs only when a condition holds (or more than "
                    "once); " + _BY_HAND
                )
        taken = {n.value for n in walk(self.function) if isinstance(n, cst.Name)}
        name = _fresh("value", taken | self._module_names())
        # Calls the statement makes before the wait ran before it; in the callback they run
        # after the subtasks: the same code, but later.
        before = []
        for node in walk(statement):
            if node is expression:
                break
            if isinstance(node, cst.Call) and not any(node is n for n in path):
                before.append(node)
        if before:
            self.review_notes.append(
                f"`{describe(before[0])}` ran before the wait and now runs in the callback, "
                "after the subtasks"
            )
        moved = statement.deep_replace(expression, cst.Name(name))
        assert isinstance(moved, cst.BaseStatement)
        return _Carried(index, statement, moved, name, expression)

    def _after(self) -> list[cst.BaseStatement]:
        """The statements after the last wait, which move into the callback: the rest of
        the body, and in a branch the code after the `if`s when the branch falls through to
        it (its last statement does not return or raise)."""
        after = list(self.flat[self.last + 1 :])
        if self.branch is not None and self.branch.continuation:
            # The branch's last statement: after the waits, or the last wait's own
            # (`return t.delay().get()` leaves the task: nothing follows it).
            last = _only_small(after[-1] if after else self.flat[self.last])
            if not isinstance(last, cst.Return | cst.Raise):
                after += self.branch.continuation
                self.continued = True
        return after

    def _indent(self) -> str:
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        return body.indent if body.indent is not None else self.celery.module.default_indent

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
