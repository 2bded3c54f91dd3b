"""Celery's own names, as qualified names (where Celery defines or re-exports them), and the
kinds the analysis sorts calls and results into: the vocabulary the other modules read.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import libcst as cst
from libcst.metadata import (
    BaseMetadataProvider,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    ScopeProvider,
)

# The providers `CeleryModule` reads; a checker using it lists them in METADATA_DEPENDENCIES.
METADATA = (QualifiedNameProvider, ScopeProvider, ParentNodeProvider, PositionProvider)


# What a checker's `self.metadata` is, and what `MetadataWrapper.resolve_many` returns.
Metadata = Mapping[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]]


RESULT_CLASSES = frozenset(
    {
        "celery.result.AsyncResult",
        "celery.result.GroupResult",
        "celery.result.ResultSet",
        "celery.result.EagerResult",
        "celery.result.ResultBase",
    }
)


GROUP_RESULT_CLASSES = frozenset({"celery.result.GroupResult", "celery.result.ResultSet"})


ALLOW_JOIN_RESULT = frozenset({"celery.result.allow_join_result"})




# Keywords of AsyncResult.get/wait, GroupResult.join/join_native/get and collect: a call with
# any other keyword, or a non-numeric positional argument, is not Celery's wait.
WAIT_KEYWORDS = frozenset(
    {
        "timeout",
        "propagate",
        "interval",
        "no_ack",
        "follow_parents",
        "callback",
        "on_message",
        "on_interval",
        "disable_sync_subtasks",
        "EXCEPTION_STATES",
        "PROPAGATE_STATES",
        "intermediate",
    }
)


DISABLE_SYNC_SUBTASKS = "disable_sync_subtasks"


# Signature methods that return a signature for the same task (`t.s(1).set(countdown=3)`).
_SIGNATURE_COPIES = frozenset({"set", "clone", "set_immutable", "on_error", "replace"})


# Options of apply_async/apply/send_task that are not the task's own arguments.
_DISPATCH_POSITIONALS = ("args", "kwargs")


class CallForm(StrEnum):
    """How a result came to be."""

    DELAY = "delay"  # `t.delay(*a, **k)`, `sig.delay()`
    APPLY_ASYNC = "apply_async"  # `t.apply_async(args, kwargs, **options)`
    APPLY = "apply"  # `t.apply(args, kwargs)`: eager, guarded too (DESIGN §1)
    CALL = "call"  # `sig()`, `group(...)()`, `chord(header)(callback)`
    SEND_TASK = "send_task"  # `app.send_task("name", args, kwargs)`
    INVERT = "invert"  # `~sig`: dispatches and waits in one operator
    ASYNC_RESULT = "AsyncResult"  # `AsyncResult(id)`, `app.AsyncResult(id)`
    GROUP_RESULT_RESTORE = "GroupResult.restore"  # `GroupResult.restore(id)`
    RESULT_SET = "ResultSet"  # `ResultSet(results)` / `GroupResult(id, results)`
    ARGUMENT = "argument"  # a parameter of the task
    UNKNOWN = "unknown"  # only `.get(disable_sync_subtasks=...)` says it is a result
    # A name bound to results of different kinds (`r = AsyncResult(id)`, then, in a branch,
    # `r = t.delay(x)`): which one a wait reads is only known at run time.
    REBOUND = "rebound"


class Canvas(StrEnum):
    """What was dispatched."""

    TASK = "task"  # `t.delay()`: the task itself
    SIGNATURE = "signature"  # `t.s()`, `t.si()`, `signature("name")`
    GROUP = "group"
    CHAIN = "chain"  # `chain(...)` or `a.s() | b.s()`
    CHORD = "chord"
    MAP = "map"  # `t.map(xs)`, `t.starmap(xs)`, `t.chunks(xs, n)`: one task over many items
    NONE = "none"  # looked up, received, or unknown: nothing dispatched here


_CANVAS_FUNCTIONS: dict[str, Canvas] = {
    "celery.group": Canvas.GROUP,
    "celery.canvas.group": Canvas.GROUP,
    "celery.chain": Canvas.CHAIN,
    "celery.canvas.chain": Canvas.CHAIN,
    "celery.canvas._chain": Canvas.CHAIN,
    "celery.chord": Canvas.CHORD,
    "celery.canvas.chord": Canvas.CHORD,
    "celery.canvas._chord": Canvas.CHORD,
    "celery.signature": Canvas.SIGNATURE,
    "celery.Signature": Canvas.SIGNATURE,
    "celery.subtask": Canvas.SIGNATURE,
    "celery.canvas.signature": Canvas.SIGNATURE,
    "celery.canvas.Signature": Canvas.SIGNATURE,
    "celery.canvas.subtask": Canvas.SIGNATURE,
    "celery.canvas.maybe_signature": Canvas.SIGNATURE,
}


class OriginKind(StrEnum):
    DISPATCH = "dispatch"  # this task sent the work: delay/apply_async/apply/send_task/~/call
    LOOKUP = "lookup"  # a result looked up by id: AsyncResult(id), GroupResult.restore(id)
    ARGUMENT = "argument"  # a result received as a task argument
    UNKNOWN = "unknown"
