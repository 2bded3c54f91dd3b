"""# CEL002 nested-task-call

## What it does
Finds, inside the body of a Celery task, a single waited call of another task that the
scanned project defines: `score.delay(x).get()`, `r = score.apply_async(args=[x]); r.get()`,
`score.apply(args=[x]).get()`, `score.s(x).delay().get()`, also inside a loop or a
comprehension (`[score.delay(i).get() for i in ids]`). The called task may live in the same
module or in another scanned module, reached through absolute or relative imports, with or
without an alias (`from .scoring import score_task as score`, `import shop.scoring as s`).

It takes precedence over CEL001 (blocking-subtask-wait) for these sites: CEL001 does not
report them while CEL002 is selected. Two or more waits in a row (a sequence or pipeline of
tasks), waits on a group or chord, and waits on results looked up by id stay CEL001's. Waits
in different branches of one `if` are apart: a single waited call in each branch is
CEL002's, as it would be alone in the task.

Left to CEL001, whose message says why: a `bind=True` task whose body uses `self` (its
request, retries or state have no meaning in a plain function) and any task whose body
reads the running task another way (`current_task`, `score_task.request`), a class-based task, a task
defined outside the scanned paths, a task built by a factory or assigned dynamically
(`score_task = app.task(score)`), a result used for more than the one wait, `**options` in an
`apply_async` call (arguments and dispatch options cannot be told apart), and a task in
the caller's own module whose helper name the calling function binds locally (`score = 0`
before `score += score_task.delay(i).get()`: the call `score(i)` would reach the local).

## Why is this bad?
A task that sends another task through the broker and waits for it holds a worker process
while the subtask needs one. Inside a real worker Celery refuses: the wait raises
`RuntimeError: Never call result.get() within a task!`, and `task.apply(...).get()` too.
When the work is the project's own code, there is no reason to go through the
broker at all: call the code.

## Example
```python
# shop/scoring.py
@shared_task
def score_task(item_id, weight=1):
    # Score one item.
    return compute(item_id) * weight

# shop/batch.py
from shop.scoring import score_task

@shared_task
def score_all(ids):
    return [score_task.delay(i, weight=2).get() for i in ids]  # CEL002
```

## Use instead
Move the task's body into a plain function beside it; the task stays, as a one-line wrapper
(same decorator, name and signature, so its other callers and its registered name are
unaffected); the caller calls the function.
```python
# shop/scoring.py
def score(item_id, weight=1):
    # Score one item.
    return compute(item_id) * weight


@shared_task
def score_task(item_id, weight=1):
    return score(item_id, weight)

# shop/batch.py
from shop.scoring import score

@shared_task
def score_all(ids):
    return [score(i, weight=2) for i in ids]
```
The helper is named after the task without a trailing `_task` (`<task name>_impl` when it has
none), with `_2`, `_3`, ... when that name is taken in the task's module (also by a
function's `global` statement) or is a builtin's (`sum_task` gets `sum_2`: a module-level
`sum` would shadow the builtin); it is public (no
leading underscore) because other modules import it. The caller's import of the task goes
when nothing else in the module uses it, and the helper's name joins the imports in isort's
order. Its parameters, defaults, annotations, docstring and
comments move with the body, and so do the decorators listed below the task decorator (they
wrapped the body: `@shared_task` then `@with_session`). A `bind=True` task that does not use
`self` gets a helper without the `self` parameter. A task of the caller's module that
already is such a wrapper (its whole body `return _score(item_id, weight)`, its own
parameters passed on unchanged, `_score` taking the same parameters and defaults) is called
through `_score` directly; one whose call maps
them (`_score(item_id, weight=3)`) is extracted like any other. The call passes the same arguments:
`delay(*a, **k)`, `apply_async(args=..., kwargs=...)` / `apply(...)` (literal or names,
spread with `*`/`**`, as `*(args or ())` / `**(kwargs or {})` unless they are displays
or names bound only to displays: Celery takes None for either), `.s(...).delay()`. The helper is imported where the caller imports
the task (added to that `from ... import`, relative imports stay relative; a new
`from <module> import helper` when the task came through a re-export), or reached as
`module.helper` when the caller names the task through its module; under an alias
(`score as score_2`) when the caller's module or the calling function binds that name
already. One fix edits both
files and is one change in the diff and in `fix --interactive`; several callers of one task
extract it once.

## Fix safety
Safe only when nothing but the broker round trip is lost: the call has no dispatch options,
the wait no arguments, and the called task no decorator options besides `name=` and
`bind=True` (the wrapper keeps its name; a `bind` task whose body uses `self` is not
extracted) and no decorators below its task decorator: those move into the helper with the
body while the wrapper repeats the body's parameters, so one that supplies or changes
arguments (`@with_session` passing a session) leaves the wrapper with a signature its
callers do not send (review, the decorators named). The body then runs in the calling worker process instead of another one, with the
same arguments, and returns the same value (exceptions propagate as they did through
`.get()`).

The arguments and the value no longer go through the serializer (with JSON a tuple came
back a list, and an `int` dict key a `str`). That does not make the fix review: the only
runs in which the original returned a value at all are eager ones (`task_always_eager`,
`.apply()`), which do not serialize either, so they get exactly what the helper returns. On a
worker the original never returned: Celery's guard raised. Where a workaround
(`allow_join_result()`, `disable_sync_subtasks=False`) let it return a serialized value, the
wait is CEL001's, whose fixes are review.

Review, with each lost option named in the fix's message, when:
- the call has dispatch options (`countdown`, `queue`, `routing_key`, `priority`, `expires`,
  ...): they are dropped;
- the called task declares options that act on the dispatched task and not on a plain call:
  routing (`queue`, `routing_key`, `exchange`, `priority`), a custom `base=` Task class (its
  `__call__`, `before_start`, `after_return`, `on_failure` hooks do not run: a base that
  opens an app context or a database session leaves the body without it), `acks_late`,
  `time_limit`, `soft_time_limit`, `rate_limit`, `autoretry_for`, `max_retries` and the other
  retry options, `ignore_result`, `serializer`, ...;
- the wait has arguments (`.get(timeout=30)`, `propagate=False`): a timeout no longer bounds
  the call, and the other arguments no longer apply.
- code runs between the dispatch and the wait (`res = t.delay(x)`, `log(...)`, then
  `res.get()`): the body now runs where the task was sent, before that code, so a failure of
  the task no longer lets that code run (it raised at the wait). Adjacent, the two become one
  call and nothing moves.

A task routed to its own queue usually needs its own workers: a GPU box, a host with the
credentials, a pool sized for slow I/O, a concurrency of one for work that must not overlap.
After the fix its body runs wherever the caller runs. When that is wrong, keep the dispatch
and make the caller not wait: chain the next step (CEL001's fix) instead of taking this one.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA, CallForm
from celerymod.model import ForeignEdit, Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix, ModuleContext, Replacement
from celerymod.transforms.nested_task_call_fix import edits, sites
from celerymod.transforms.nested_task_call_fix.sites import Plan

# The why, shown as the finding's `help:` line; its line says what and where.
_GUARD = "a worker raises `RuntimeError: Never call result.get() within a task!` here"


class Checker(BaseChecker):
    CODE = "CEL002"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        celery = CeleryModule.from_context(node, self.metadata, self.context)
        for task in celery.tasks:
            for site in celery.waits(task):
                plan = sites.analyze(site, celery)
                if isinstance(plan, Plan):
                    self.report(site.node, _message(plan), fix=_fix(plan), help=_GUARD)

    @classmethod
    def foreign_fix(
        cls, context: ModuleContext, wrapper: cst.MetadataWrapper, payload: tuple[object, ...]
    ) -> Fix | None:
        """`(qualified name, helper)`: extract that task of this file into that helper."""
        qualified, helper = payload
        metadata = wrapper.resolve_many(METADATA)
        celery = CeleryModule.from_context(wrapper.module, metadata, context)
        task = next((t for t in celery.tasks if t.definition.qualified_name == qualified), None)
        if task is None or edits.wrapped_helper(task, wrapper.module) == helper:
            return None  # Gone, or already extracted (by this file's own fix).
        # A task that wraps a helper of another name (`return _score(x)`) is extracted all
        # the same: the caller imports `helper`, which must exist.
        return Fix(
            message=f"move the body of task `{task.name}` into `{helper}`",
            safety=Safety.SAFE,
            replacements=(edits.extraction(task, str(helper)),),
        )


def _message(plan: Plan) -> str:
    wait = describe(plan.site.node)
    # `.apply()` runs the task in this process (an EagerResult), not through the broker;
    # its `.get()` is refused all the same.
    how = "in this process" if plan.site.origin.form is CallForm.APPLY else "through the broker"
    return (
        f"`{wait}` runs project task `{plan.callee.name}` {how} and waits for it "
        f"inside task `{plan.site.task.name}`"
    )


def _safety(plan: Plan) -> Safety:
    """Safe only when nothing of the dispatch, the wait or the task's options is lost."""
    if plan.options or plan.lost or plan.wait_options or _stacked_note(plan):
        return Safety.REVIEW
    if plan.moved_ahead is not None:
        return Safety.REVIEW
    return Safety.SAFE


