"""Which `while not res.ready():` loops CEL001's rewrite may drop, and what dropping them
loses: the loop becomes the chord or chain's wait, so its body must do nothing the code
after the loop could miss.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.syntax import describe
from celerymod.transforms.base import walk
from celerymod.transforms.blocking_subtask_wait_fix.common import _BY_HAND, Refused

# Methods of a logger (`logging`, `logging.getLogger(...)`, Celery's `get_task_logger`).
_LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
# Names that say they hold a logger (besides `...logger`).
_LOG_NAMES = frozenset({"log", "_log", "logging"})
# What a loop body may read of the polled result: its state, never its value.
_STATE_FIELDS = frozenset({"state", "status"})
_STATE_METHODS = frozenset({"ready", "successful", "failed"})
_SLEEPS = frozenset({"time.sleep"})


def dropped_by_poll(
    celery: CeleryModule, loop: cst.While, receiver: str
) -> tuple[list[str], list[ImportItem]]:
    """The statements of the polling loop's body that have an effect the rewrite drops
    (`print(...)`, `logger.info(...)`), as short texts (none when the body only sleeps or
    passes), and the imports its sleeps used (removed if nothing else uses them). Refused
    when the body does anything else (assigns, calls another function, breaks out): the
    code after the loop may depend on it."""
    if loop.orelse is not None:
        raise Refused("the polling loop has an `else`; " + _BY_HAND)
    body = loop.body
    smalls: list[cst.BaseSmallStatement] = []
    if isinstance(body, cst.SimpleStatementSuite):
        smalls = list(body.body)
    else:
        for statement in body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                raise Refused(_more(statement))
            smalls += statement.body
    dropped: list[str] = []
    sleeps: list[ImportItem] = []
    for small in smalls:
        if isinstance(small, cst.Pass):
            continue
        value = small.value if isinstance(small, cst.Expr) else None
        if value is None:
            raise Refused(_more(small))
        kind = _kind(celery, value, receiver)
        if kind is None:
            raise Refused(_more(small))
        if kind == "sleep":
            assert isinstance(value, cst.Call)
            sleeps += _sleep_import(value.func)
        else:
            dropped.append(f"`{describe(small)}`")
    return dropped, sleeps


def _sleep_import(func: cst.BaseExpression) -> list[ImportItem]:
    """The import `time.sleep` / `sleep` was spelled through (`import time`, `from time
    import sleep as nap`): the engine removes it only where nothing else uses it."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        alias = func.value.value
        return [ImportItem("time", alias=None if alias == "time" else alias)]
    if isinstance(func, cst.Name):
        return [ImportItem("time", "sleep", None if func.value == "sleep" else func.value)]
    return []


def _more(node: cst.CSTNode) -> str:
    return (
        "the polling loop's body does more than sleep, print, log or read the result's state "
        f"(`{describe(node)}`), which the code after it may depend on; " + _BY_HAND
    )


def _kind(celery: CeleryModule, value: cst.BaseExpression, receiver: str) -> str | None:
    """ "sleep", "print", "log" or "state" for what a statement of the body may be, else
    None."""
    if _state_read(value, receiver):
        return "state"
    if not isinstance(value, cst.Call) or not all(_harmless(a.value, receiver) for a in value.args):
        return None
    names = celery.dotted_names(value.func)
    if names & _SLEEPS:
        return "sleep"
    if "builtins.print" in names:
        return "print"
    func = value.func
    if isinstance(func, cst.Attribute) and func.attr.value in _LOG_METHODS:
        owner = func.value
        last = owner.attr.value if isinstance(owner, cst.Attribute) else None
        last = owner.value if isinstance(owner, cst.Name) else last
        # `logging.info`, `logger.info`, `log.debug`, `self.logger.warning`: a name that
        # says it is a logger (celerymod does not follow what `getLogger` returns).
        named = last is not None and (last.lower() in _LOG_NAMES or last.lower().endswith("logger"))
        if "logging" in celery.dotted_names(owner) or named:
            return "log"
    return None


def _state_read(value: cst.BaseExpression, receiver: str) -> bool:
    """`res.status`, `res.state`, `res.ready()`: a read of the polled result's state."""
    if isinstance(value, cst.Call) and not value.args:
        value = value.func
        fields = _STATE_METHODS
    else:
        fields = _STATE_FIELDS
    return (
        isinstance(value, cst.Attribute)
        and value.attr.value in fields
        and isinstance(value.value, cst.Name)
        and value.value.value == receiver
    )


def _harmless(argument: cst.BaseExpression, receiver: str) -> bool:
    """An argument whose evaluation changes nothing: literals, names, attributes, f-strings
    and operators over them, and reads of the polled result's state; no other call."""
    for node in walk(argument):
        if isinstance(node, cst.Call):
            if not _state_read(node, receiver):
                return False
        elif isinstance(node, cst.NamedExpr | cst.Await | cst.Yield | cst.Lambda):
            return False
    return True
