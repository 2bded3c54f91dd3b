"""The explicit list of rules. Adding a rule: write `transforms/<name>.py`, add a line here.

This module stays free of libcst so that `celerymod rules`, the prefilter and the process
pool's parent never pay for parsing machinery.
"""

from __future__ import annotations

from celerymod.model import FixAvailability, RuleSpec, RunConfig

# A task is defined by a `...task` decorator or a `...Task` subclass: a file mentioning
# neither (nor a configured task decorator) has no task body to look into.
TASK_PATTERNS: tuple[bytes, ...] = (b"task", b"Task")

# The bytes of a wait on a result or of a polling loop: CEL004's and CEL006's findings all
# hold one of them.
_RESULT_WAITS: tuple[bytes, ...] = (
    b".get(",
    b".wait(",
    b".join",
    b".collect(",
    b"~",
    b".ready(",
    b".successful(",
    b".failed(",
    b".state",
    b".status",
)
# Bytes of a file that can hold a Celery result: it names Celery, dispatches or looks one up.
_CELERY_RESULTS: tuple[bytes, ...] = (
    b"celery",
    b"Celery",
    b"delay(",
    b"apply_async(",
    b"send_task(",
    b"AsyncResult",
    b"GroupResult",
)

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        code="CEL001",
        name="blocking-subtask-wait",
        summary="a task waits on another task's result (`.get()`, `.join()`, `~sig`, ...)",
        # Fan-outs, loops of waits, sequences and pipelines are rewritten; the rest is reported.
        fix=FixAvailability.SOMETIMES,
        # Every finding is a wait, a polling loop or `allow_join_result`; `~` covers
        # `~signature`; `.ready(` / `.state` / `.status` the conditions of polling loops.
        patterns=(
            b".get(",
            b".wait(",
            b".join",
            b".collect(",
            b"~",
            b"allow_join_result",
            b"disable_sync_subtasks",
            b".ready(",
            b".successful(",
            b".failed(",
            b".state",
            b".status",
        ),
        module="celerymod.transforms.blocking_subtask_wait",
        in_tasks=True,
        gate="waits-in-tasks",
        needs_index=True,
    ),
    RuleSpec(
        code="CEL002",
        name="nested-task-call",
        summary="a task runs another project task and waits for it: call its body as a helper",
        fix=FixAvailability.ALWAYS,
        # Every finding is a `.get()`/`.wait()` on one dispatched task.
        patterns=(b".get(", b".wait("),
        module="celerymod.transforms.nested_task_call",
        in_tasks=True,
        gate="waits-in-tasks",
        needs_index=True,
    ),
    RuleSpec(
        code="CEL003",
        name="blocking-sleep-in-async",
        summary="`time.sleep` blocks the event loop inside `async def`",
        fix=FixAvailability.SOMETIMES,
        patterns=(b"sleep",),
        requires=(b"async def",),
        module="celerymod.transforms.blocking_sleep_in_async",
        gate="sleep-in-coroutines",
    ),
    RuleSpec(
        code="CEL004",
        name="blocking-result-in-async",
        summary="a wait on a Celery result (`.get()`, a `time.sleep` poll) inside `async def`",
        fix=FixAvailability.SOMETIMES,
        # Every finding is a wait or a polling loop inside a coroutine, on a Celery result: the
        # file says `async def` and names Celery or a dispatch (Django's async ORM code,
        # full of `async def` and `.get(`, is never parsed for it).
        patterns=(b"async def",),
        requires=_CELERY_RESULTS,
        module="celerymod.transforms.blocking_result_in_async",
        gate="waits-in-coroutines",
        needs_index=True,
    ),
    RuleSpec(
        code="CEL005",
        name="dispatch-in-transaction",
        summary="a task is sent inside `transaction.atomic`: the worker may run before the commit",
        # Deferred to `on_commit` unless the dispatch's value is used (or the database is
        # not a literal).
        fix=FixAvailability.SOMETIMES,
        # Every finding is a dispatch inside Django's `atomic` (a `with` or a decorator).
        patterns=(b"atomic",),
        # A called canvas (`group(...)()`) imports it from `celery`; `)(` alone is in most of
        # Django's files.
        requires=(b"delay(", b"apply_async(", b"send_task(", b"celery"),
        module="celerymod.transforms.dispatch_in_transaction",
        gate="dispatch-in-atomic",
        needs_index=True,
    ),
    RuleSpec(
        code="CEL006",
        name="unbounded-result-wait",
        summary="outside tasks, a wait on a Celery result without `timeout=` or a deadline",
        fix=FixAvailability.SOMETIMES,
        # Every finding is a wait or a polling loop (CEL001's patterns, without the
        # workarounds), on a result some dispatch or lookup in the file produced.
        patterns=_RESULT_WAITS,
        requires=(
            b"celery",
            b"delay(",
            b"apply_async(",
            b"apply(",
            b"send_task(",
            b"AsyncResult",
            b"signature(",
            b".s(",
            b".si(",
        ),
        module="celerymod.transforms.unbounded_result_wait",
        needs_index=True,
        # Every view, script and test that waits without a timeout is a finding (97 in
        # Celery's sdist), and looking at every function quadruples the run's cost: opt-in.
        default=False,
    ),
    RuleSpec(
        code="CEL007",
        name="result-keys-scan",
        summary="`KEYS` over Celery's result keys (`celery-task-meta-*`) blocks Redis: use SCAN",
        fix=FixAvailability.SOMETIMES,
        # Every finding is a `.keys(...)` call whose pattern covers Celery's result keys,
        # which start with `celery-task` (`celery-task-meta-`, `celery-taskset-meta-`).
        patterns=(b".keys(",),
        requires=(b"celery",),
        module="celerymod.transforms.result_keys_scan",
        gate="keys-over-results",
    ),
    RuleSpec(
        code="CEL008",
        name="swallowed-task-failure",
        summary="a task's `except Exception:` returns instead of raising: Celery records SUCCESS",
        fix=FixAvailability.NEVER,
        # Every finding is an `except` handler (bare `except:` included) in a task body.
        patterns=(b"except",),
        module="celerymod.transforms.swallowed_task_failure",
        needs_task=True,
        gate="catches-in-tasks",
        needs_index=True,
    ),
    RuleSpec(
        code="CEL009",
        name="crontab-missing-fields",
        summary="`crontab(hour=...)` without `minute` runs every minute of those hours",
        fix=FixAvailability.ALWAYS,
        # Every finding is a call of `celery.schedules.crontab`, however it was imported.
        patterns=(b"crontab",),
        module="celerymod.transforms.crontab_missing_fields",
        gate="crontab-calls",
    ),
)

