"""# CEL008 swallowed-task-failure

## What it does
Finds, in the body of a Celery task (the same tasks CEL001 looks into: `@shared_task`,
`@<app>.task`, configured `task-decorators`, the `run` of a `celery.Task` subclass, names
resolved through imports), an `except Exception:`, `except BaseException:` or bare `except:`
handler (also a tuple that holds one of them) that does not end by raising: it returns a
value (`return {"status": "error", ...}`, a bare `return`) or falls through to the code
after the `try`.

Fine, and not reported: a handler that re-raises after cleanup (`raise`), raises another
exception (`raise TaskError(...) from exc`), or retries (`raise self.retry(exc=exc)`,
`return self.retry(...)`, or a plain `self.retry(...)` statement: `retry` raises unless
called with `throw=False`), including when every branch of an `if` / `else` inside the
handler does so. A handler for a specific exception (`except KeyError:`) is a decision the
code made, not a swallowed failure. Inside a loop of the task, a handler that falls
through or `continue`s to the next item is a per-item policy and is not reported; one
that `return`s from the task is.

Not looked into: nested `def`, `lambda` and class bodies in a task (they run only if
called), and functions that are not tasks (a helper's `except` may be handled by its
caller).

## Why is this bad?
Celery decides a task's state from how its body ends: by returning, the task is
`SUCCESS`, whatever the returned value says. A task that catches every exception and
returns `{"status": "error"}` is recorded as successful: `autoretry_for` and
`self.retry` never fire, `link_error` callbacks and `task_failure` signals never run, a
chord's callback runs with the error dict as if it were a result, and monitoring
(Flower, result backends, alerting on `FAILURE`) stays green.

## Example
```python
from celery import shared_task

@shared_task
def sync_inventory(shop_id):
    try:
        return push_inventory(shop_id)
    except Exception as exc:
        logger.exception("sync failed")
        return {"status": "error", "error": str(exc)}  # CEL008: recorded as SUCCESS
```

## Use instead
```python
from celery import shared_task

@shared_task(bind=True, max_retries=3)
def sync_inventory(self, shop_id):
    try:
        return push_inventory(shop_id)
    except Exception as exc:
        logger.exception("sync failed")
        raise self.retry(exc=exc)  # or a plain `raise` after the cleanup
```

## Fix safety
There is no fix: whether the caller should see a failure, a retry, or a value is the
author's decision, and each changes what the task's callers receive. The finding only
reports the handler.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst
from libcst.metadata import QualifiedNameProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA
from celerymod.transforms.base import Checker as BaseChecker

# Handlers of these catch whatever the task body raises.
_CATCH_ALL = frozenset({"builtins.Exception", "builtins.BaseException"})
_WHY = "Celery records the task as SUCCESS"
_HELP = (
    "re-raise after the cleanup (`raise`) or `raise self.retry(exc=exc)`: retries, "
    "`link_error` and failure alerts never see a swallowed error"
)


class Checker(BaseChecker):
    CODE = "CEL008"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        celery = CeleryModule.from_context(node, self.metadata, self.context)
        for task in celery.tasks:
            for handler, in_loop in _handlers(task.function.body, in_loop=False):
                if not self._catches_all(handler):
                    continue
                message = self._message(task, handler, in_loop)
                if message is not None:
                    self.report(handler, message, help=_HELP)

    def _catches_all(self, handler: cst.ExceptHandler) -> bool:
        if handler.type is None:
            return True
        types = handler.type.elements if isinstance(handler.type, cst.Tuple) else None
        candidates = [e.value for e in types] if types is not None else [handler.type]
        return any(self._qualified(c) & _CATCH_ALL for c in candidates)

    def _qualified(self, node: cst.BaseExpression) -> set[str]:
        # Builtins come back as `builtins.Exception`; a class of the module that shadows
        # the name resolves to that class instead and is not a catch-all.
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

    def _message(self, task: Task, handler: cst.ExceptHandler, in_loop: bool) -> str | None:
        retriers = _retriers(task)
        what = _handler_text(handler)
        returns = [r for r in _returns(handler.body) if not _is_retry(r.value, retriers)]
        if returns:
            return f"`{what}` in task `{task.name}` returns instead of raising: {_WHY}"
        if in_loop or _terminates(_block(handler.body), retriers):
            return None
        return f"`{what}` in task `{task.name}` falls through instead of raising: {_WHY}"


def _handler_text(handler: cst.ExceptHandler) -> str:
    if handler.type is None:
        return "except:"
    return f"except {describe(handler.type, 40)}:"


def _retriers(task: Task) -> frozenset[str]:
    """Names whose `.retry(...)` retries this task: `self` of a bound or class-based task,
    and the task's own name (`my_task.retry(...)` works inside the task too)."""
    names = {task.function.name.value}
    params = [*task.function.params.posonly_params, *task.function.params.params]
    if params and (task.definition.bind or task.class_node is not None):
        names.add(params[0].name.value)
    if task.class_node is not None:
        names.discard(task.function.name.value)  # `run` is not the task's name.
    return frozenset(names)


