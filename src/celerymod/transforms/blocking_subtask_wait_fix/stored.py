"""CEL001's fix for a wait that only reads a stored outcome: `AsyncResult(id).get(propagate=
False)`, as error callbacks (`link_error`) and cleanup tasks write it, becomes `.result`.

The task did not send that result (it looked it up by id), so no chord or chain can replace
the wait. What the code wants is the outcome Celery stored: with `propagate=False` the wait
returns the task's value or, for a failure, its exception instance, which is exactly what
`AsyncResult.result` reads from the backend, without waiting and without Celery's guard. The
two differ only while the task has not finished: `.result` is None there instead of a wait
(or, with `timeout=`, instead of `TimeoutError`). Hence `review`.

A `with allow_join_result():` that held only this wait (besides logging and string
formatting) goes with it: nothing in it waits any more, and left alone it would be reported
next as a workaround holding no wait.
"""

from __future__ import annotations

from typing import cast

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import source_text
from celerymod.analysis.vocabulary import CallForm, OriginKind
from celerymod.model import Safety
from celerymod.transforms.base import Fix, Replacement, walk

# Keywords such a wait may pass and still be only a read of the stored outcome.
_READ_KEYWORDS = frozenset({"propagate", "timeout", "interval", "disable_sync_subtasks"})
# Calls a `with allow_join_result():` may hold besides the wait and still be dropped with it:
# none of them can wait on a result (logging, string formatting, the lookup by id).
_HARMLESS_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "format"}
)
_HARMLESS_FUNCTIONS = frozenset({"print", "str", "repr", "len", "format", "AsyncResult"})


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
    waited = " or `TimeoutError`" if "timeout" in keywords else ""
    message = (
        f"read `{source_text(receiver)}.result` instead: the value (or, for a failure, "
        "the exception) Celery stored, as `get(propagate=False)` returned it, without "
        "waiting and without the guard; it differs only while the task is still running "
        f"(None there instead of a wait{waited}; an error callback's task has always "
        "finished)"
    )
    unwrapped = _unwrapped(site, replacement)
    if unwrapped is None:
        return Fix(message=message, safety=Safety.REVIEW, replacements=((call, replacement),))
    block, statements, removed = unwrapped
    return Fix(
        message=message + "; the `with allow_join_result():` around it goes too",
        safety=Safety.REVIEW,
        replacements=((block, statements),),
        remove_imports=removed,
    )


def _unwrapped(
    site: WaitSite, replacement: cst.BaseExpression
) -> tuple[cst.With, Replacement, tuple[ImportItem, ...]] | None:
    """The `with allow_join_result():` around the wait, its body (with the wait replaced)
    to put in its place, and the import to drop if unused; None unless the block holds only
    this wait and calls that cannot wait (logging, formatting, `AsyncResult(id)`)."""
    workaround = site.workaround
    if workaround is None or workaround.kind != "allow_join_result":
        return None
    block = workaround.node
    if not isinstance(block, cst.With) or len(block.items) != 1 or block.asynchronous:
        return None
    body = block.body
    if not isinstance(body, cst.IndentedBlock) or body.header.comment is not None:
        return None  # A comment on the `with` line would have no place to go.
    if block.items[0].asname is not None:
        return None
    for node in walk(body):
        if isinstance(node, cst.Call) and node is not site.node and not _harmless(node):
            return None
    new_body = cast(cst.IndentedBlock, body.deep_replace(site.node, replacement))
    statements = list(new_body.body)
    if not statements or body.footer:
        return None
    first = statements[0]
    if not isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement):
        return None
    # Blank lines and comments above the `with` stay above what was its first statement.
    statements[0] = first.with_changes(leading_lines=[*block.leading_lines, *first.leading_lines])
    func = block.items[0].item.func if isinstance(block.items[0].item, cst.Call) else None
    removed: tuple[ImportItem, ...] = ()
    if isinstance(func, cst.Name):
        alias = None if func.value == "allow_join_result" else func.value
        removed = (ImportItem("celery.result", "allow_join_result", alias),)
    return block, cst.FlattenSentinel(statements), removed


def _harmless(call: cst.Call) -> bool:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value in _HARMLESS_METHODS or func.attr.value == "AsyncResult"
    return isinstance(func, cst.Name) and func.value in _HARMLESS_FUNCTIONS
