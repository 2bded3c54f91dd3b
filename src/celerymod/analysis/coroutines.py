"""Where code runs inside a coroutine, for the rules about blocking the event loop (CEL004,
and CEL006, which leaves waits in coroutines to CEL004)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

import libcst as cst


def is_coroutine(function: cst.FunctionDef) -> bool:
    """`async def`: its body runs on the event loop (its decorators and defaults do not)."""
    return function.asynchronous is not None


def poll_yields(loop: cst.While) -> bool:
    """Whether a polling loop gives the event loop a turn: an `await` (or `async for` /
    `async with`) in its condition or body, outside nested `def`, `lambda` and class bodies.
    One that never does freezes the loop until the result is ready."""
    for node in _runs_here(loop):
        if isinstance(node, cst.Await):
            return True
        if isinstance(node, cst.For | cst.With) and node.asynchronous is not None:
            return True
    return False


def _runs_here(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            stack.extend(current.children)


def left_to_cel003(
    loop: cst.While, qualified_names: Callable[[cst.CSTNode], Collection[str]], cel003: bool
) -> bool:
    """Whether a polling loop that never awaits is CEL003's to report: it calls `time.sleep`
    (resolved through imports) and CEL003 runs on the file. CEL003's fix, `await
    asyncio.sleep(...)`, is the fix for the poll too, and one finding is enough."""
    if not cel003:
        return False
    return any(
        isinstance(node, cst.Call) and "time.sleep" in qualified_names(node.func)
        for node in _runs_here(loop)
    )
