"""A second, cheap prefilter for rules that only look at waits inside tasks (`in_tasks`).

Python's own `ast` parser is written in C and costs a few milliseconds a file, against
hundreds for libcst with scope and qualified-name metadata. A file with no task that could
wait on a result (no function with a task-shaped decorator, no class with a `run` method,
whose body calls `.get()`, `.wait()`, `.join()`, `.join_native()` or `.collect()`, inverts a
signature with `~`, loops while `x.ready()` / `x.state` / ..., or enters
`allow_join_result()`) gives those rules nothing to report, so
libcst never sees it. Test suites define many tasks that wait on nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence

WAIT_METHODS = frozenset({"get", "wait", "join", "join_native", "collect"})
# What the condition of a loop polling a result reads (`CeleryModule.polls`): methods of a
# result that say whether it is finished, and its state fields.
POLL_METHODS = frozenset({"ready", "successful", "failed"})
POLL_FIELDS = frozenset({"state", "status"})
POLL_ATTRIBUTES = POLL_METHODS | POLL_FIELDS


def may_wait_in_task(
    text: str, task_decorators: Sequence[str] = (), helpers: Collection[str] = ()
) -> bool:
    """False only when `text` certainly has no task that waits, and no helper a task calls
    that waits (True if unsure). `helpers` are the `__qualname__`s of this module's
    functions that the project index says tasks call; a function in a module with a task
    may be called by it, so it counts too."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # Newer syntax or broken code: libcst decides and reports.
    configured = {name.rsplit(".", 1)[-1] for name in task_decorators}
    short = {name.rpartition(".")[2] for name in helpers}
    has_task = other_waits = False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_task_shaped(d, configured) for d in node.decorator_list):
                has_task = True
                if _waits(node):
                    return True
            elif _waits(node):
                if node.name in short:
                    return True
                other_waits = True
        elif isinstance(node, ast.ClassDef) and node.bases:
            # Task classes may derive from a base defined elsewhere: any class with `run`.
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "run" and _waits(item):
                    return True
    return has_task and other_waits


def may_catch_in_task(text: str, task_decorators: Sequence[str] = ()) -> bool:
    """False only when `text` certainly has no task whose body handles an exception (an
    `except` in a function with a task-shaped decorator, or in a `run` method): CEL008 has
    nothing to look at there (True if unsure)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    configured = {name.rsplit(".", 1)[-1] for name in task_decorators}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            node.name == "run" or any(_task_shaped(d, configured) for d in node.decorator_list)
        ):
            if any(isinstance(inner, ast.ExceptHandler) for inner in ast.walk(node)):
                return True
    return False


def _task_shaped(decorator: ast.expr, configured: set[str]) -> bool:
    for node in ast.walk(decorator):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and ("task" in name.lower() or name in configured):
            return True
    return False


def _waits(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WAIT_METHODS:
                return True
        elif isinstance(node, ast.Attribute) and node.attr in WAIT_METHODS:
            return True  # A wait method bound to a name first: `j = res.join`, `j()`.
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return True
        elif isinstance(node, ast.While) and _polls(node.test):
            return True
        elif isinstance(node, ast.Name | ast.Attribute):
            if (node.id if isinstance(node, ast.Name) else node.attr) == "allow_join_result":
                return True
    return False


def _polls(test: ast.expr) -> bool:
    """A `while` condition that may poll a result: `res.ready()`, `res.state`, ..."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in POLL_ATTRIBUTES:
            return True
    return False
