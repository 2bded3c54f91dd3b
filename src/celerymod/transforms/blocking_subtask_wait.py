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
literal holding that key). Inside such a block, a call that looks like Celery's wait (`x.get()`, `x.join(timeout=5)`:
no positional argument but a number, only Celery's keywords) is a wait whatever produced `x`
(`workflow.apply().get()` on a canvas a helper built): the block exists only for such waits.
A `with allow_join_result():` block in which no wait is found (the
wait sits in a helper it calls) is reported on the `with`.

**What counts as a task.** A function decorated with `shared_task` (`@shared_task`,
`@celery.shared_task`, with or without arguments), with `<app>.task` where `<app>` is a Celery
app, or with a decorator named in `[tool.celerymod] task-decorators` (dotted names such as
`"myproj.celery.app.task"` or `"myproj.tasks.periodic"`; naming an app, `"myproj.celery.app"`,
makes its `.task` a task decorator too); and the `run` method of a class deriving from
`celery.Task` (directly, through `<app>.Task`, or through other such classes of the project;
in a module that imports from `celery`, a base imported from outside the scanned paths whose
name ends in `Task`, `SystemTask`, is taken for one, as an imported `app` is taken for an app).
Names are resolved through imports, never by their text: `invoke`'s `@task` is not Celery's.
Waits in a `def` or `lambda` nested inside a task are not reported (they run only if called).

