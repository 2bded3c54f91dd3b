"""Which names CEL001's new orchestrator may not reuse, and whether a value survives the
serializer on its way to the callback.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.syntax import source_text
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.common import _single_assign_name
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
        taken = {n.value for node in nodes for n in walk(node) if isinstance(n, cst.Name)}
        params = {n.value for n in walk(self.function.params) if isinstance(n, cst.Name)}
        return (taken - gone) | params

    def _serialisable(self, name: str, params: list[str]) -> bool | str:
        """Whether `name`'s value survives the JSON serializer unchanged on its way to the
        callback: True for a parameter (it arrived through the serializer) or a name bound
        only to JSON-stable literals; a reason (str) when a binding provably cannot travel
        (a set, a model instance); False when celerymod cannot tell."""
        if name in params:
            return True
        values = []
        for statement in [*self.flat[: self.first], *(self.flat[i] for i in self.lifted)]:
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
