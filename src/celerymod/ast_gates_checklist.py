"""The `ast` gates of the review-checklist rules (CEL003, CEL005, CEL007, CEL008, CEL009):
each a necessary condition of its rule, as `ast_gates` explains; `ast_gates.GATES` names
them. Kept apart from the gates of the task-wait rules, which need the project index.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from typing import Protocol

_Function = ast.FunctionDef | ast.AsyncFunctionDef


class Gates(Protocol):
    """What these gates read of a file's `ast_gates.Gates` (named so, not imported: the
    gates registry imports this module)."""

    @property
    def nodes(self) -> list[ast.AST]: ...

    def task_shaped(self, function: _Function) -> bool: ...

    def local_names(self, name: str) -> set[str]: ...


# Handlers CEL008 reports catch one of these (or everything: a bare `except:`).
_CATCH_ALL = frozenset({"Exception", "BaseException"})

# Calls that send a task; what makes a signature or a canvas, which a call sends too.
_SENDS = frozenset({"delay", "apply_async", "send_task"})
_SIGNATURE_METHODS = frozenset({"s", "si", "signature", "subtask", "map", "starmap", "chunks"})
_CANVAS_NAMES = frozenset(
    {"group", "chain", "chord", "signature", "subtask", "chunks", "Signature", "maybe_signature"}
)


def catches_in_tasks(gates: Gates) -> bool:
    """False only when no task's body (a function with a task-shaped decorator, or a `run`
    method) has a catch-all handler: a bare `except:`, or one whose type names `Exception`
    or `BaseException` (alone or in a tuple). CEL008 reports nothing else."""
    if _imports_from(gates.nodes, "builtins"):
        return True  # `from builtins import Exception as E`: names are no longer enough.
    for node in gates.nodes:
        if isinstance(node, _Function) and (node.name == "run" or gates.task_shaped(node)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ExceptHandler) and _catches_all(inner):
                    return True
    return False


def dispatch_in_atomic(gates: Gates) -> bool:
    """False only when nothing that may send a task sits inside a `with` whose context
    manager is named `atomic` (or an imported alias of it), nor in a function decorated
    with it: where CEL005 looks. A send is a `.delay(...)`, `.apply_async(...)` or
    `.send_task(...)`, or a called signature or canvas (`group(...)()`, `sig()`); only a
    file that makes signatures or canvases (`.s(`, `group`, `signature`, ...) has those."""
    atomic = gates.local_names("atomic")
    canvases = any(
        (isinstance(node, ast.Attribute) and node.attr in _SIGNATURE_METHODS)
        or (isinstance(node, ast.Name) and node.id in _CANVAS_NAMES)
        or (isinstance(node, ast.alias) and node.name in _CANVAS_NAMES)
        for node in gates.nodes
    )
    for node in gates.nodes:
        if isinstance(node, ast.With | ast.AsyncWith):
            held = any(_named(item.context_expr, atomic) for item in node.items)
        elif isinstance(node, _Function):
            held = any(_named(d, atomic) for d in node.decorator_list)
        else:
            continue
        if held and any(_sends(statement, canvases) for statement in node.body):
            return True
    return False


def keys_over_results(gates: Gates) -> bool:
    """False only when no `.keys(pattern)` call may cover Celery's result keys: every
    pattern CEL007 reports contains `celery` (`celery-task-meta-*`, `celery*`), so a
    string literal without it is ruled out; anything else (a name, an f-string, a `+`)
    may hold one."""
    for node in gates.nodes:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys"
        ):
            continue
        first = (
            node.args[0]
            if node.args
            else next((k.value for k in node.keywords if k.arg == "pattern"), None)
        )
        if first is None:
            continue
        if isinstance(first, ast.Constant):
            if isinstance(first.value, str | bytes) and "celery" in str(first.value):
                return True
        else:
            return True
    return False


def crontab_calls(gates: Gates) -> bool:
    """False only when no call of something named `crontab` (or an imported alias of it)
    may set a larger field without a smaller one it needs: CEL009's own test
    (`crontab_missing_fields`), on the fields the call spells out. A call that may pass
    more than it spells (`*args`, `**options` other than a dict literal) may report."""
    names = gates.local_names("crontab")
    return any(
        isinstance(node, ast.Call) and _named(node.func, names) and _may_lack_fields(node)
        for node in gates.nodes
    )


# `crontab`'s positional order, and the smaller fields each larger one needs (CEL009).
_CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
_CRONTAB_NEEDS = {"hour": frozenset({"minute"})} | dict.fromkeys(
    _CRONTAB_FIELDS[2:], frozenset({"minute", "hour"})
)


def _may_lack_fields(call: ast.Call) -> bool:
    given: dict[str, ast.expr] = {}
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return True
        if position < len(_CRONTAB_FIELDS):
            given[_CRONTAB_FIELDS[position]] = arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            given[keyword.arg] = keyword.value
            continue
        pairs = _literal_pairs(keyword.value)
        if pairs is None:
            return True
        given.update(pairs)
    star = {name for name, value in given.items() if _constant(value) == "*"}
    set_fields = [f for f in _CRONTAB_FIELDS[1:] if f in given and f not in star]
    return any(_CRONTAB_NEEDS[f] - given.keys() for f in set_fields)


def _literal_pairs(node: ast.expr) -> dict[str, ast.expr] | None:
    """`{"a": x}` or `dict(a=x)` by key; None when a key is not a string literal."""
    if isinstance(node, ast.Dict):
        keys = [_constant(key) if key is not None else None for key in node.keys]
        if not all(isinstance(key, str) for key in keys):
            return None
        return {str(key): value for key, value in zip(keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(k.arg is None for k in node.keywords):
            return None
        return {str(k.arg): k.value for k in node.keywords}
    return None


def _constant(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def sleep_in_coroutines(gates: Gates) -> bool:
    """False only when no `async def` calls `time.sleep`: through a name `import time`
    binds (`time.sleep`, `t.sleep` after `import time as t`) or one `from time import
    sleep` binds (`sleep`, `nap`). CEL003 resolves names the same way (libcst's qualified
    names, which follow imports but not assignments)."""
    modules: set[str] = set()
    functions: set[str] = set()
    for node in gates.nodes:
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time" and not node.level:
            functions |= {a.asname or a.name for a in node.names if a.name == "sleep"}
    if not modules and not functions:
        return False

    def sleeps(call: ast.expr) -> bool:
        if not isinstance(call, ast.Call):
            return False
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in functions
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id in modules
        )

    return any(
        sleeps(inner)
        for node in gates.nodes
        if isinstance(node, ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.expr)
    )


def _catches_all(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    return any(
        (node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)) in _CATCH_ALL
        for node in ast.walk(handler.type)
    )


def _named(node: ast.expr, names: Collection[str]) -> bool:
    """Whether `node` (or the function it calls) is a name or attribute spelled as one of
    `names`: `atomic`, `transaction.atomic`, `atomic(using="x")`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id in names
    return isinstance(node, ast.Attribute) and node.attr in names


def _sends(node: ast.AST, canvases: bool) -> bool:
    """Whether `node` holds a call that may send a task (see `dispatch_in_atomic`)."""
    for inner in ast.walk(node):
        if not isinstance(inner, ast.Call):
            continue
        func = inner.func
        if isinstance(func, ast.Attribute) and func.attr in _SENDS:
            return True
        if canvases or isinstance(func, ast.Call):
            return True
    return False


def _imports_from(nodes: Sequence[ast.AST], module: str) -> bool:
    return any(
        (isinstance(node, ast.ImportFrom) and node.module == module)
        or (isinstance(node, ast.Import) and any(a.name == module for a in node.names))
        for node in nodes
    )