def _stacked_note(plan: Plan) -> str:
    """The decorators below the task decorator move with the body into the helper, and the
    wrapper repeats the body's own parameters: a decorator that supplies or changes
    arguments (`@with_session` passing a session) leaves the wrapper with a signature the
    task's callers do not send."""
    if plan.already_extracted or not plan.callee.stacked:
        return ""
    names = ", ".join(f"`@{name}`" for name in plan.callee.stacked)
    return (
        f"{names} move{'s' if len(plan.callee.stacked) == 1 else ''} into `{plan.helper}` "
        f"with the body, and the wrapper `{plan.callee.name}` repeats the body's parameters: "
        "check no decorator supplies or changes arguments, or its other callers break"
    )


def _fix(plan: Plan) -> Fix:
    call = describe(plan.call)
    if plan.already_extracted:
        parts = [f"call `{call}` directly (task `{plan.callee.name}` wraps `{plan.helper}`)"]
    elif plan.local is not None:
        moves = f"the body of task `{plan.callee.name}` moves into `{plan.helper}`"
        parts = [f"call `{call}` directly; {moves}"]
    else:
        moves = f"the body of task `{plan.callee.name}` moves into `{plan.helper}`"
        parts = [f"call `{call}` directly; {moves} in {plan.callee.path}"]
    if plan.options:
        dropped = ", ".join(f"`{name}`" for name in plan.options)
        parts.append(f"dispatch options dropped: {dropped}")
    if plan.lost:
        lost = ", ".join(f"`{name}`" for name in plan.lost)
        parts.append(f"the task's options no longer apply to this call: {lost}")
    if plan.routed:
        routed = ", ".join(f"`{name}`" for name in plan.routed)
        parts.append(f"the body runs in the caller's worker, outside the routing of {routed}")
    if plan.wait_options:
        waited = ", ".join(f"`{text}`" for text in plan.wait_options)
        parts.append(f"the wait's {waited} no longer applies: nothing bounds the call")
    if _stacked_note(plan):
        parts.append(_stacked_note(plan))
    if plan.moved_ahead is not None:
        parts.append(
            f"the body now runs where the task was sent (line {plan.moved_ahead}), before the "
            "code between that and the wait, which a failure of the task no longer lets run "
            "(it raised at the wait)"
        )
    replacements: list[tuple[cst.CSTNode, Replacement]] = list(
        plan.site_edits
    )
    foreign: tuple[ForeignEdit, ...] = ()
    if plan.local is not None and not plan.already_extracted:
        replacements.append(edits.extraction(plan.local, plan.helper))
    elif plan.local is None:
        foreign = (
            ForeignEdit(
                path=plan.callee.path,
                code=sites.CODE,
                payload=(plan.callee.qualified_name, plan.helper),
            ),
        )
    if plan.import_edit is not None:
        replacements.append(plan.import_edit)
    add_imports: tuple[ImportItem, ...] = ()
    if plan.add_import is not None:
        module, name, level, alias = plan.add_import
        add_imports = (ImportItem(module, name, alias=alias, relative=level),)
    remove_imports: tuple[ImportItem, ...] = ()
    if plan.unused_import is not None:
        module, name, alias = plan.unused_import
        remove_imports = (ImportItem(module, name, alias=alias),)
    return Fix(
        message="; ".join(parts),
        safety=_safety(plan),
        replacements=tuple(replacements),
        add_imports=add_imports,
        remove_imports=remove_imports,
        foreign=foreign,
    )