def _is_retry(node: cst.BaseExpression | None, retriers: frozenset[str]) -> bool:
    """`self.retry(...)` without `throw=False` (with it, `retry` returns instead of raising)."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return False
    base = node.func.value
    if node.func.attr.value != "retry" or not isinstance(base, cst.Name):
        return False
    if base.value not in retriers:
        return False
    throw = next((a for a in node.args if a.keyword and a.keyword.value == "throw"), None)
    return throw is None or (isinstance(throw.value, cst.Name) and throw.value.value == "True")


def _terminates(statements: Sequence[cst.BaseStatement], retriers: frozenset[str]) -> bool:
    """True when running `statements` cannot reach their end: some statement raises (or
    retries) on every path. `continue` / `break` leave the handler too, into the loop."""
    return any(_statement_terminates(s, retriers) for s in statements)


def _statement_terminates(statement: cst.BaseStatement, retriers: frozenset[str]) -> bool:
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            # A `return` other than `return self.retry(...)` is reported before this runs.
            if isinstance(small, cst.Raise | cst.Return | cst.Continue | cst.Break):
                return True
            if isinstance(small, cst.Expr) and _is_retry(small.value, retriers):
                return True
        return False
    if isinstance(statement, cst.If):
        if statement.orelse is None:
            return False
        otherwise: cst.BaseStatement
        if isinstance(statement.orelse, cst.If):
            otherwise = statement.orelse
            rest = _statement_terminates(otherwise, retriers)
        else:
            rest = _terminates(_block(statement.orelse.body), retriers)
        return rest and _terminates(_block(statement.body), retriers)
    if isinstance(statement, cst.With):
        return _terminates(_block(statement.body), retriers)
    if isinstance(statement, cst.Try):
        if statement.finalbody is not None and _terminates(
            _block(statement.finalbody.body), retriers
        ):
            return True
        return _terminates(_block(statement.body), retriers) and all(
            _terminates(_block(h.body), retriers) for h in statement.handlers
        )
    return False


def _block(suite: cst.BaseSuite) -> Sequence[cst.BaseStatement]:
    if isinstance(suite, cst.IndentedBlock):
        return suite.body
    assert isinstance(suite, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=suite.body)]


def _returns(node: cst.CSTNode) -> Iterator[cst.Return]:
    """Every `return` under `node`, outside nested `def`, `lambda` and class bodies."""
    for child in node.children:
        if isinstance(child, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            continue
        if isinstance(child, cst.Return):
            yield child
        yield from _returns(child)


def _handlers(node: cst.CSTNode, *, in_loop: bool) -> Iterator[tuple[cst.ExceptHandler, bool]]:
    """Every `except` handler of the task body, with whether it sits in a loop of the task.

    A `for`/`while` `else` block runs once, after the loop: it is not inside the loop."""
    for child in node.children:
        if isinstance(child, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            continue
        inner = in_loop
        if isinstance(node, cst.For | cst.While) and child is node.body:
            inner = True
        if isinstance(child, cst.ExceptHandler):
            yield child, inner
        yield from _handlers(child, in_loop=inner)
