"""Where Python refuses `await`, read from a libcst tree.

The engine compiles fixed code before writing it, but only when the running Python can
compile the original: code with newer syntax (a `type` statement on Python 3.11) is checked
by libcst's parser alone, which accepts `await` anywhere. This walk finds the `await`s that
no Python compiles, so a fix that puts one there is refused instead of written.
"""

from __future__ import annotations

from typing import Literal

import libcst as cst

# Where an expression runs: a coroutine (or an async generator expression, which may await
# wherever it is), plain code, or a place every Python version refuses `await` in.
Where = Literal["async", "sync", "annotation", "type alias", "type parameter", "generic bases"]


def misplaced_awaits(module: cst.Module) -> list[str]:
    """`"<code> (in <place>)"` for every `await` outside a coroutine or where none is allowed.

    Annotations count as refusing `await` although Python 3.11 evaluates some of them in the
    enclosing coroutine: `from __future__ import annotations` and Python 3.14 refuse it.
    """
    found: list[str] = []
    _walk(module, "sync", module, found)
    return found


def _walk(node: cst.CSTNode, where: Where, module: cst.Module, found: list[str]) -> None:
    if isinstance(node, cst.Await) and where != "async":
        place = "a sync scope" if where == "sync" else f"a {where}"
        found.append(f"`{module.code_for_node(node)}` (in {place})")
    for child, child_where in _children(node, where):
        _walk(child, child_where, module, found)


def _children(node: cst.CSTNode, where: Where) -> list[tuple[cst.CSTNode, Where]]:
    """`node`'s children, each with where it runs."""
    refused = where not in ("async", "sync")
    if isinstance(node, cst.Annotation):
        return [(child, where if refused else "annotation") for child in node.children]
    if isinstance(node, cst.TypeAlias):
        return [(child, where if refused else "type alias") for child in node.children]
    if isinstance(node, cst.TypeParameters):
        return [(child, where if refused else "type parameter") for child in node.children]
    if isinstance(node, cst.FunctionDef):
        body: Where = "async" if node.asynchronous is not None else "sync"
        return [(child, body if child is node.body else where) for child in node.children]
    if isinstance(node, cst.Lambda):
        return [(child, "sync" if child is node.body else where) for child in node.children]
    if isinstance(node, cst.ClassDef):
        bases = {id(arg) for arg in (*node.bases, *node.keywords)}
        outer: Where = "generic bases" if node.type_parameters is not None else where
        return [
            (child, "sync" if child is node.body else outer if id(child) in bases else where)
            for child in node.children
        ]
    if isinstance(node, cst.GeneratorExp):
        # Only the first iterable runs where the expression is; an `await` anywhere else
        # makes it an async generator expression, which any scope may hold.
        first = node.for_in.iter
        inner: list[tuple[cst.CSTNode, Where]] = []
        for child in node.children:
            if child is node.for_in:
                inner.extend(
                    (c, where if c is first or refused else "async") for c in child.children
                )
            else:
                inner.append((child, where if refused else "async"))
        return inner
    return [(child, where) for child in node.children]
