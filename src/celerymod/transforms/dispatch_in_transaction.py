"""# CEL005 dispatch-in-transaction

## What it does
Finds Celery dispatches (`task.delay(...)`, `task.apply_async(...)`, `app.send_task(...)`,
a signature's or canvas's `.delay()` / `.apply_async()`; the same analysis CEL001 uses
decides what is a dispatch) that run inside a Django database transaction:

- in the body of `with transaction.atomic():` (also `atomic(using=...)`, `durable=True`,
  and a `with` holding other context managers too);
- in a function decorated `@transaction.atomic` or `@transaction.atomic(...)`.

`atomic` is Django's `django.db.transaction.atomic`, resolved through imports (`from
django.db import transaction`, `from django.db.transaction import atomic as in_tx`); an
`atomic` from another library is not it.

Not findings: a dispatch deferred to the commit (`transaction.on_commit(lambda:
t.delay(x))`, `transaction.on_commit(partial(t.delay, x))`, `t.delay_on_commit(x)`), and
any dispatch in a nested `def`, `lambda` or class body (it runs only when called).

This first version only reports: it has no fix yet. Not detected: views that run in a
transaction because the settings say `ATOMIC_REQUESTS = True` (that needs the settings
and the URL configuration), a dispatch in a function called from inside the transaction,
`transaction.atomic` entered by hand (`__enter__`), and module-level code.

## Why is this bad?
The broker is not part of the database transaction. The message can reach a worker
before the transaction commits: the task looks up the row that was just written and does
not find it (`DoesNotExist`), or reads the old values. If the transaction rolls back, the
task still runs, for a row that never existed, and sends the e-mail or charges the card
anyway.

## Example
```python
from django.db import transaction

from shop.tasks import send_confirmation

def place_order(cart):
    with transaction.atomic():
        order = Order.objects.create(cart=cart)
        send_confirmation.delay(order.pk)
```

## Use instead
```python
import functools

from django.db import transaction

from shop.tasks import send_confirmation

def place_order(cart):
    with transaction.atomic():
        order = Order.objects.create(cart=cart)
        transaction.on_commit(functools.partial(send_confirmation.delay, order.pk))
```
With Celery 5.4 or newer and its Django integration, `send_confirmation.delay_on_commit(
order.pk)` does the same. Use `functools.partial`, not a `lambda` over a loop variable:
the lambda would read the variable when the transaction commits, after the loop ended.

## Fix safety
There is no fix yet; the finding only reports the dispatch. A rewrite to `on_commit` would
change behaviour on purpose (the task runs after the commit, and never on rollback), and it
is not possible where the code uses the dispatch's return value (`on_commit` returns
nothing, so there is no `AsyncResult` to keep).
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA, CallForm, OriginKind
from celerymod.transforms.base import Checker as BaseChecker

ATOMIC = frozenset({"django.db.transaction.atomic"})
# `apply()` runs the task in-process, inside the transaction: no broker, no race.
_DISPATCHES = frozenset(
    {CallForm.DELAY, CallForm.APPLY_ASYNC, CallForm.SEND_TASK, CallForm.CALL}
)
_HELP = (
    "dispatch on commit: `transaction.on_commit(functools.partial(task.delay, ...))`, or "
    "`task.delay_on_commit(...)` (Celery 5.4+)"
)


class Checker(BaseChecker):
    CODE = "CEL005"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        self.celery = CeleryModule.from_context(node, self.metadata, self.context)
        for function in self.celery.every_function:
            decorated = any(self._is_atomic(d.decorator) for d in function.function.decorators)
            where = "a function decorated `@transaction.atomic`" if decorated else None
            self._visit(function.function.body, function, where)

    def _visit(self, node: cst.CSTNode, function: Task, where: str | None) -> None:
        """Walk `node` (not into nested `def`, `lambda` and class bodies), `where` naming
        the transaction the code runs in, if any."""
        for child in node.children:
            if isinstance(child, cst.FunctionDef | cst.Lambda | cst.ClassDef):
                continue
            if isinstance(child, cst.Call) and where is not None:
                self._check_call(child, function, where)
            if isinstance(child, cst.With) and any(
                self._is_atomic(item.item) for item in child.items
            ):
                # The context managers are entered before the transaction starts.
                for item in child.items:
                    self._visit(item, function, where)
                self._visit(child.body, function, "`with transaction.atomic()`")
                continue
            self._visit(child, function, where)

    def _check_call(self, call: cst.Call, function: Task, where: str) -> None:
        origin = self.celery.result_origin(call, function)
        if origin is None or origin.kind is not OriginKind.DISPATCH:
            return
        if origin.form not in _DISPATCHES:
            return
        self.report(
            call,
            f"`{describe(call)}` is sent inside {where} in `{function.name}`: the worker may "
            "run it before the commit, or for a rolled-back row",
            help=_HELP,
        )

    def _is_atomic(self, node: cst.BaseExpression) -> bool:
        target = node.func if isinstance(node, cst.Call) else node
        return bool(self.celery.dotted_names(target) & ATOMIC)
