"""CEL001's fix for a wait that only reads a stored outcome: `AsyncResult(id).get(propagate=
False)`, as error callbacks (`link_error`) and cleanup tasks write it, becomes `.result`.

The task did not send that result (it looked it up by id), so no chord or chain can replace
the wait. What the code wants is the outcome Celery stored: with `propagate=False` the wait
returns the task's value or, for a failure, its exception instance, which is exactly what
`AsyncResult.result` reads from the backend, without waiting and without Celery's guard. The
two differ only while the task has not finished: `.result` is None there instead of a wait
(or, with `timeout=`, instead of `TimeoutError`). Hence `review`.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import source_text
from celerymod.analysis.vocabulary import CallForm, OriginKind
from celerymod.model import Safety
from celerymod.transforms.base import Fix

# Keywords such a wait may pass and still be only a read of the stored outcome.
_READ_KEYWORDS = frozenset({"propagate", "timeout", "interval", "disable_sync_subtasks"})


def stored_result_fix(site: WaitSite) -> Fix | None:
    """`res.get(propagate=False)` on a result looked up by id -> `res.result`; None for any
    other wait (a value that propagates, a group, a positional argument, `callback=`)."""
    call = site.node
    origin = site.origin
    if (
        site.method != "get"
        or origin.kind is not OriginKind.LOOKUP
        or origin.form is not CallForm.ASYNC_RESULT
        or not isinstance(call, cst.Call)
        or not isinstance(call.func, cst.Attribute)
    ):
        return None
    keywords = {}
    for arg in call.args:
        if arg.keyword is None or arg.star or arg.keyword.value not in _READ_KEYWORDS:
            return None
        keywords[arg.keyword.value] = arg.value
    propagate = keywords.get("propagate")
    if not (isinstance(propagate, cst.Name) and propagate.value == "False"):
        return None
    receiver = call.func.value
    replacement = cst.Attribute(value=receiver, attr=cst.Name("result"))
    waited = "or `TimeoutError` " if "timeout" in keywords else ""
    return Fix(
        message=(
            f"read `{source_text(receiver)}.result` instead: the value (or, for a failure, "
            "the exception) Celery stored, as `get(propagate=False)` returned it, without "
            "waiting and without the guard; it differs only while the task is still running "
            f"(None there instead of a wait {waited}; an error callback's task has always "
            "finished)"
        ),
        safety=Safety.REVIEW,
        replacements=((call, replacement),),
    )
