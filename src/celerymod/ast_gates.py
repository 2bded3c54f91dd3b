"""Cheap `ast` gates: a second prefilter, after the byte patterns, before libcst.

Python's own `ast` parser is written in C and costs a few milliseconds a file, against
hundreds for libcst with scope and qualified-name metadata. A rule whose `RuleSpec.gate`
names one of `GATES` runs on a file only if that gate, looking at the file's `ast`, says the
rule may find something there. Each gate answers a wider question than its rule (names by
their text, no scopes, no imports followed), so it may say yes where the rule then finds
nothing, but never no where the rule would report: a gate is sound or it is a bug.
`tests/test_ast_gates.py` holds every gate to that over every fixture.

The file is parsed once for all its gates (`Gates`); a file `ast` cannot read (newer syntax,
broken code) passes every gate, and libcst decides and reports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

from celerymod.analysis.index import ProjectIndex, absolute_import, package_of

WAIT_METHODS = frozenset({"get", "wait", "join", "join_native", "collect"})
# What the condition of a loop polling a result reads (`CeleryModule.polls`): methods of a
# result that say whether it is finished, and its state fields.
POLL_METHODS = frozenset({"ready", "successful", "failed"})
POLL_FIELDS = frozenset({"state", "status"})
POLL_ATTRIBUTES = POLL_METHODS | POLL_FIELDS
# Handlers CEL008 reports catch one of these (or everything: a bare `except:`).
_CATCH_ALL = frozenset({"Exception", "BaseException"})

_Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Gates:
    """One file's gates. `task_decorators` is `[tool.celerymod] task-decorators`; `index`
    the project index, which says which functions of this module tasks call (in this
    module or from another one) and follows names other modules re-export."""

    text: str
    path: str = "<stdin>"
    module_name: str | None = None
    task_decorators: Sequence[str] = ()
    index: ProjectIndex | None = None

    def passes(self, gate: str) -> bool:
        """Whether the rules behind `gate` may report anything in this file."""
        if self.tree is None:
            return True
        answer = self._answers.get(gate)
        if answer is None:
            answer = self._answers[gate] = GATES[gate](self.tree, self)
        return answer

    @cached_property
    def _answers(self) -> dict[str, bool]:
        return {}

    @cached_property
    def tree(self) -> ast.Module | None:
        try:
            return ast.parse(self.text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None

    @cached_property
    def _configured(self) -> frozenset[str]:
        return frozenset(name.rsplit(".", 1)[-1] for name in self.task_decorators)

    def task_shaped(self, function: _Function) -> bool:
        return any(_task_shaped(d, self._configured) for d in function.decorator_list)

    @cached_property
    def helpers(self) -> frozenset[str]:
        if self.index is None:
            return frozenset()
        return self.index.reached_in(self.module_name)

    def local_names(self, tree: ast.Module, name: str) -> set[str]:
        """`name` and the local names an import binds to it: `from x import name as y`,
        and, through the project index, a name another module re-exports it under
        (`from .db import atomic_block` where `db` imports `atomic as atomic_block`)."""
        found = {name}
        package = package_of(self.module_name, self.path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = absolute_import("." * node.level + (node.module or ""), package, self.path)
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.name == name:
                    found.add(local)
                elif self.index is not None and module is not None:
                    if self.index.resolve(f"{module}.{alias.name}").rpartition(".")[2] == name:
                        found.add(local)
        return found


def waits_in_tasks(tree: ast.Module, gates: Gates) -> bool:
    """False only when no task, and no function a task may call, waits on anything: no
    `.get()`, `.wait()`, `.join()`, `.join_native()` or `.collect()` call, no `~`, no loop
    polling `x.ready()` / `x.state` / ..., no `allow_join_result`.

    Tasks are functions with a task-shaped decorator (a name holding `task`, or a configured
    one) and the `run` methods of classes with a base. A function a task may call is any
    `def` of the module whose name the task's code mentions, followed through such
    functions; or one the project index says a task reaches (`helpers`)."""
    by_name: dict[str, list[_Function]] = {}
    roots: list[_Function] = []
    for node in ast.walk(tree):
        if isinstance(node, _Function):
            by_name.setdefault(node.name, []).append(node)
            if gates.task_shaped(node):
                roots.append(node)
        elif isinstance(node, ast.ClassDef) and node.bases:
            # Task classes may derive from a base defined elsewhere: any class with `run`.
            roots += [
                item for item in node.body if isinstance(item, _Function) and item.name == "run"
            ]
    short = {name.rpartition(".")[2] for name in gates.helpers}
    roots += [f for name in short for f in by_name.get(name, ())]
    seen: set[int] = set()
    while roots:
        function = roots.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        if _waits(function):
            return True
        roots += [f for name in _mentioned(function) for f in by_name.get(name, ())]
    return False


def catches_in_tasks(tree: ast.Module, gates: Gates) -> bool:
    """False only when no task's body (a function with a task-shaped decorator, or a `run`
    method) has a catch-all handler: a bare `except:`, or one whose type names `Exception`
    or `BaseException` (alone or in a tuple). CEL008 reports nothing else."""
    if _imports_from(tree, "builtins"):
        return True  # `from builtins import Exception as E`: names are no longer enough.
    for node in ast.walk(tree):
        if isinstance(node, _Function) and (node.name == "run" or gates.task_shaped(node)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ExceptHandler) and _catches_all(inner):
                    return True
    return False


def dispatch_in_atomic(tree: ast.Module, gates: Gates) -> bool:
    """False only when no call sits inside a `with` whose context manager is named
    `atomic` (or an imported alias of it), nor in a function decorated with it: where
    CEL005 looks for dispatches."""
    atomic = gates.local_names(tree, "atomic")
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith):
            if any(_named(item.context_expr, atomic) for item in node.items):
                if any(_calls(statement) for statement in node.body):
                    return True
        elif isinstance(node, _Function):
            if any(_named(d, atomic) for d in node.decorator_list):
                if any(_calls(statement) for statement in node.body):
                    return True
    return False


def keys_over_results(tree: ast.Module, gates: Gates) -> bool:
    """False only when no `.keys(pattern)` call may cover Celery's result keys: every
    pattern CEL007 reports contains `celery` (`celery-task-meta-*`, `celery*`), so a
    string literal without it is ruled out; anything else (a name, an f-string, a `+`)
    may hold one."""
    for node in ast.walk(tree):
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


def crontab_calls(tree: ast.Module, gates: Gates) -> bool:
    """False only when nothing named `crontab` (or an imported alias of it) is called with
    an argument: `crontab()` sets no field and is every minute on purpose."""
    names = gates.local_names(tree, "crontab")
    return any(
        isinstance(node, ast.Call) and (node.args or node.keywords) and _named(node.func, names)
        for node in ast.walk(tree)
    )


def sleep_in_coroutines(tree: ast.Module, gates: Gates) -> bool:
    """False only when no `async def` calls anything named `sleep` (or an imported alias
    of it): where CEL003 looks for `time.sleep`."""
    names = gates.local_names(tree, "sleep")
    return any(
        isinstance(inner, ast.Call) and _named(inner.func, names)
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    )


def waits_in_coroutines(tree: ast.Module, gates: Gates) -> bool:
    """False only when no `async def` waits on anything (`_waits`): where CEL004 looks."""
    return any(isinstance(node, ast.AsyncFunctionDef) and _waits(node) for node in ast.walk(tree))


GATES: dict[str, Callable[[ast.Module, Gates], bool]] = {
    "waits-in-tasks": waits_in_tasks,
    "catches-in-tasks": catches_in_tasks,
    "dispatch-in-atomic": dispatch_in_atomic,
    "keys-over-results": keys_over_results,
    "crontab-calls": crontab_calls,
    "sleep-in-coroutines": sleep_in_coroutines,
    "waits-in-coroutines": waits_in_coroutines,
}


def _task_shaped(decorator: ast.expr, configured: Collection[str]) -> bool:
    for node in ast.walk(decorator):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and ("task" in name.lower() or name in configured):
            return True
    return False


def _waits(function: _Function) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WAIT_METHODS:
                return True
        elif isinstance(node, ast.Attribute) and node.attr in WAIT_METHODS:
            return True  # A wait method bound to a name first: `j = res.join`, `j()`.
        elif (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.Invert)
            or isinstance(node, ast.While)
            and _polls(node.test)
        ):
            return True
        elif isinstance(node, ast.Name | ast.Attribute):
            if (node.id if isinstance(node, ast.Name) else node.attr) == "allow_join_result":
                return True
    return False


def _mentioned(function: _Function) -> set[str]:
    """Every name and attribute the function's code mentions: a call of a helper
    (`helper(x)`, `utils.helper(x)`, `self.helper(x)`) or a helper passed on (`map(f, xs)`)."""
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


def _polls(test: ast.expr) -> bool:
    """A `while` condition that may poll a result: `res.ready()`, `res.state`, ..."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in POLL_ATTRIBUTES:
            return True
    return False


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


def _calls(node: ast.AST) -> bool:
    return any(isinstance(inner, ast.Call) for inner in ast.walk(node))


def _imports_from(tree: ast.Module, module: str) -> bool:
    return any(
        (isinstance(node, ast.ImportFrom) and node.module == module)
        or (isinstance(node, ast.Import) and any(a.name == module for a in node.names))
        for node in ast.walk(tree)
    )
