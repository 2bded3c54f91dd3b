"""# CEL006 unbounded-result-wait

## What it does
**Opt-in**: it runs only when selected (`--extend-select CEL006`, `extend-select = ["CEL006"]`,
or `ALL`), since every view, script and test waiting without a timeout is a finding and it
looks at every function of a file, not only tasks.

Finds, in functions that run outside Celery tasks (views, API handlers, management
commands, scripts' functions), waits on a Celery result that have no deadline:

- `.get()`, `.wait()`, `.join()`, `.join_native()` and `.collect()` without a timeout
  (no `timeout=` keyword, and for all but `collect` no first positional argument, which is
  the timeout), or with `timeout=None`;
- `~signature`, which dispatches and waits with no timeout;
- `while` loops polling a result (`while not res.ready():`, `while res.state ==
  "PENDING":`) whose condition has no other bound (`and time.monotonic() < deadline`) and
  whose body never leaves the loop (`break`, `raise`, `return`).

A value is a Celery result by the same analysis CEL001 uses (names resolved through
imports): the return value of `delay`, `apply_async`, `apply`, `send_task`,
`AsyncResult(id)`, `GroupResult.restore(id)` or a called canvas, a name bound to one, an
element of a list of them, a parameter annotated with a `celery.result` class or named
like one (`result`, `res`, `*_result`), or a value the code narrowed with
`isinstance(x, AsyncResult)`. `dict.get`, `QuerySet.get`, `requests.get` and
`", ".join(...)` are not results and stay silent.

Not findings: a wait whose keyword arguments come from `**options` (the timeout may be in
there; a `**{...}` literal is read), a wait after `if res.ready():` or after a loop that
waited for it to be ready (it cannot block), and waits inside tasks and in the helpers
tasks call: CEL001 reports those, since there no wait is acceptable at all. Functions
defined inside a task, and the methods of a task class, count as inside. Waits inside an
`async def`, and its polling loops that never `await`, are CEL004's: there any wait blocks
the event loop, timeout or not. Module-level code is not looked into, and a file that mentions no dispatch or result (`celery`, `delay(`,
`apply_async(`, `apply(`, `send_task(`, `AsyncResult`, `signature(`, `.s(`, `.si(`) is not
parsed for this rule.

## Why is this bad?
A result's `.get()` without a timeout waits until a worker has run the task. When the
workers are down, busy with a backlog, or the task was routed to a queue no worker
consumes, the web worker (gunicorn, uWSGI, Daphne) that runs the view waits forever: the
request never answers, the worker is lost to every other request, and a few such requests
take the site down. A polling loop with no deadline does the same while also hammering
the result backend.

## Example
```python
from django.http import JsonResponse

from shop.tasks import render_invoice

def invoice(request, order_id):
    result = render_invoice.delay(order_id)
    return JsonResponse({"url": result.get()})
```

## Use instead
```python
from celery.exceptions import TimeoutError
from django.http import JsonResponse

from shop.tasks import render_invoice

def invoice(request, order_id):
    result = render_invoice.delay(order_id)
    try:
        return JsonResponse({"url": result.get(timeout=30)})
    except TimeoutError:
        return JsonResponse({"status": "pending", "id": result.id}, status=202)
```
A polling loop gets a deadline:
```python
deadline = time.monotonic() + 30
while not result.ready():
    if time.monotonic() > deadline:
        raise TimeoutError(result.id)
    time.sleep(0.5)
```

## Fix safety
With `result-timeout = <seconds>` under `[tool.celerymod]`, the fix adds `timeout=<seconds>`
to the wait. It is a `review` fix: where the wait blocked until the task finished, it now
raises `celery.exceptions.TimeoutError` after that many seconds, which the caller must
handle (or the request fails with an error instead of hanging). A task that takes longer
than the timeout still runs to its end; only the wait gives up.

Without `result-timeout` the rule only reports: no timeout suits every call. No fix is
offered for `timeout=None` (written on purpose), `~signature`, a wait method bound to a
name first (`get = res.get`), or a polling loop.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.arguments import _literal_keywords
from celerymod.analysis.coroutines import is_coroutine, poll_yields
from celerymod.analysis.known import POLL_FIELDS, POLL_METHODS
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA
from celerymod.model import Safety, seconds_text
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix, walk, with_keyword

_HELP_FIX = "pass `timeout=` and handle `celery.exceptions.TimeoutError`"
_HELP_REPORT = (
    "pass `timeout=` and handle `celery.exceptions.TimeoutError` (set `result-timeout` "
    "under [tool.celerymod] for an automatic fix)"
)
_HELP_LOOP = (
    "give the loop a deadline (`if time.monotonic() > deadline: raise ...`) or use "
    "`res.get(timeout=...)`"
)
_WHY = "it blocks forever if no worker runs the task"


class Checker(BaseChecker):
    CODE = "CEL006"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        celery = CeleryModule.from_context(node, self.metadata, self.context)
        for function in celery.outside_tasks:
            # In a coroutine every wait, and every poll that never awaits, blocks the event
            # loop: CEL004 reports those, with or without a timeout.
            coroutine = is_coroutine(function.function)
            for site in () if coroutine else celery.waits(function):
                self._check_wait(site)
            for loop, polled in celery.polls(function):
                if coroutine and not poll_yields(loop):
                    # CEL004's, or CEL003's, whose fix makes it await: judged then.
                    continue
                if not _has_deadline(loop):
                    self.report(
                        loop,
                        f"`while {describe(loop.test, 40)}` in `{function.name}` polls a Celery "
                        f"result with no deadline: {_WHY}",
                        help=_HELP_LOOP,
                    )

    def _check_wait(self, site: WaitSite) -> None:
        if site.ready_checked:
            return  # After `if res.ready():` the wait cannot block.
        where = f"`{describe(site.node)}` in `{site.task.name}`"
        if not isinstance(site.node, cst.Call):  # `~sig` (`waits` finds no other)
            self.report(
                site.node,
                f"{where} dispatches and waits on a Celery result with no timeout: {_WHY}",
                help=_HELP_REPORT,
            )
            return
        timeout = _timeout(site.node, site.method)
        if timeout == "given":
            return
        if timeout == "none":
            self.report(
                site.node,
                f"{where} waits on a Celery result with `timeout=None`: {_WHY}",
                help=_HELP_FIX,
            )
            return
        message = f"{where} waits on a Celery result with no timeout: {_WHY}"
        fix = self._fix(site)
        self.report(site.node, message, fix=fix, help=_HELP_FIX if fix else _HELP_REPORT)

    def _fix(self, site: WaitSite) -> Fix | None:
        seconds = self.context.config.result_timeout
        if seconds is None or site.bound_method is not None:
            return None
        assert isinstance(site.node, cst.Call)
        text = seconds_text(seconds)
        value: cst.BaseExpression = cst.Float(text) if "." in text else cst.Integer(text)
        return Fix(
            message=(
                f"Add `timeout={text}` (`result-timeout`): the wait raises "
                f"`celery.exceptions.TimeoutError` after {text} s instead of blocking until "
                "the task finishes; the caller must handle it"
            ),
            safety=Safety.REVIEW,
            replacements=((site.node, _with_timeout(site.node, value)),),
        )


def _with_timeout(call: cst.Call, value: cst.BaseExpression) -> cst.Call:
    """`call` with `timeout=value` last; a call with one argument per line (its last
    comma ends the line) gets the new one on a line of its own."""
    last = call.args[-1] if call.args else None
    if last is None or not isinstance(last.comma, cst.Comma):
        return with_keyword(call, "timeout", value)
    between = call.whitespace_before_args
    if not isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace) or not (
        isinstance(between, cst.ParenthesizedWhitespace)
    ):
        return with_keyword(call, "timeout", value)
    # The new argument takes the closing line's comma; the old last one gets the line
    # break and indentation that precede the first argument.
    added = with_keyword(call, "timeout", value).args[-1].with_changes(comma=last.comma)
    previous = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
    return call.with_changes(args=[*call.args[:-1], previous, added])


def _timeout(call: cst.Call, method: str) -> str:
    """"given" when the wait has a deadline (or may have one: `**options`), "none" for an
    explicit `timeout=None`, "missing" otherwise."""
    value: cst.BaseExpression | None = None
    for position, arg in enumerate(call.args):
        if arg.star == "*":
            return "given"
        if arg.star == "**":
            pairs = _literal_keywords(arg.value)
            if pairs is None:
                return "given"  # The timeout may be among them.
            value = next((v for k, v in pairs if k == "timeout"), value)
        elif arg.keyword is not None and arg.keyword.value == "timeout":
            value = arg.value
        elif arg.keyword is None and position == 0 and method != "collect":
            value = arg.value  # `get(30)`: the timeout is the first parameter.
    if value is None:
        return "missing"
    if isinstance(value, cst.Name) and value.value == "None":
        return "none"
    return "given"


def _has_deadline(loop: cst.While) -> bool:
    """Whether a polling loop has some other way to end than the result becoming ready: a
    condition with a part that does not read the result (`and time.monotonic() <
    deadline`, `and attempts < 10`), or a body that can leave the loop."""
    if _bounded_condition(loop.test):
        return True
    return any(isinstance(n, cst.Break | cst.Raise | cst.Return) for n in _body_nodes(loop.body))


def _bounded_condition(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return not _reads_result(test.left) or not _reads_result(test.right) or (
            _bounded_condition(test.left) or _bounded_condition(test.right)
        )
    return False


def _reads_result(node: cst.CSTNode) -> bool:
    """Whether `node` reads a result's state (`.ready()`, `.state`, ...)."""
    for part in walk(node):
        func = part.func if isinstance(part, cst.Call) else None
        if isinstance(func, cst.Attribute) and func.attr.value in POLL_METHODS:
            return True
        if isinstance(part, cst.Attribute) and part.attr.value in POLL_FIELDS:
            return True
    return False


def _body_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The nodes of a loop body, without nested `def`, `lambda` and class bodies (a `return`
    there does not leave the loop)."""
    found: list[cst.CSTNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        if isinstance(current, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            continue
        stack.extend(current.children)
    return found