**Waits in helpers.** A plain function (module level, or a method of a module-level class)
that a task calls, directly or through other functions, in the same module or in another
scanned one (the project index records every function's calls, also through an import
inside the calling function: `from .search import run_search` in a task's body), runs in the
task's worker process: its waits are findings too, reported at the wait with the calls that lead there
(`` `res.get()` waits on a subtask inside `wait_for`, which task `sync` calls (`sync ->
fetch_and_wait -> wait_for`) ``). A helper's parameter is a result when it is named or annotated like one
(below), or when a task of the same module passes it a result (`settle(fetch.delay(x))`).
They are not rewritten (rewrite the task that calls the helper). A wait in a branch that runs
only when no task is executing (the `else` of `if current_task:`, the body of `if current_task
is None:`; `current_task` resolved through imports), as helpers shared with web code write
it, is not reported, in a helper or a task. Functions no task reaches (views, management commands, signal handlers such as
`@task_prerun.connect`) stay silent.

**Polling loops.** `while not res.ready():`, `while res.state not in READY_STATES:`,
`while res.status == "PENDING":` (also `.successful()` / `.failed()`) on a Celery result
inside a task or a helper hold the worker process exactly like `.get()`: a finding on the
loop's condition. No guard stops them: once every pool process polls, the subtasks they wait
for never run. A `while not res.ready():` loop in a task is rewritten like a wait (see *Use
instead*), and so is `while res.state not in READY_STATES:` (`.status` too, with Celery's
`celery.states.READY_STATES`); the other conditions are reported without a fix
(`res.status == "PENDING"` also ends on `STARTED` or `RETRY`, before there is a value). A
Django row polled the same way is not a result.

**Waits on a result known to be ready.** Inside `if res.ready():` (or `.successful()`,
alone or in an `and`), or after `if not res.ready(): raise self.retry(...)` / `return` or a
`while not res.ready():` loop in the same block that only its condition ends (no `break`
at a deadline, which leaves with the result maybe running), with no rebinding of `res`
between, the wait cannot block, but Celery's guard raises before it looks: the fix adds
`disable_sync_subtasks=False` to that wait (**safe**: the value and the exception are the
same, as the worker tests show). Such a wait that already passes it is not a finding. The
keyword exists since Celery 4 (Celery 3 only warned about such waits): a project still on
Celery 3 must not apply it.

**A wait that only reads a stored outcome.** `AsyncResult(id).get(propagate=False)` (also
with `timeout=` / `interval=`), as error callbacks and cleanup tasks read a task they did not
send: the fix reads `.result` instead (**review**: the same value, or the failure's
exception, once the task has finished, which an error callback's always has; None instead of
a wait while it is still running).

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
A task (or helper) parameter is taken for a result when annotated with a `celery.result`
class (`AsyncResult`, `GroupResult`, `ResultSet`, `EagerResult`), or when named `result`,
`async_result`, `res`, `*_result` or `*_res` and the wait call looks like Celery's: no positional argument but
a number (the timeout), and only Celery's keywords (`timeout`, `propagate`, `interval`, ...).
So `result.get("key")` on a dict parameter is not a finding. A parameter named `results`,
`async_results` or `*_results` holds results (`for r in results: r.get()`), with the same
check on each wait. Inside `if isinstance(x,
AsyncResult):` (or `GroupResult`, `ResultSet`, `EagerResult`; in a tuple or an `and`) and
`if hasattr(x, "join_native"):` (duck typing only Celery's result sets answer), `x` is a result
whatever produced it. A parameter taken for one result is a result set when the task walks it
(`for child in group_result:`, `group_result.children`): each child is a result; so is each
child of a group's result the task walks (`gr = group(...)()`, then `for r in gr:`). A signature
picked from a dict, list or tuple display whose entries are all signatures or tasks
(`EXPORTERS = {"csv": export_csv.s(), ...}`, then `EXPORTERS.get(fmt).apply_async()` or
`STEPS[0].delay()`) is dispatched like any signature; such a wait is reported, not rewritten.

When CEL002 (nested-task-call) is selected, a single waited call of a project task it can
extract into a helper is CEL002's finding, not CEL001's (`nested_task_call_fix.sites.claims`).

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
run at once.

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
Let Celery wait: a `chord` runs a callback task once a group is done, a `chain` runs steps one
after another. `celerymod fix` rewrites seven shapes, each in one of two
strategies (`--strategy` or `strategy =` in `[tool.celerymod]`):

| shape | before | after (`replace`) |
|---|---|---|
| fan-out | `rs = group(t.s(i) for i in ids).apply_async().get()` (or through `job = group(...)`, `r = job.apply_async()`, `rs = r.get()` / `.join()` / `.join_native()`), then code using `rs` | `return self.replace(chord(header, <task>_finish.s(...)))` |
| loop of waits | `for i in ids: out.append(t.delay(i).get())` after `out = []`, or `out = [t.delay(i).get() for i in ids]` | the same, with `header = group(t.s(i) for i in ids)` |
| sequence | `a.delay().get()`, `b.apply_async(args=[y]).get()` | `return self.replace(chain(a.si(), b.si(y)))` |
| pipeline | `r = a.delay(x).get()`, `b.delay(r).get()` | `return self.replace(chain(a.si(x), b.s()))` |
| collected, then waited | `rs = [t.delay(i) for i in ids]` (or a loop appending to `rs = []`, also through a name: `r = t.delay(i)`, `rs.append(r)`), then `out = [r.get() for r in rs]` (or a loop appending `r.get()` to `out = []`) | `header = group(t.s(i) for i in ids)`, then as a fan-out |
| polled | `r = t.delay(x)` (or a group), `while not r.ready(): time.sleep(1)` (or `while r.state not in READY_STATES:`), then code reading `r.result` / `r.get(...)`, or not reading it | as the wait it stands for: `return self.replace(chain(t.si(x), <task>_finish.s(...)))` (a chord for a group) |
| collected, then polled | `rs` collected as above, then `for r in rs:` `while not r.ready(): ...`, `v = r.get(...)` (or `r.result`), `out.append(v)` | as *collected, then waited* |

- **Steps sent by name**: `app.send_task("name", args, kwargs, **options)` becomes
  `app.signature("name", args=[...], kwargs={...}, **options)` on the same app expression
  (`immutable=True` where the step receives nothing), in any of the shapes above. Always
  `review`: `send_task` goes through the broker even under `task_always_eager`, where the
  signature runs in place, and only if that process registers the task.
- **A polling loop** (`while not r.ready():`, `while r.state not in READY_STATES:`) is the
  wait: the loop goes, and the code after
  it moves into the callback, where each read of the value (`r.result`, `r.get(...)`,
  `r.wait(...)`; `.get()` / `.join()` on a group) becomes the value it receives: named as in
  `out = r.result` right after the loop, else `value`. Only where the loop's body does
  nothing but sleep (`time.sleep`), `pass`, print, log (`logging.info(...)`,
  `logger.debug(...)`) or read the result's state (`r.status`, `r.ready()`), with arguments
  that call nothing else; a body that does anything else (counts, calls a function, `break`s, has an `else`)
  is not fixed: the code after it may depend on it. The sleeps' `time` import goes where
  nothing else uses it, and so does `READY_STATES`'s. A wait used as a barrier (`r.wait()`, `r.get()` as a statement)
  whose value the code after it reads from `r` is rewritten the same way, and a second wait
  on a result already waited for is such a read, not a second step (it would run the
  subtask twice).
- **A value used inside a larger statement** (`print(r.get())`, `total += r.get()`,
  `return {"n": r.get()}`, `for row in r.get():`, `if r.get():`): the statement becomes the
  callback's first statement, with the wait replaced by the value it receives (`value`).
  Not where the wait runs only under a condition or repeatedly (`a or r.get()`,
  `x if c else r.get()`, inside a lambda or comprehension). Calls the statement made before
  the wait now run after the subtasks (review, said in the message).
- **Waits inside branches of an `if`** (`if`, `elif` or `else`, nested `if`s too, also
  under a `with allow_join_result():` there), each branch with its own dispatch: each is
  rewritten like a task body and ends with its dispatch (`return self.replace(...)` or the
  metadata); the code after the `if` that a branch fell through to (not after a
  `return <wait>`) moves into a callback of that branch's own (`<task>_finish`,
  `<task>_finish_2`, ...) and stays in place for the other branches, which run as before
  (the worker tests run every branch), until no branch reaches it (an `if`/`else` whose
  every branch now dispatches): then it leaves the task. One fix rewrites one branch, the
  first in the code: `check` marks its wait `[*]` and says the other branches' waits are
  rewritten after it; `fix` then applies, in the code each fix produced, the next branch's
  fix, until none is left (`fix -i` offers one branch per run; a branch whose wait is
  suppressed is skipped). Each branch's fix has its own safety: `fix --write` without
  `--unsafe-fixes` stops at the first branch whose fix is review. Not for a branch after
  which the code after the `if` reads a name that the branch binds neither before its
  dispatch nor by a `name = ...` that moves with it, nor one whose moved code alone binds a
  name that the code staying in the task reads (it would stop being a local there, unbound
  for good or the module's); not when two waiting blocks can both run (separate `if`s, an
  `if` inside a waiting branch).
- **Waits in several places in a row** (two fan-outs; a fan-out then a sequence; a
  sequence, some code, then a fan-out; three or more) in the task body: a chain of chords,
  one step per fix. The fix rewrites the first shape exactly as above; the code after it,
  which holds the later waits, moves verbatim into `<task>_finish`, whose own first wait
  the next fix rewrites (its callback is `<task>_finish_finish`, and so on). `check` marks
  the first wait `[*]` and says the later ones are rewritten after it; `fix` and `fix
  --write` apply the fixes in turn in one run (a second run changes nothing), `fix -i`
  offers one step per run. The first fix is offered only if every later step can be
  rewritten too (celerymod tries it on the code the fix produces): a later wait that stays
  manual, a value the next callback would receive that cannot go through JSON, a later
  dispatch read before its wait, or a suppressed later wait leaves the whole task as it is,
  and every wait's help names the later wait and why. Not when a later shape's canvas or result
  is made before an earlier shape's wait (it would have to reach the callback); not when
  the first wait is itself in an `if` branch. A later wait in a branch of an `if` is
  rewritten in the callback as any such branch. `replace`: each step's callback replaces
  itself with the next chord or chain, and the last replacement inherits the task's id
  (checked on the worker): the caller gets the last step's value. `metadata`: the task
  returns the first step's metadata, whose `result_id` leads to the callback's own metadata
  for the next step, and so on: the final value is one level deeper per later step that
  dispatches (the message says so; a callback whose `if` path dispatches nothing returns
  the value itself).
- **Statements between the dispatch and the wait** that share no name with them and cannot
  leave the task (`count = 0`) move up, before the dispatch; one that calls something
  (`log.info(...)`) makes the fix review: it now runs before the dispatch instead of after.

- Each signature keeps every argument and keyword of the call: `apply_async(args=[...],
  kwargs={...})` is spelled out as `t.s(...)`, dispatch options become `.set(countdown=5)`.
- `.si()` (immutable) for every step that does not receive the previous step's result;
  `.s()` only where the previous wait's value was exactly the next call's *first* positional
  argument (and used nowhere else). Never `.s()` for an independent step: `chain(a.s(),
  b.s(y))` calls `b(result_of_a, y)`. The first step is `.si()`: nothing precedes it.
- **The code after the wait** (the tail) moves, verbatim with its comments, into a new task
  `<task>_finish` (`_finish_2`, ... if the module binds that name or a scanned task
  already registers under the callback's name) defined right after the orchestrator with the
  orchestrator's own decorator (a registered `name="x"` becomes `name="x_finish"`; any other
  `name=`, a constant or an f-string, is not copied and the callback keeps Celery's default
  name, the fix being offered only when the task's name provably differs from it), and the
  decorators stacked below it, which wrapped the moved code (the fix is then review: they
  may not suit the callback; decorators above the task decorator are not copied). Its first
  parameter receives the waited value, named as the original variable (a chord hands it the
  list of results, a chain the last result), followed by one parameter for every other value
  the tail reads that the task bound before the wait (parameters, earlier assignments: libcst
  scope analysis), unless a `name = ...` of the tail binds it first; they are passed
  explicitly: `<task>_finish.s(a, b)`. A tail that does not
  read the waited value gets `.si(a, b)`. A module global the task declares `global` and
  the tail uses is declared `global` in the callback too (its assignments reach the module). If the orchestrator is `bind=True`, so is the
  callback, which then takes `self` first. A tail that is only `return <waited value>` needs
  no callback: the chord's, group's or chain's own result is that value.
- **Strategy `metadata`** (the default): the task dispatches the canvas and returns where a
  progress endpoint can follow it:
  ```python
  header = group(discover_device.s(d) for d in device_ids)
  result = chord(header)(discover_topology_finish.s(start_time))
  group_result = result.parent  # None under task_always_eager
  if group_result is not None:
      group_result.save()  # GroupResult.restore(group_id) needs it
  return {"status": "in_progress", "job_id": self.request.id,
          "group_id": getattr(group_result, "id", None), "result_id": result.id,
          "total": len(header.tasks)}
  ```
  A group without callback returns `group_id` (saved) and `total`; a chain returns
  `chain_id` and `result_id` (both the last link's id: a chain's result is its last task's;
  follow `.parent` for earlier steps) and `total` (the links of the chain, `_finish`
  included); a single dispatched task returns its `result_id`. A tail that is only `return <constant>` is replaced by this
  return (the message says so).
- **Strategy `replace`**: `return self.replace(<chord, group or chain>)`. Celery runs the
  canvas in place of the task: whoever waits on the task's id gets the final value.
- Both strategies need the task's own request (`self.request.id`, `self.replace`): the fix
  adds `bind=True` to the decorator and a `self` parameter when they are missing (only for
  Celery's own decorators, `shared_task` and `<app>.task`).
- The canvas names the rewrite needs (`chain`, `chord`, `group`) never shadow a name in use:
  `from celery import chain` is added only when nothing in the module or the task binds
  `chain` (a module importing Celery's own reuses it); otherwise the rewrite says
  `celery.chain` when the module has `import celery`, or adds `from celery import chain as
  celery_chain`, so `from itertools import chain` or a parameter named `group` keep working.
- New imports go where isort puts them (`ruff --select I001` stays clean): a name joins the
  existing `from celery import ...` in member order, an aliased name or a new statement is
  sorted into its section.
- A `with allow_join_result():` holding the waits is removed (its body is rewritten as if it
  were at the top of the task), and so is its import when nothing else uses it;
  `disable_sync_subtasks=False` goes with the wait call it was passed to.

**Not fixed** (reported; the message says why and what to do by hand):
waits inside `try`, `while`, `with` or nested loops, or in an `if` other than as above; a
`return <wait>` inside a `for` (the loop ends at its first item); several waiting shapes
in one `if` branch, or a later shape sent before an earlier one's wait; results
looked up by id (`AsyncResult(id)`, `GroupResult.restore`), received as arguments, collected
into a dict (or walked with `enumerate`/`zip`) before waiting, or waited with `.collect()` or
`propagate=` (or with positional arguments after the timeout); a task waiting in several
places one of which cannot be rewritten (see above: no step is); a wait already on a
chord or chain, or whose arguments are `*args`/`**kwargs` that cannot
be spelled out; a value the callback needs that cannot go through JSON (a set, a model
instance: pass its id); a group dispatched with options; a wait whose value is used under a
condition inside a larger expression; a loop body that does more than `out.append(<wait>)`;
statements between the dispatches and the waits that use their names or may leave the task
(`return`, `raise`); a tail that reads `self` (its request belongs to the
orchestrator) or the running task another way (`current_task`, `<task>.request`), reads the
dispatched result object itself other than its value (`r.id`, `r.status` after the wait),
binds it again, reads an intermediate step's result
(a chain hands on only the last one), returns from inside a loop, yields, or uses a function
defined inside the task; a task whose `name=` celerymod cannot follow (an attribute, an
imported constant, `**options`) or that could equal the callback's default name (the chord
would call the task again, forever); class-based tasks (no decorator to copy); custom task decorators
without `bind=True` (celerymod cannot know they accept it); tasks not defined at module level;
polling loops on another condition than `not r.ready()` or `r.state not in READY_STATES`,
or whose body does more than sleep, print, log or read the state (above).
A sequence whose tail needs several steps' values stays as it is: rewrite it by hand, for
example into a chain of tasks that return what the next one needs.

**Rewriting by hand** the two shapes that stay manual by design:

- A wait inside `try` whose `except` handles the subtask's failure or timeout: the chain
  runs the code after the wait as a callback, and the handler becomes an error callback,
  which Celery calls with the failed task's request, exception and traceback (before any
  arguments of its own). A `timeout=` becomes the subtask's `time_limit`.
  ```python
  @shared_task(bind=True)
  def sync_provider(self, provider_id):
      try:
          pages = fetch_pages.delay(provider_id).get(timeout=600)
          store(pages)
      except FetchFailed as exc:
          mark_failed(provider_id, exc)
  ```
  becomes
  ```python
  @shared_task(bind=True)
  def sync_provider(self, provider_id):
      steps = chain(fetch_pages.s(provider_id).set(time_limit=600), store_pages.s())
      return self.replace(steps.on_error(sync_failed.s(provider_id)))

  @shared_task
  def store_pages(pages):
      store(pages)

  @shared_task
  def sync_failed(request, exc, traceback, provider_id):
      if isinstance(exc, FetchFailed):
          mark_failed(provider_id, exc)
  ```
- A result looked up by id (`AsyncResult(task_id)`), sent by someone else: have the
  sender chain this task after the one it waits for (`chain(work.s(x), report.s())`), or
  let the task retry until the result is ready, which frees the worker between tries
  (celerymod then accepts the wait, with `disable_sync_subtasks=False`: it reads a finished
  result):
  ```python
  @shared_task(bind=True, max_retries=None)
  def report(self, task_id):
      res = AsyncResult(task_id)
      if not res.ready():
          raise self.retry(countdown=5)
      return render(res.get(disable_sync_subtasks=False))
  ```

**Failure semantics.** A wait re-raised the subtask's exception inside the task, so the task
failed with it. After the rewrite (seen on Celery 5.7 with a prefork worker and Redis; the
worker tests check this table), a failing subtask reaches the task's caller (`replace`) or
whoever follows the metadata (`metadata`, whose task itself succeeds: it only dispatches) as:

| the waits become | `replace`: `.get()` on the task raises | `metadata`: following `result_id` (or restoring `group_id`) raises |
|---|---|---|
| a chord (a callback runs the code after the wait) | `ChordError` ("Dependency ... raised ValueError(...)") | `ChordError` |
| a group (no callback) | `ChordError` (`self.replace` makes it a chord) | its own exception (`GroupResult.get()`) |
| a chain (sequence, pipeline) | its own exception | its own exception (a failing link fails the links after it) |

A chain of chords (waits in several places in a row) fails as the step whose subtask fails:
its row above, for that step's kind (a failing subtask of a chord step reaches the caller as
`ChordError`, of a chain step as its own exception; the steps before it have succeeded). Under
`metadata` the steps before it return the next step's metadata, and following the failing
step's `result_id` raises.

`autoretry_for` on the task no longer retries it when a subtask fails: the subtasks run after
it has returned (a callback copies the retry options, which then retry only the moved code).
Under `task_always_eager` (many test settings) `.apply()` of a rewritten task gives the same
value as before (an eager chord keeps no group: `group_id` is `None`), and `.delay()` raises
Celery's guard as the original did, except where a workaround or a polling loop let the
original run. A polling loop ends when its subtask fails too, and the original went on after
it (with `r.result` the exception): the rewrite stops instead, the callback never runs, and
the failure reaches the caller as in the table; only a `.get()` that the statement right
after the loop runs first failed the original the same way.

## Fix safety
- `metadata`: **review**. The task's return value changes from its result to the metadata
  dictionary; callers that waited on it must follow `result_id` / `group_id` instead (through
  each step's metadata for a chain of chords, as the message says). The
  message says so, whether a `return <constant>` was replaced, and lists the places in the
  scanned files that read the task's return value (a used `.delay()` / `.apply_async()` /
  `send_task("<its name>")` result, a signature of it in a canvas or `link=`): each gets the
  dictionary now. A dispatch whose value is dropped is not listed. A group without callback
  is saved with `GroupResult.save()`, which needs a result backend that stores groups (not
  `rpc://`), also under `task_always_eager`, where the wait needed none.
- `replace`: **safe** only for a chain (a sequence or a pipeline) whose callers' view is
  unchanged, failures included. A chain of chords is as safe as its weakest step: each
  step's fix is review when any step after it is, and its message names the later steps'
  reasons (so `fix --write` without `--unsafe-fixes` applies all the steps or none).
  **Review**, with the reason in the message, when:
  - the waits become a chord or a group: a failing subtask reaches the caller as
    `ChordError`, not as its own exception, and chords need a result backend that supports
    them (not `rpc://`);
  - the task has `autoretry_for` (it no longer retries on a failing subtask);
  - the waits were under a workaround (`allow_join_result()`, `disable_sync_subtasks=False`):
    under `task_always_eager`, `.delay()` of the task now raises Celery's guard;
  - a value passed to the callback may not survive JSON unchanged: it is neither a task
    parameter the caller sent (a default did not travel, nor does a value the task binds to
    it again) nor bound only to JSON-stable literals (`start_time = datetime.now()`, a tuple,
    which comes back a list); the message names each one. A value that provably cannot
    travel (a set, a generator, a lambda, a Django model instance from
    `Model.objects.get(...)`) gets no fix: the message says to pass an id or a list instead;
  - a step was `t.apply(...)`, which ran the task in this process with its arguments as
    they were: a chain step's arguments go through the serializer, so one that may not
    survive JSON unchanged (a tuple, an expression celerymod cannot follow) is named, and
    one that cannot travel at all (a set) gets no fix;
  - a later step's argument calls something (`publish.delay(shop_id, current_version(shop_id))`):
    the original called it after the step before had run, a chain computes every step's
    arguments when it is built, before its first step;
  - the scanned project calls the task directly (`refresh(x)` or `refresh.run(x)` in a
    function or a method: a management command, a test): that ran the body in the caller's
    process, where the waits worked (Celery's guard runs only in a worker), and
    `self.replace` there sends the chain and raises `celery.exceptions.Ignore`. The message
    names the callers; a direct call from code celerymod did not scan, or from module-level
    code, breaks the same way;
  - the task has a custom `base=` class: its hooks (`on_success`, `after_return`, ...) no
    longer run when the task finishes on a worker (it is replaced), and the callback, which
    copies the decorator, runs them instead (under `task_always_eager` both do);
  - a task that returned nothing would now return the subtasks' result;
  - a wait had a timeout (`get(timeout=30)`): a chord or chain has no deadline, so the
    message says the timeout is dropped;
  - the task has other decorators than its task decorator (copied onto the callback when
    below it, not when above; under `task_always_eager` the ones below also wrap the value
    `self.replace` returns there);
  - the wait was a polling loop (also under `metadata`, said in the message), unless its body
    only sleeps (or `pass`es) and the statement right after it reads the value first, with
    a raising `.get()` (`v = r.get()`, `total = r.get() + 1`, `return r.get()`; no
    `propagate=False`, no `disable_sync_subtasks=False`, no call before it, not under a
    condition): the loop's prints and logging are dropped; when a subtask fails the code after the
    loop no longer runs (the callback never does), where the original went on; and under
    `task_always_eager` `.delay()` of the task now raises Celery's guard where the loop let
    it run (`.apply()` works).
- Both: the subtasks now run after the orchestrator returns, on any worker; the callback is
  a new task that workers must know (deploy the module to every worker before the
  orchestrator's callers).

Size: over 500 lines because this docstring is the rule's whole reference (`celerymod
explain CEL001`, docs/rules.md), four fifths of the module; the code is the checker alone.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.outside_tasks import only_outside_tasks
from celerymod.analysis.vocabulary import METADATA
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.blocking_subtask_wait_fix.findings import (
    _BARE_WORKAROUND,
    _POLL,
    _POLL_FIXED,
    _POLL_FORM,
    _called_by,
    bare_workaround_message,
    helper_help,
    helper_wait_message,
    poll_message,
    wait_help,
    wait_message,
)
from celerymod.transforms.blocking_subtask_wait_fix.ready import ready_fix
from celerymod.transforms.blocking_subtask_wait_fix.sites import (
    reported_waits,
    rewritable_of,
    rewritable_waits,
    suppressed_site,
    task_polls,
)
from celerymod.transforms.blocking_subtask_wait_fix.stored import stored_result_fix

# This module finds and reports the waits (through `celerymod.analysis`); the fix, the rewrite
# into a chord or chain, lives in transforms/blocking_subtask_wait_fix/ (rewrite.rewrite), and
# the sites left to CEL002 in transforms/nested_task_call_fix/sites.py (`claims`); what a
# finding says, in transforms/blocking_subtask_wait_fix/findings.py.


class Checker(BaseChecker):
    CODE = "CEL001"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        from celerymod.transforms.blocking_subtask_wait_fix.later import Steps
        from celerymod.transforms.blocking_subtask_wait_fix.rewrite import rewrite

        celery = CeleryModule.from_context(node, self.metadata, self.context)
        # A later step of a chain of chords is tried on the fixed code with the same filter.
        steps = Steps(
            self.context,
            lambda celery, task: rewritable_waits(celery, task, self.context.config),
            suppressed_site,
        )
        for task in celery.tasks:
            waits = reported_waits(celery, task, self.context.config)
            for site in waits:
                if site.ready_checked:
                    self.report(
                        site.node, wait_message(site), fix=ready_fix(site), help=wait_help(site)
                    )
                elif (stored := stored_result_fix(site)) is not None:
                    self.report(site.node, wait_message(site), fix=stored, help=wait_help(site))
            polls = task_polls(celery, task)
            rewritable = rewritable_of(waits, polls)
            loops = {id(site.node) for _, _, site in polls if site is not None}
            strategy = self.context.config.strategy
            outcome = rewrite(celery, task, rewritable, strategy, suppressed_site, steps)
            for site in rewritable:
                if id(site.node) in loops:
                    continue  # Reported on the loop's condition, below.
                message = wait_message(site)
                if outcome.site is not None and outcome.site.node is site.node:
                    self.report(site.node, message, fix=outcome.fix, help=wait_help(site))
                    continue
                why, part_of_fix = outcome.help_for(site, celery)
                self.report(
                    site.node, message, help=why or wait_help(site), part_of_fix=part_of_fix
                )
            for block in celery.bare_workarounds(task):
                self.report(block, bare_workaround_message(task), help=_BARE_WORKAROUND)
            for loop, text, poll in polls:
                message = poll_message(text, f"task `{task.name}`")
                if poll is not None and outcome.site is not None and outcome.site.node is poll.node:
                    self.report(loop.test, message, fix=outcome.fix, help=_POLL_FIXED)
                    continue
                why, part_of_fix = outcome.help_for(poll, celery) if poll else ("", False)
                default = _POLL if poll is not None else _POLL_FORM
                self.report(loop.test, message, help=why or default, part_of_fix=part_of_fix)
        for helper, path in celery.helpers:
            for site in celery.waits(helper):
                if only_outside_tasks(celery, site.node, helper.function):
                    continue
                fix = ready_fix(site) if site.ready_checked else stored_result_fix(site)
                self.report(
                    site.node, helper_wait_message(site, path), fix=fix, help=helper_help(site, fix)
                )
            for loop, text in celery.polls(helper):
                if not only_outside_tasks(celery, loop, helper.function):
                    self.report(loop.test, poll_message(text, _called_by(helper, path)), help=_POLL)
