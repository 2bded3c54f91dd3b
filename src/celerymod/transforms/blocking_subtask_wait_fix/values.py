"""Which names CEL001's new orchestrator may not reuse, and whether a value survives the
serializer on its way to the callback.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import source_text
from celerymod.analysis.vocabulary import CallForm
from celerymod.analysis.waits import _rebinds
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Refused,
    _single_assign_name,
)
from celerymod.transforms.blocking_subtask_wait_fix.plans import _Plans

_MODEL_LOOKUPS = frozenset(
    {"get", "first", "last", "latest", "earliest", "create", "get_or_create", "update_or_create"}
)


class _Values(_Plans):
    """What the orchestrator may not rename, and what can travel to the callback."""

    def _taken_names(self) -> set[str]:
        """Names the new orchestrator may not reuse: its parameters, the prefix, and what
        the replaced statements compute (not the names they bind, which disappear)."""
        lifted = [self.flat[i] for i in self.lifted]
        nodes: list[cst.CSTNode] = [self.function.params, *self.flat[: self.first], *lifted]
        for index, statement in enumerate(self.flat[self.first : self.last + 1], self.first):
            if index in self.lifted:
                continue
            assigned = _single_assign_name(statement)
            nodes.append(assigned[1] if assigned is not None else statement)
        gone = {name for site in self.shape.waits for name in site.origin.names}
        gone |= self.gone_names
        if self.branch is not None:
            # The other branches and the code after the `if` stay in the task.
            nodes.append(self.function.body)
            gone = self._free_in_other_branches()
        taken = {n.value for node in nodes for n in walk(node) if isinstance(n, cst.Name)}
        taken -= gone
        params = {n.value for n in walk(self.function.params) if isinstance(n, cst.Name)}
        return taken | params

    def _free_in_other_branches(self) -> set[str]:
        """Names the rewrite may reuse although the task spells them.

        The branch ends with the dispatch's `return`, so a local name of the task that only
        the `if`'s other branches use (a `result` another branch's rewrite bound) can be
        bound again here: no code that reads it runs after this branch. A name those
        branches read that the task does not bind (a global, a builtin) cannot: binding it
        anywhere in the task would make it local everywhere. With `global` or `nonlocal` in
        the task, nothing is reused."""
        assert self.branch is not None
        scope = self._function_scope()
        siblings = _other_branches(self.celery, self.branch.block, self.function.body)
        if scope is None or any(
            isinstance(n, cst.Global | cst.Nonlocal) for n in walk(self.function.body)
        ):
            return set()
        skip = {id(node) for node in siblings}
        here: set[str] = set()
        stack: list[cst.CSTNode] = [self.function.body]
        while stack:
            node = stack.pop()
            if id(node) in skip:
                continue
            if isinstance(node, cst.Name):
                here.add(node.value)
            stack.extend(node.children)
        there = {n.value for node in siblings for n in walk(node) if isinstance(n, cst.Name)}
        local = {name for name in there if scope.assignments[name]}  # type: ignore[attr-defined]
        return local - here

    def _bound_on_branch(self, names: list[str]) -> None:
        """Each of `names` (what the callback receives besides the value) is bound before the
        dispatch on the way into the branch: a parameter, or a statement before the `if`s or
        before the dispatch in the branch. A name only the other branches bind would be
        unbound here (the original would fail on it), and celerymod does not pass it."""
        assert self.branch is not None
        scope = self._function_scope()
        kept = [s for i, s in enumerate(self.flat[: self.first]) if i not in self.drop]
        on_path: list[cst.CSTNode] = [
            self.function.params,
            *self.branch.before,
            *kept,
            *(self.flat[i] for i in self.lifted),
        ]
        ids = {id(n) for node in on_path for n in walk(node)}
        for name in names:
            assignments = scope.assignments[name] if scope is not None else ()  # type: ignore[attr-defined]
            if not any(id(a.node) in ids for a in assignments):
                raise Refused(
                    f"the code after the `if` reads `{name}`, which this branch does not bind "
                    "before the dispatch; " + _BY_HAND
                )

    def moved_ids(self) -> set[int]:
        """After `build`, in a branch: the ids of every node the rewrite takes out of the
        task (the dispatches and waits, the statements after them, which move into the
        callback, and the emptied lists it drops). Empty for a rewrite of the task body."""
        if self.branch is None:
            return set()
        moved = [self.flat[i] for i in sorted(self.drop)] + [
            s for i, s in enumerate(self.flat[self.first :], self.first) if i not in self.lifted
        ]
        return {id(n) for statement in moved for n in walk(statement)}

    def _applied_note(self, params: list[str]) -> str | None:
        """The note naming the arguments of `.apply()` steps that may not survive JSON
        unchanged, or None; refused when one provably cannot travel."""
        unsure: list[str] = []
        for site in self.shape.waits:
            for value in _applied_arguments(site):
                verdict = self._travels(value, params)
                if isinstance(verdict, str):
                    raise Refused(
                        f"`{source_text(value)}` is {verdict}: `.apply()` passed it as it was, "
                        "and a chain step's arguments go through Celery's JSON serializer "
                        "(`EncodeError` when the canvas is sent); " + _BY_HAND
                    )
                if verdict is not True:
                    unsure.append(source_text(value))
        if not unsure:
            return None
        one = len(unsure) == 1
        return (
            f"{', '.join(f'`{text}`' for text in unsure)}, passed as "
            f"{'it was' if one else 'they were'} by `.apply()`, now {'goes' if one else 'go'} "
            f"through the serializer as a step's argument{'' if one else 's'}: check "
            f"{'it survives' if one else 'they survive'} JSON unchanged (a tuple comes back a list)"
        )

    def _travels(self, value: cst.BaseExpression, params: list[str]) -> bool | str:
        """`_serialisable` for an expression: a name, a JSON literal, or a list or dict
        display of those (`[x]`, `{"id": x}`)."""
        if isinstance(value, cst.Name) and value.value not in ("None", "True", "False"):
            return self._serialisable(value.value, params)
        reason = _never_serialisable(value)
        if reason is not None:
            return reason
        if isinstance(value, cst.List):
            parts = [e.value for e in value.elements if isinstance(e, cst.Element)]
            if len(parts) != len(value.elements):
                return False  # `*rest`
        elif isinstance(value, cst.Dict):
            if not all(
                isinstance(e, cst.DictElement)
                and isinstance(e.key, cst.SimpleString | cst.ConcatenatedString)
                and _json_stable(e.key)
                for e in value.elements
            ):
                return False
            parts = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
        else:
            return _json_stable(value)
        verdicts = [self._travels(part, params) for part in parts]
        reasons = [v for v in verdicts if isinstance(v, str)]
        return reasons[0] if reasons else all(v is True for v in verdicts)

    def _serialisable(self, name: str, params: list[str]) -> bool | str:
        """Whether `name`'s value survives the JSON serializer unchanged on its way to the
        callback: True for a parameter (it arrived through the serializer) or a name bound
        only to JSON-stable literals; a reason (str) when a binding provably cannot travel
        (a set, a model instance); False when celerymod cannot tell. A parameter's default
        did not travel (`fields=("a", "b")` comes back a list), nor does a value the task
        binds to it again (`ids = set(ids)`): those are judged as any other binding."""
        values = []
        other_binding = False
        default = None
        if name in params:
            every = (*self.function.params.posonly_params, *self.function.params.params)
            param = next(p for p in every if p.name.value == name)
            default = param.default
            if default is not None:
                reason = _never_serialisable(default)
                if reason is not None:
                    return f"{reason} when its default is used"
                values.append(default)
        before = self.branch.before if self.branch is not None else ()
        for statement in [*before, *self.flat[: self.first], *(self.flat[i] for i in self.lifted)]:
            assigned = _single_assign_name(statement)
            if assigned is not None and assigned[0] == name:
                if name in params and _or_literal(assigned[1], name):
                    continue  # `items = items or []`: what was sent, or a JSON literal.
                values.append(assigned[1])
            elif _rebinds(statement, name):
                # Bound some other way (`x += ...`, loop target, unpacking): cannot tell.
                other_binding = True
        for value in values:
            reason = _never_serialisable(value)
            if reason is not None:
                return reason
        if other_binding:
            return False
        if name in params and default is None and len(values) == 0:
            return True  # Only what the caller sent.
        return bool(values) and all(_json_stable(v) for v in values)


def _applied_arguments(site: WaitSite) -> list[cst.BaseExpression]:
    """The arguments of a step that was `t.apply(...)`: they never went through the
    serializer (the task ran in the orchestrator's process), and now they do."""
    arguments = site.origin.arguments()
    if site.origin.form is not CallForm.APPLY or arguments is None:
        return []
    return [*arguments.args, *(value for _, value in arguments.kwargs)]


def _or_literal(node: cst.BaseExpression, name: str) -> bool:
    """`name or <JSON-stable literal>` (`items = items or []`)."""
    return (
        isinstance(node, cst.BooleanOperation)
        and isinstance(node.operator, cst.Or)
        and isinstance(node.left, cst.Name)
        and node.left.value == name
        and _json_stable(node.right)
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


def _other_branches(
    celery: CeleryModule, block: cst.CSTNode, body: cst.CSTNode
) -> list[cst.CSTNode]:
    """The arms of the `if`s above `block` (up to the task `body`) that `block` is not in:
    when `block` runs, none of them does."""
    found: list[cst.CSTNode] = []
    child, node = block, celery.parent(block)
    while node is not None and node is not body:
        if isinstance(node, cst.If):
            if child is node.body and node.orelse is not None:
                found.append(node.orelse)
            elif child is node.orelse:
                found.append(node.body)
        child, node = node, celery.parent(node)
    return found
