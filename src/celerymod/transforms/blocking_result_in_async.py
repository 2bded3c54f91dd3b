"""# CEL004 blocking-result-in-async

## What it does
Finds, inside the body of an `async def` (FastAPI and Starlette endpoints, Django async
views, Channels consumers, any coroutine), waits on a Celery result. Only files that name
Celery or a dispatch (`celery`, `delay(`, `apply_async(`, `send_task(`, `AsyncResult`,
`GroupResult`) are read, so a coroutine polling a parameter named `result` in a file that
mentions none of them is not reported (Django's async ORM code is never parsed for it):

- `.get()`, `.wait()`, `.join()`, `.join_native()` and `.collect()`, and `~signature`;
- `while` loops polling a result (`while not res.ready():`, `while res.state ==
  "PENDING":`) that never `await` (they sleep with `time.sleep`, or spin). Where the loop
  sleeps with `time.sleep` and CEL003 runs too, CEL003 reports that call and its fix
  (`await asyncio.sleep(...)`) makes the loop await; the loop is reported here only when
  CEL003 is not selected for the file.

A value is a Celery result by the same analysis CEL001 and CEL006 use (names resolved
through imports): the return value of `delay`, `apply_async`, `apply`, `send_task`,
`AsyncResult(id)`, `GroupResult.restore(id)` or a called canvas, a name bound to one, a
parameter annotated with a `celery.result` class or named like one (`result`, `res`,
`*_result`). `dict.get`, `request.json().get(...)`, `", ".join(...)` and `Event.wait()`
are not results and stay silent, as are a wait after `if res.ready():`, a wait passed as a value
(`await asyncio.to_thread(res.get, timeout=5)`), waits inside a nested `def`, `lambda` or
class body, and code of the `async def` that runs outside the coroutine (its decorators,
defaults and annotations). A polling loop that awaits (`await asyncio.sleep(0.5)`) does not
block the loop: CEL006 still reports it if it has no deadline. Waits in a nested `def`'s
decorators or defaults are not looked into.

## Why is this bad?
A coroutine runs on the event loop's only thread. `.get()` blocks that thread until a
worker has run the task: the event loop freezes for as long as the task runs, and every
other request, websocket and heartbeat served by that process waits with it. A
`time.sleep` poll does the same, one interval at a time.

## Example
```python
from fastapi import FastAPI

from shop.tasks import render_invoice

app = FastAPI()

@app.get("/invoice/{order_id}")
async def invoice(order_id: int):
    result = render_invoice.delay(order_id)
    return {"url": result.get(timeout=30)}
```

## Use instead
```python
import asyncio

from fastapi import FastAPI

from shop.tasks import render_invoice

app = FastAPI()

@app.get("/invoice/{order_id}")
async def invoice(order_id: int):
    result = render_invoice.delay(order_id)
    return {"url": await asyncio.to_thread(result.get, timeout=30)}
```
The fix keeps every argument of the wait (`timeout`, `propagate`, `interval`, ...) and its
value. In a module that imports `anyio` or `trio` it uses
`await anyio.to_thread.run_sync(functools.partial(result.get, timeout=30))` (`trio` for
trio), since their `run_sync` takes no keyword arguments for the function. A polling loop
is better written with `await asyncio.sleep(...)` (CEL003 fixes its `time.sleep`).

## Fix safety
The fix is `review`. The value and the exception are the same (`asyncio.to_thread` returns
what `get` returns and re-raises what it raises, `TimeoutError` included), but where the
wait runs changes, and Celery 5.7's backends are not all safe to wait on from a thread:

- An `AsyncResult` keeps the backend it was created with (`self.backend = backend or
  self.app.backend`, celery/result.py), and unless `result_backend_thread_safe` is set
  `app.backend` is one instance per thread (`Celery._backend` stores it in
  `threading.local`, app/base.py). So the worker thread waits through the event loop
  thread's backend, which the loop keeps using (with Redis every `delay()` subscribes to
  the new task's result through it, in `on_task_call`), and several waits in flight share
  it. Every `get()` first registers the result with that backend (`add_pending_result`,
  which calls the result consumer's `consume_from`), then drains its consumer.
- Redis: safe to share. The result consumer (backends/redis.py) serialises every pubsub
  operation under one `RLock`, and while one thread waits on the socket the others wait
  on a `Condition` for it to read ("only one thread waits on the socket"); subscribe and
  unsubscribe from other threads take the same lock.
- RPC (and AMQP-style backends built on it): not safe. Its result consumer
  (backends/rpc.py) holds one kombu connection and consumer, and `consume_from` (adding
  the task's reply queue) and `drain_events` (`self._connection.drain_events(...)`) use
  them with no lock: two waits in flight, in two threads, or a thread's wait and a wait or
  `then()` in the loop thread, use one AMQP connection at once, which kombu and py-amqp
  do not support.
- Other backends (database, cache, ...) poll with `time.sleep` in `wait_for`
  (backends/base.py) through their own clients, whose thread safety is theirs.

Two more behaviours change: a cancelled coroutine (a client that disconnects, a
`asyncio.timeout`) no longer stops the wait, which goes on in its thread until `get`
returns (pass `timeout=`, CEL006); and waits share the default executor's threads
(`min(32, cpus + 4)`), so more concurrent waits than that queue up instead of freezing
the loop.

No fix is offered for `~signature`, a wait method bound to a name first, a wait inside a
comprehension or generator expression, an already `await`ed wait, or where the name the
fix needs (`asyncio`, `anyio`, `trio`, `functools`) is bound to something else.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import (
    ImportAssignment,
    ParentNodeProvider,
    QualifiedNameProvider,
    ScopeProvider,
)

from celerymod.analysis.coroutines import is_coroutine, left_to_cel003, poll_yields
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA
from celerymod.model import Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix
from celerymod.transforms.blocking_sleep_in_async import (
    _binds_tighter_than_await,
    _top_level_imports,
)

_WHY = "the event loop freezes for as long as the task runs"
_HELP_WAIT = "await it in a thread: `await asyncio.to_thread(res.get, timeout=...)`"
_HELP_LOOP = (
    "await in the loop (`await asyncio.sleep(...)`) or wait in a thread: "
    "`await asyncio.to_thread(res.get, timeout=...)`"
)
# Event-loop libraries the fix prefers, in order, when the module imports them.
_LOOP_LIBRARIES = ("anyio", "trio")
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class Checker(BaseChecker):
    CODE = "CEL004"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        imported = _top_level_imports(node)
        self.library = next((lib for lib in _LOOP_LIBRARIES if lib in imported), "asyncio")
        self.library_name = imported.get(self.library, self.library)
        celery = CeleryModule.from_context(node, self.metadata, self.context)
        cel003 = self.context.config.selects("CEL003")
        for function in celery.every_function:
            if not is_coroutine(function.function):
                continue
            for site in celery.waits(function):
                self._check_wait(site)
            for loop, _ in celery.polls(function):
                if not poll_yields(loop) and not left_to_cel003(loop, self._names, cel003):
                    self.report(
                        loop,
                        f"`while {describe(loop.test, 40)}` in `async def {function.name}` "
                        f"polls a Celery result without awaiting: {_WHY}",
                        help=_HELP_LOOP,
                    )

    def _names(self, node: cst.CSTNode) -> set[str]:
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

    def _check_wait(self, site: WaitSite) -> None:
        if site.ready_checked:
            return  # After `if res.ready():` the result is there: reading it does not wait.
        path = self._path(site)
        if any(isinstance(n, cst.Annotation) for n in path):
            return  # A local annotation is never evaluated.
        where = f"`{describe(site.node)}` in `async def {site.task.name}` waits on a Celery result"
        reason = self._no_fix_reason(site, path)
        if reason is not None:
            self.report(site.node, f"{where}: {_WHY}; not fixed: {reason}", help=_HELP_WAIT)
            return
        assert isinstance(site.node, cst.Call)
        self.report(site.node, f"{where}: {_WHY}", fix=self._fix(site.node, path), help=_HELP_WAIT)

    def _path(self, site: WaitSite) -> list[cst.CSTNode]:
        """The ancestors of the wait up to the coroutine's body, innermost first."""
        path: list[cst.CSTNode] = []
        current = self._parent(site.node)
        while current is not None and current is not site.task.function.body:
            path.append(current)
            current = self._parent(current)
        return path

    def _parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        parent = self.get_metadata(ParentNodeProvider, node, None)
        return parent if isinstance(parent, cst.CSTNode) else None

    def _no_fix_reason(self, site: WaitSite, path: list[cst.CSTNode]) -> str | None:
        if not isinstance(site.node, cst.Call):
            return "`~signature` dispatches and waits in one operation"
        if site.bound_method is not None:
            return "the wait method is bound to a name first"
        if any(isinstance(n, _COMPREHENSIONS) for n in path):
            return "it is inside a comprehension"
        if path and isinstance(path[0], cst.Await):
            return "it is already awaited"
        for name in self._names_needed():
            if not self._name_free(site.node, name):
                return f"`{name}` is bound to something else here"
        return None

    def _names_needed(self) -> tuple[str, ...]:
        if self.library == "asyncio":
            return (self.library_name,)
        return (self.library_name, "functools")

    def _name_free(self, node: cst.CSTNode, name: str) -> bool:
        """True unless `name` is bound, where `node` is, to anything but `import name`."""
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return True
        for assignment in scope[name]:
            if not isinstance(assignment, ImportAssignment):
                return False
            statement = assignment.node
            if not isinstance(statement, cst.Import):
                return False
            modules = {alias.evaluated_name.split(".")[0] for alias in statement.names}
            if self.library not in modules and name not in modules:
                return False
        return True

    def _fix(self, call: cst.Call, path: list[cst.CSTNode]) -> Fix:
        wait = call.func
        library = cst.Name(self.library_name)
        if self.library == "asyncio":
            func: cst.BaseExpression = cst.Attribute(library, cst.Name("to_thread"))
            first = cst.Arg(wait, comma=_comma(call) if call.args else cst.MaybeSentinel.DEFAULT)
            args = [first, *call.args]
            spelled = f"await {self.library_name}.to_thread({describe(wait)}, ...)"
            imports = (ImportItem("asyncio"),) if self.library_name == "asyncio" else ()
        else:
            func = cst.Attribute(
                cst.Attribute(library, cst.Name("to_thread")), cst.Name("run_sync")
            )
            if call.args:
                partial = cst.Attribute(cst.Name("functools"), cst.Name("partial"))
                inner = call.with_changes(
                    func=partial, args=[cst.Arg(wait, comma=_comma(call)), *call.args]
                )
                args = [cst.Arg(inner)]
            else:
                args = [cst.Arg(wait)]
            spelled = f"await {self.library_name}.to_thread.run_sync(...)"
            own = self.library_name == self.library
            imports = (
                *(
                    (ImportItem(f"{self.library}.to_thread"),)
                    if own and self.library == "anyio"
                    else ()
                ),
                *((ImportItem("functools"),) if call.args else ()),
            )
        new = cst.Call(func=func, args=args, whitespace_before_args=call.whitespace_before_args)
        parent = path[0] if path else None
        replacement = (
            cst.Await(new, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            if parent is not None and _binds_tighter_than_await(parent, call)
            else cst.Await(new)
        )
        return Fix(
            message=(
                f"Wait in a thread: `{spelled}` (same arguments, value and exceptions; the "
                "wait goes on if the coroutine is cancelled, and the RPC backend is not "
                "thread-safe)"
            ),
            safety=Safety.REVIEW,
            replacements=((call, replacement),),
            add_imports=imports,
        )


def _comma(call: cst.Call) -> cst.Comma:
    """The comma after the wait method put first: on a line of its own when the call has
    one argument per line (its arguments start on the line after the parenthesis)."""
    if isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=call.whitespace_before_args)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
