"""# CEL001 blocking-subtask-wait

## What it does
Finds, inside the body of a Celery task, every wait on the result of another task:
`.get()`, `.wait()`, `.join()`, `.join_native()` and `.collect()`, and `~signature`, on
results of `delay`, `apply_async`, `apply`, `send_task`, `AsyncResult(id)` /
`app.AsyncResult(id)`, `GroupResult.restore(id)`, `ResultSet(...)`, and of `group`, `chain`
and `chord` (dispatched with `.apply_async()`, `.delay()` or a call). It follows the result
through variables (`result = job.apply_async()` then `result.get()`), through lists filled in a
loop or built by a comprehension (`for r in results: r.get()`,
`[t.delay(i).get() for i in ids]`), and into results the task receives as an argument.

The two ways of silencing Celery's guard are findings of their own, with a message about
the deadlock: waits inside `with allow_join_result():` and `.get(disable_sync_subtasks=False)`
(also when passed as `**{"disable_sync_subtasks": False}` or `**options` with `options` a dict
literal holding that key). A `with allow_join_result():` block in which no wait is found (the
wait sits in a helper it calls) is reported on the `with`.

**What counts as a task.** A function decorated with `shared_task` (`@shared_task`,
`@celery.shared_task`, with or without arguments), with `<app>.task` where `<app>` is a Celery
app, or with a decorator named in `[tool.celerymod] task-decorators` (dotted names such as
`"myproj.celery.app.task"` or `"myproj.tasks.periodic"`; naming an app, `"myproj.celery.app"`,
makes its `.task` a task decorator too); and the `run` method of a class deriving from
`celery.Task` (directly, through `<app>.Task`, or through other such classes of the project).
Names are resolved through imports, never by their text: `invoke`'s `@task` is not Celery's.
A function that is only *called* from tasks is not a task: whether it runs in a worker is a
guess, so waits in helpers, views and management commands are not reported. Nor are waits
in a `def` or `lambda` nested inside a task.

**What counts as an app** (the `<app>` of `@<app>.task`):
- in the same module: a module-level name bound to `Celery(...)` (or to a subclass of
  `Celery` defined there), to `current_app`, or to the result of a function (not a class)
  whose name contains `celery` (`celery = make_celery(flask_app)`);
- imported from a scanned module: whatever that module binds to an app by the rules above,
  following re-exports (`from .celery import app as celery_app` in a package's
  `__init__.py`);
- imported from a module outside the scanned paths (celerymod never imports code), and
  not from a known non-Celery package (`invoke`, `fabric`, `prefect`, `airflow`, `huey`,
  `dramatiq`, `rq`, `taskiq`, `procrastinate`, `luigi`, `dask`, `ray`, `dagster`, ...): an app
  when its dotted path mentions `celery` (`myproj.worker.celery_start.queries_app`,
  `myproj.celery`), when its name is `app` or ends in `app` (`queries_app`), when a package in
  its path is or ends in `worker`, or when the module using it imports anything from `celery`.

**What counts as a result.** Besides the calls above on a task or signature:
`<x>.delay(...)` on anything not from a non-Celery package (`.delay` is Celery's own
spelling); `apply_async`/`apply` only on a known task (this module's or the project index's),
on a name imported from a module the run did not index (from any module when
`task-decorators` is configured: the index pass does not see those tasks), or on a
signature or canvas, so that `multiprocessing.Pool().apply_async(f).get()` is left alone.
A task parameter is taken for a result when annotated with a `celery.result` class
(`AsyncResult`, `GroupResult`, `ResultSet`, `EagerResult`), or when named `result`,
`async_result` or `*_result` and the wait call looks like Celery's: no positional argument but
a number (the timeout), and only Celery's keywords (`timeout`, `propagate`, `interval`, ...).
So `result.get("key")` on a dict parameter is not a finding.

Not findings (lookalikes): `dict.get`, `os.environ.get`, `threading.Thread.join`,
`threading.Event.wait`, `queue.Queue.get`, `concurrent.futures.Future.result`, `str.join`,
a Django model polled in a loop with `refresh_from_db()`.

## Why is this bad?
A task that waits for another task holds a worker process while the subtask needs one. Inside a
real worker Celery refuses: every such wait raises `RuntimeError: Never call result.get()
within a task!` — `AsyncResult.get()`, `.wait()`, `GroupResult.join()`, `chain(...)...get()`,
`~signature`, and also `task.apply(...).get()`. The workarounds `allow_join_result()` and
`disable_sync_subtasks=False` only silence the guard: the worker then deadlocks with the solo
pool, with a prefork pool of one process, and with two processes as soon as two such tasks
run at once (seeds 000 and 001).

## Example
```python
from celery import group, shared_task

@shared_task(bind=True)
def discover_topology(self, device_ids):
    job = group(discover_device.s(device_id) for device_id in device_ids)
    result = job.apply_async()
    device_results = result.get()  # CEL001
    return summarize(device_results)

@shared_task
def populate_registry(collection_slugs):
    store_yaml_data.delay().get()  # CEL001
    clone_repositories.apply_async(args=[collection_slugs]).get()  # CEL001
```

## Use instead
Let Celery wait: a `chord` runs a callback task once the group is done, a `chain` runs steps
one after another and hands each result to the next step.
```python
from celery import chain, chord, group, shared_task

@shared_task(bind=True)
def discover_topology(self, device_ids):
    header = group(discover_device.s(device_id) for device_id in device_ids)
    return self.replace(chord(header, discover_topology_finish.s()))

@shared_task
def discover_topology_finish(device_results):
    return summarize(device_results)

@shared_task
def populate_registry(collection_slugs):
    # `.si()`: each step ignores the previous step's result. Use `.s()` only where the
    # previous result really is the next call's first argument.
    return chain(store_yaml_data.si(), clone_repositories.si(collection_slugs)).apply_async().id
```

## Fix safety
The rule reports only, for now: it offers no fix. Rewrites of the fan-out, loop-of-waits,
sequence and pipeline shapes (DESIGN §2) are planned; each will state its safety here.
"""

