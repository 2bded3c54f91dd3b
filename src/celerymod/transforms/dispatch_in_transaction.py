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
t.delay(x))`, `transaction.on_commit(partial(t.delay, x))`, `t.delay_on_commit(x)`),
`t.apply(...)` and a called signature (`t.s(x)()`), which run the task in this process,
inside the transaction, and any dispatch in a nested `def`, `lambda` or class body (it
runs only when called).

The fix defers a dispatch that is a statement of its own to the commit:
`send.delay(a, k=v)` becomes `transaction.on_commit(functools.partial(send.delay, a,
k=v))`, every argument and option kept (`apply_async(args=..., countdown=...)`,
`send_task("name", ...)`); a dispatch without arguments needs no `partial`:
`group(...).apply_async()` becomes `transaction.on_commit(group(...).apply_async)`, and
`chain(...)()` becomes `transaction.on_commit(chain(...))`. It is reported without a fix
when:

- the dispatch's value is used (assigned, returned, passed on, `.id` read): `on_commit`
  returns nothing, so there would be no `AsyncResult` to use;
- the transaction names its database with an expression (`atomic(using=db)`, `**options`):
  `on_commit` must hook the same database, and the expression could mean another one by
  the time the dispatch runs;
- it runs inside transactions on two databases (`atomic()` around `atomic(using="other")`):
  `on_commit` waits for one of them, and which one the task needs is not in the code;
- the names the fix needs are bound to something else there (a parameter `transaction`).

Not detected: views that run in a transaction because the settings say `ATOMIC_REQUESTS =
True` (that needs the settings and the URL configuration), a dispatch in a function called
from inside the transaction, `transaction.atomic` entered by hand (`__enter__`), and
module-level code.

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
Use `functools.partial`, not a `lambda` over a loop variable: the lambda would read the
variable when the transaction commits, after the loop ended; `partial` binds the value it
has now. The fix spells `on_commit` and `partial` the way the code already imports them
(`from django.db import transaction as tx` gives `tx.on_commit`, a function's own import
included; a module that imports `from django.db.transaction import atomic` gets `from
django.db.transaction import on_commit`; `from functools import partial` gives
`partial`), and adds the imports it needs. Under `atomic(using="other")` it passes `using="other"` to `on_commit`: without
it, the callback would wait for the default database's transaction instead.

With Celery 5.4 or newer and its Django integration, `send_confirmation.delay_on_commit(
order.pk)` does the same on the default database. The fix does not write it: the method
exists only on `celery.contrib.django.task.DjangoTask`, and a task is one only when its
app was created with Celery >= 5.4 while `DJANGO_SETTINGS_MODULE` was set (the Django
fixup then makes it the app's `task_cls`) and nothing overrides it (`task_cls=`,
`base=`). Neither the installed Celery nor the class a task gets at run time can be
proven from the source, and `delay_on_commit` takes no `using`.

## Fix safety
The fix is `review`: it changes when the task is sent, on purpose, and that shows in
places the code around it may rely on:

- the task is sent only when the outermost `atomic` block commits (a savepoint that rolls
  back drops it), and never when the transaction rolls back: that is the point;
- Django's `TestCase` runs every test inside a transaction that it rolls back, so
  `on_commit` callbacks never run there unless the test uses
  `self.captureOnCommitCallbacks(execute=True)`: a test that expected the task to be sent
  (a mocked `delay`, an eager task's effect) fails after the fix;
- under `task_always_eager` the task used to run inline, inside the transaction (seeing
  its uncommitted rows); now it runs at the commit, after the block's remaining code;
- a broker error used to raise inside the block and roll the transaction back; now the
  data is committed first and the error is raised from the outermost `atomic` exit
  (`on_commit` without `robust=True`), the remaining callbacks skipped, and an `except`
  around the dispatch no longer sees it;
- `partial` evaluates the callable and the arguments where the dispatch was, but they are
  serialised at the commit: a list or dict changed later in the transaction is sent as
  changed, and a `group` built from a generator consumes it then;
- deferred dispatches are sent in the order they were registered, after any dispatch of
  the block that was left in place (one whose value is used).

A dispatch whose value is used, a database named by an expression, and transactions on
two databases are reported without a fix (see above); the finding's message says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from libcst.metadata import ScopeProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA, CallForm, Canvas, OriginKind
from celerymod.model import Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix
from celerymod.transforms.dispatch_in_transaction_fix import (
    Spelling,
    callback,
    first_usable,
    on_commit_call,
    on_commit_spellings,
    partial_spellings,
    visible_imports,
)

ATOMIC = frozenset({"django.db.transaction.atomic"})
# `apply()` runs the task in-process, inside the transaction: no broker, no race.
_DISPATCHES = frozenset(
    {CallForm.DELAY, CallForm.APPLY_ASYNC, CallForm.SEND_TASK, CallForm.CALL}
)
# Calling a task or a signature (`t.s(x)()`) runs it here, in this process
# (`Signature.__call__`), like `apply()`; a called group, chain or chord is sent.
_IN_PROCESS = frozenset({Canvas.TASK, Canvas.SIGNATURE})
_HELP = (
    "dispatch on commit: `transaction.on_commit(functools.partial(task.delay, ...))`, or "
    "`task.delay_on_commit(...)` (Celery 5.4+)"
)
# The database `atomic()` and `atomic(using=None)` use, as a literal "default" names it.
_DEFAULT = "default"


@dataclass(frozen=True)
class Atomic:
    """A transaction the code runs in: a `with transaction.atomic(...)` block or the
    `@transaction.atomic` decorator of the function."""

    where: str  # for messages: "`with transaction.atomic()`"
    using: cst.BaseExpression | None  # the database it names; None: the default one


@dataclass(frozen=True)
class Database:
    """The one database every enclosing transaction names, or why there is none."""

    using: cst.BaseExpression | None = None  # what to pass to `on_commit` (None: nothing)
    problem: str | None = None


class Checker(BaseChecker):
    CODE = "CEL005"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        self.celery = CeleryModule.from_context(node, self.metadata, self.context)
        for function in self.celery.every_function:
            decorators = [
                Atomic("a function decorated `@transaction.atomic`", _using(d.decorator))
                for d in function.function.decorators
                if self._is_atomic(d.decorator)
            ]
            self._visit(function.function.body, function, tuple(decorators))

    def _visit(self, node: cst.CSTNode, function: Task, atomics: tuple[Atomic, ...]) -> None:
        """Walk `node` (not into nested `def`, `lambda` and class bodies), `atomics` the
        transactions the code runs in, outermost first."""
        for child in node.children:
            if isinstance(child, cst.FunctionDef | cst.Lambda | cst.ClassDef):
                continue
            if isinstance(child, cst.Call) and atomics:
                self._check_call(child, function, atomics)
            if isinstance(child, cst.With) and any(
                self._is_atomic(item.item) for item in child.items
            ):
                # The context managers are entered before the transaction starts.
                for item in child.items:
                    self._visit(item, function, atomics)
                inner = tuple(
                    Atomic("`with transaction.atomic()`", _using(item.item))
                    for item in child.items
                    if self._is_atomic(item.item)
                )
                self._visit(child.body, function, atomics + inner)
                continue
            self._visit(child, function, atomics)

    def _check_call(self, call: cst.Call, function: Task, atomics: tuple[Atomic, ...]) -> None:
        origin = self.celery.result_origin(call, function)
        if origin is None or origin.kind is not OriginKind.DISPATCH:
            return
        if origin.form not in _DISPATCHES:
            return
        if origin.form is CallForm.CALL and origin.canvas in _IN_PROCESS:
            return
        message = (
            f"`{describe(call)}` is sent inside {atomics[-1].where} in `{function.name}`: the "
            "worker may run it before the commit, or for a rolled-back row"
        )
        fix, problem = self._fix(call, atomics)
        if problem is not None:
            message = f"{message}; not fixed: {problem}"
        self.report(call, message, fix=fix, help=_HELP)

    def _fix(self, call: cst.Call, atomics: tuple[Atomic, ...]) -> tuple[Fix | None, str | None]:
        """The fix for the dispatch `call`, or why there is none."""
        parent = self.celery.parent(call)
        if not (isinstance(parent, cst.Expr) and parent.value is call):
            return None, (
                "its return value is used, and `on_commit` returns nothing (there would be "
                "no result to use)"
            )
        database = _database(atomics)
        if database.problem is not None:
            return None, database.problem
        scope = self.get_metadata(ScopeProvider, call, None)
        aliases = visible_imports(scope)
        on_commit = first_usable(on_commit_spellings(aliases), scope)
        if on_commit is None:
            return None, "`transaction` is bound to something else here"
        partial = first_usable(partial_spellings(aliases), scope) if call.args else None
        if call.args and partial is None:
            return None, "`functools` is bound to something else here"
        return self._deferred(call, on_commit, partial, database), None

    def _deferred(
        self, call: cst.Call, on_commit: Spelling, partial: Spelling | None, database: Database
    ) -> Fix:
        deferred = callback(call, partial)
        shown = describe(call.func)
        if partial is not None:
            shown = f"{partial.expression}({shown}, ...)"
        where = "" if database.using is None else f" on `{_text(database.using)}`"
        return Fix(
            message=(
                f"Send it on commit: `{on_commit.expression}({shown})`: the task is sent "
                f"only once the outermost transaction{where} commits, and never if it rolls "
                "back (under Django's `TestCase` only inside `captureOnCommitCallbacks`; "
                "eager tasks no longer run inside the transaction); a broker error no "
                "longer rolls the transaction back"
            ),
            safety=Safety.REVIEW,
            replacements=((call, on_commit_call(on_commit, deferred, database.using)),),
            add_imports=tuple(
                s.add for s in (partial, on_commit) if s is not None and s.add is not None
            ),
        )

    def _is_atomic(self, node: cst.BaseExpression) -> bool:
        target = node.func if isinstance(node, cst.Call) else node
        return bool(self.celery.dotted_names(target) & ATOMIC)


def _using(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The database `atomic(...)` names: `using=`, or its first positional argument
    (`atomic("other")`); a `**options` may hold it, so it stands for it. None: default."""
    if not isinstance(node, cst.Call):
        return None  # `@transaction.atomic`
    named: cst.BaseExpression | None = None
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "using":
            named = arg.value
        elif arg.star == "**":
            return arg.value
    first = node.args[0] if node.args else None
    if named is None and first is not None and first.keyword is None and not first.star:
        named = first.value
    # `using=None` is the default database: nothing to pass on.
    return None if isinstance(named, cst.Name) and named.value == "None" else named


def _database(atomics: tuple[Atomic, ...]) -> Database:
    """The database the dispatch's `on_commit` must wait for. `on_commit` hooks one
    database's transaction: a literal alias is passed on (`using="other"`); an expression
    could mean another database by the time the dispatch runs, and transactions on two
    databases leave no single right one, so both are left to the user."""
    named: dict[str, cst.BaseExpression | None] = {}
    for atomic in atomics:
        key = _literal_alias(atomic.using)
        if key is None:
            assert atomic.using is not None
            return Database(
                problem=f"the transaction's database is `{_text(atomic.using)}`, not a "
                "literal: pass it to `on_commit(..., using=...)` by hand"
            )
        if atomic.using is not None or key not in named:
            named[key] = atomic.using
    if len(named) > 1:
        aliases = ", ".join(f"`{key}`" for key in named)
        return Database(
            problem=f"it runs inside transactions on several databases ({aliases}), and "
            "`on_commit` waits for one"
        )
    [using] = named.values()
    return Database(using=using)


def _literal_alias(using: cst.BaseExpression | None) -> str | None:
    """The database alias `using` spells, or None when it is not a literal."""
    if using is None:
        return _DEFAULT
    if isinstance(using, cst.SimpleString):
        value = using.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _text(node: cst.CSTNode) -> str:
    return describe(node, 40)