BY_CODE: dict[str, RuleSpec] = {rule.code: rule for rule in RULES}
# What runs when neither the config nor the command line selects rules.
DEFAULT_CODES: frozenset[str] = frozenset(rule.code for rule in RULES if rule.default)


def matching_rules(source: bytes, config: RunConfig, helpers: bool = False) -> list[RuleSpec]:
    """The selected rules whose byte patterns occur in `source`: the prefilter, no parsing.
    `helpers`: the index says tasks call functions of this file, so it runs task code even
    if nothing in it looks like a task."""
    return [
        rule
        for rule in RULES
        if config.selects(rule.code) and _may_match(rule, source, config, helpers)
    ]


def _may_match(rule: RuleSpec, source: bytes, config: RunConfig, helpers: bool) -> bool:
    if not any(pattern in source for pattern in rule.patterns):
        return False
    if rule.requires and not any(pattern in source for pattern in rule.requires):
        return False
    if rule.in_tasks and helpers:
        return True
    if rule.in_tasks or rule.needs_task:
        decorators = tuple(name.rsplit(".", 1)[-1].encode() for name in config.task_decorators)
        return any(pattern in source for pattern in TASK_PATTERNS + decorators)
    return True


def rule_docs(rule: RuleSpec) -> str:
    """The rule's documentation: the docstring of its transform module, without a last
    paragraph starting with "Size:" (a note for maintainers: why the module is long,
    `tests/test_module_shape.py`)."""
    import importlib

    module = importlib.import_module(rule.module)
    text = (module.__doc__ or "").strip()
    head, _, last = text.rpartition("\n\n")
    if head and last.startswith("Size:"):
        text = head.rstrip()
    return text + "\n"