from __future__ import annotations

import libcst as cst

from celerymod import celery_names
from celerymod.celery_names import CeleryModule, Task, WaitSite, describe
from celerymod.transforms.base import Checker as BaseChecker

_GUARD = "the worker raises `RuntimeError: Never call result.get() within a task!` or deadlocks"
_DEADLOCK = (
    "which silences Celery's guard: the worker deadlocks once every pool process waits "
    "(solo pool, `-c 1`, or two such tasks at once)"
)


class Checker(BaseChecker):
    CODE = "CEL001"
    METADATA_DEPENDENCIES = celery_names.METADATA

    def visit_Module(self, node: cst.Module) -> None:
        celery = CeleryModule.from_context(node, self.metadata, self.context)
        for task in celery.tasks:
            for site in celery.waits(task):
                self.report(site.node, wait_message(site))
            for block in celery.bare_workarounds(task):
                self.report(block, bare_workaround_message(task))


def wait_message(site: WaitSite) -> str:
    """The finding's one-line message for a wait, naming the wait, the task and the risk."""
    wait = f"`{_wait_text(site)}` waits on a subtask inside task `{site.task.name}`"
    if site.workaround is None:
        return f"{wait}; {_GUARD}"
    if site.workaround.kind == "allow_join_result":
        return f"{wait} under `allow_join_result()`, {_DEADLOCK}"
    return f"{wait} with `disable_sync_subtasks=False`, {_DEADLOCK}"


def bare_workaround_message(task: Task) -> str:
    """The message for a `with allow_join_result():` block holding no wait celerymod sees."""
    return (
        f"`with allow_join_result():` inside task `{task.name}` silences Celery's guard: "
        "any wait on a subtask there deadlocks the worker once every pool process waits "
        "(solo pool, `-c 1`, or two such tasks at once)"
    )


def _wait_text(site: WaitSite) -> str:
    node = site.node
    if isinstance(node, cst.UnaryOperation):
        return describe(node)
    assert isinstance(node.func, cst.Attribute)
    arguments = "(...)" if node.args else "()"
    return f"{describe(node.func.value)}.{node.func.attr.value}{arguments}"
