"""Small helpers on libcst nodes shared by the analysis modules: attribute chains, literals,
source text, the statements of a body.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import libcst as cst
from libcst._metadata_dependent import LazyValue

from celerymod.analysis.known import CURRENT_TASK, NON_CELERY_PACKAGES, OWN_TASK_ATTRIBUTES


def reads_own_request(nodes: Iterable[cst.CSTNode], task_name: str) -> bool:
    """True when code (`nodes`) of the task `task_name` reads the running task without
    `self`: `current_task`, or the task by its own name (`known.OWN_TASK_ATTRIBUTES`)."""
    for top in nodes:
        stack = [top]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Name) and node.value == CURRENT_TASK:
                return True
            if isinstance(node, cst.Attribute) and (
                node.attr.value in OWN_TASK_ATTRIBUTES
                and isinstance(node.value, cst.Name)
                and node.value.value == task_name
            ):
                return True
            stack.extend(node.children)
    return False


def _unwrap(value: object) -> object:
    return value() if isinstance(value, LazyValue) else value


def _attribute_chain(node: cst.BaseExpression) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.Attribute):
        base = _attribute_chain(node.value)
        return None if base is None else [*base, node.attr.value]
    return None


def _string_value(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _is_true(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def source_text(node: cst.CSTNode) -> str:
    """The source code of a node, as written."""
    return cst.Module(body=[]).code_for_node(node)


def describe(node: cst.CSTNode, limit: int = 60) -> str:
    """A short one-line rendering for messages: call arguments become `...` when long."""
    text = " ".join(source_text(node).split())
    if len(text) <= limit:
        return text
    if isinstance(node, cst.Call):
        inner = describe(node.func, limit)
        return f"{inner}(...)"
    if isinstance(node, cst.Attribute):
        return f"{describe(node.value, limit)}.{node.attr.value}"
    if isinstance(node, cst.UnaryOperation):
        return "~" + describe(node.expression, limit)
    return text[: limit - 3] + "..."


def _non_celery(dotted: str) -> bool:
    return dotted.partition(".")[0] in NON_CELERY_PACKAGES


def _is_loop(node: cst.CSTNode) -> bool:
    return isinstance(
        node, cst.For | cst.While | cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp
    )


def _walk_body(body: cst.BaseSuite) -> Iterator[cst.CSTNode]:
    """Like `_walk`, without entering nested `def`, `lambda` and `class` bodies."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            continue
        stack.extend(reversed(current.children))
