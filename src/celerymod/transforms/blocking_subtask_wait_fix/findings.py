"""What CEL001 says of a finding: its one-line message and its `help:` line, for waits in
tasks and helpers, polling loops and bare workarounds (the why is in the rule's docs)."""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.syntax import describe
from celerymod.transforms.base import Fix

# A finding's line says what and where, ruff-short; the why is its `help:` line, in short,
# and `celerymod explain CEL001` at length.
_GUARD = "a worker raises `RuntimeError: Never call result.get() within a task!` here, or deadlocks"
_READY = "the result is ready (`.ready()` was checked), but Celery's guard raises before looking"
_DEADLOCK = "that silences Celery's guard: the worker deadlocks once every pool process waits"


def wait_message(site: WaitSite) -> str:
    """The finding's one-line message for a wait: the wait, the task, and its workaround."""
    return f"`{_wait_text(site)}` waits on a subtask inside task `{site.task.name}`{_risk(site)}"


def _risk(site: WaitSite) -> str:
    """The workaround the wait sits in, as the end of its finding's line."""
    if site.workaround is None:
        return ""
    if site.workaround.kind == "allow_join_result":
        return " under `allow_join_result()`"
    return " with `disable_sync_subtasks=False`"


def wait_help(site: WaitSite) -> str:
    """Why the wait is a finding, in one short line (`help:`)."""
    if site.ready_checked:
        return _READY
    return _GUARD if site.workaround is None else _DEADLOCK


def _called_by(helper: Task, path: tuple[str, ...]) -> str:
    """`` `helper`, which task `do` calls (`do -> worker_do -> helper`) ``."""
    chain = " -> ".join(name.rpartition(".")[2] for name in path)
    task = path[0].rpartition(".")[2]
    return f"`{helper.name}`, which task `{task}` calls (`{chain}`)"


def poll_message(polled: str, where: str) -> str:
    """A `while` loop polling a result until it is ready, inside a task or a helper."""
    return f"`while` polls `{polled}` inside {where}"


_POLL_FIXED = "the loop holds a worker process like `.get()`"
_POLL = f"{_POLL_FIXED}; not fixed automatically: let a chord or chain run the code after the loop"
# A loop on another condition: `res.status == "PENDING"` ends on `STARTED` or `RETRY` too.
_POLL_FORM = (
    f"{_POLL}; only `while not res.ready():` and `while res.state not in READY_STATES:` are "
    "rewritten (a loop on another condition may end before the result is ready)"
)


def helper_wait_message(site: WaitSite, path: tuple[str, ...]) -> str:
    """A wait in a plain function that a task calls: it runs in the task's worker process,
    so it is the same mistake, reported at the wait with the calls that lead to it."""
    wait = f"`{_wait_text(site)}` waits on a subtask inside {_called_by(site.task, path)}"
    return f"{wait}{_risk(site)}"


def helper_help(site: WaitSite, fix: Fix | None = None) -> str:
    if fix is not None:
        return wait_help(site)  # Its fix says what changes.
    return (
        "not fixed automatically: the wait is in a helper (rewrite the task that calls it into "
        "a chord or chain, or pass the helper the finished value)"
    )


def bare_workaround_message(task: Task) -> str:
    """The message for a `with allow_join_result():` block holding no wait celerymod sees."""
    return f"`with allow_join_result():` inside task `{task.name}` silences Celery's guard"


_BARE_WORKAROUND = (
    "any wait on a subtask in it deadlocks the worker once every pool process waits (solo "
    "pool, `-c 1`, or two such tasks at once)"
)


def _wait_text(site: WaitSite) -> str:
    node = site.node
    if not isinstance(node, cst.Call):  # `~sig` (a polling loop's condition is not shown).
        return describe(node)
    arguments = "(...)" if node.args else "()"
    if not isinstance(node.func, cst.Attribute):  # A bound wait method: `join(timeout=30)`.
        return f"{describe(node.func)}{arguments}"
    return f"{describe(node.func.value)}.{node.func.attr.value}{arguments}"
