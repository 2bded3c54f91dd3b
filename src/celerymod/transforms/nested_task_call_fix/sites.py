"""Nested task calls (CEL002): which waits run one project task whose body can move into a
plain helper, and the edits that do it. Shared by CEL002's checker and by CEL001, which
leaves to CEL002 the sites `claims` answers True for.

    from celerymod.transforms.nested_task_call_fix.sites import claims
    if claims(site, celery, context.config):   # CEL002 is selected and reports this site
        continue

`analyze(site, celery)` answers a `Plan` (extractable), a `str` (a nested call of a task the
project may define, but not extractable: why, for CEL001's message; see `unclaimed_reason`)
or None (not a single waited call of one task: CEL001's business alone).

The helper's name is derived from the callee module's module-level names only (the project
index's `IndexEntry` for another module, the tree for this one), so every caller, in any
module, and the callee's own file agree on it without talking to each other.

The edits a `Plan` is made of are built in edits.py: the helper's name, the caller's
import of it, and the extraction of the task's body into the helper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import libcst as cst
from libcst.metadata import Assignment, GlobalScope

from celerymod.analysis.arguments import call_arguments
from celerymod.analysis.index import TaskDefinition
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.syntax import describe, source_text
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind
from celerymod.model import RunConfig
from celerymod.transforms.base import Replacement, walk
from celerymod.transforms.blocking_subtask_wait_fix.rewrite import shapes
from celerymod.transforms.nested_task_call_fix.edits import (
    _EQUAL,
    _caller_import,
    entry_names,
    helper_name,
    module_names,
    task_import,
    wrapped_helper,
)

CODE = "CEL002"


# Decorator options that mean the same for a direct call of the body: the registered name
# (the wrapper keeps it) and `bind` (a helper is only made when the body does not use `self`).
# Every other option (`queue`, `routing_key`, `priority`, `base`, `acks_late`, time and rate
# limits, retries, `ignore_result`, `serializer`, ...) acted on the dispatched task: a plain
# call no longer gets it, so the fix is review and its message names the option.
KEPT_OPTIONS = ("name", "bind")


# Options (of the decorator or the dispatch) that choose which workers run the body.
ROUTING_OPTIONS = ("queue", "routing_key", "exchange", "priority")


_SUPPORTED_FORMS = (CallForm.DELAY, CallForm.APPLY_ASYNC, CallForm.APPLY)


@dataclass(frozen=True)
class Plan:
    """An extractable nested call: what the site becomes and where the helper lives.

    `callee` is the called task's definition; `local` its live `Task` when it is defined in
    the module being checked (then the extraction is part of this file's fix), else None
    (the extraction is a `ForeignEdit` to `callee.path`). `helper` is the helper's name;
    `helper_expr` is how the caller spells it; `import_edit` is a replacement of the caller's
    `from ... import` statement that adds the helper (None: nothing to import, or
    `add_import` says what to add as a new statement). `options` are the dispatch options
    dropped, `lost` the callee's decorator options that stop applying (outside
    `KEPT_OPTIONS`), `wait_options` the wait's own arguments (`timeout=30`), dropped too.
    """

    site: WaitSite
    callee: TaskDefinition
    local: Task | None
    helper: str
    helper_expr: cst.BaseExpression
    call: cst.Call
    site_edits: tuple[tuple[cst.CSTNode, Replacement], ...]
    import_edit: tuple[cst.CSTNode, cst.CSTNode] | None
    add_import: tuple[str, str, int, str | None] | None  # (module, name, level, alias)
    unused_import: tuple[str, str, str | None] | None  # the task's import, see `task_import`
    options: tuple[str, ...]
    lost: tuple[str, ...]
    already_extracted: bool
    wait_options: tuple[str, ...] = ()
    # The line of the dispatch, when code sits between it and the wait: the body now runs
    # (and fails) there, before that code.
    moved_ahead: int | None = None

    @property
    def routed(self) -> tuple[str, ...]:
        """The routing options, of the dispatch or of the task, that the call loses."""
        names = (*self.options, *(lost.partition("=")[0] for lost in self.lost))
        return tuple(dict.fromkeys(n for n in names if n in ROUTING_OPTIONS))


def claims(site: WaitSite, module: CeleryModule, config: RunConfig) -> bool:
    """True when CEL002 is selected and reports (and fixes) this wait: CEL001 skips it."""
    return config.selects(CODE) and isinstance(analyze(site, module), Plan)


def unclaimed_reason(site: WaitSite, module: CeleryModule, config: RunConfig) -> str | None:
    """Why CEL002 does not take this single waited call of one task, when it looks like a
    nested task call (for CEL001's message: "not extracted into a helper: <reason>")."""
    if not config.selects(CODE):
        return None
    found = analyze(site, module)
    return found if isinstance(found, str) else None


def analyze(site: WaitSite, module: CeleryModule) -> Plan | str | None:
    cache: dict[int, Plan | str | None] = module.__dict__.setdefault("_nested_calls", {})
    key = id(site.node)
    if key not in cache:
        cache[key] = _analyze(site, module)
    return cache[key]


def _analyze(site: WaitSite, module: CeleryModule) -> Plan | str | None:
    origin = site.origin
    if site.workaround is not None or origin.kind is not OriginKind.DISPATCH:
        return None
    if site.bound_method is not None:
        return None  # `j = res.join`, `j()`: CEL001 reports it, nothing rewrites it.
    if origin.form not in _SUPPORTED_FORMS or origin.collection is not None:
        return None
    if origin.canvas not in (Canvas.TASK, Canvas.SIGNATURE) or origin.call is None:
        return None
    if not _single_wait(site, module):
        return None
    task_expr = origin.task_expr
    if task_expr is None:
        return None
    call = origin.call
    assert isinstance(call.func, cst.Attribute)
    if origin.canvas is Canvas.SIGNATURE:
        signature = origin.signature
        if (
            signature is not call.func.value
            or not isinstance(signature, cst.Call)
            or not isinstance(signature.func, cst.Attribute)
            or signature.func.attr.value not in ("s", "si")
            or signature.func.value is not task_expr
        ):
            return None
        own = call_arguments(call, origin.form)
        if own.args or own.kwargs or own.star_args or own.star_kwargs:
            return None
    elif call.func.value is not task_expr:
        return None
    name = describe(task_expr)
    callee = origin.task
    if callee is None:
        return _unknown_task_reason(task_expr, module, name)
    if (
        callee is site.task.definition
        or callee.qualified_name == site.task.definition.qualified_name
    ):
        return None
    if callee.kind != "function":
        return f"`{name}` is a class-based task: its `run` method cannot move into a helper"
    if callee.qualified_name != f"{callee.module or '__main__'}.{callee.name}":
        return f"`{name}` is not defined at module level"
    if callee.bind and callee.uses_self:
        return (
            f"`{name}` is a `bind=True` task whose body uses `self` (request, retries, "
            "state): a plain helper has no `self`"
        )
    if callee.uses_self:
        return (
            f"`{name}`'s body reads the running task (`current_task`, or its own "
            "`.request`): called as a helper, that is the caller's request or none"
        )
    if origin.form in (CallForm.APPLY_ASYNC, CallForm.APPLY) and any(
        arg.star == "**" for arg in call.args
    ):
        return f"`**` in `{describe(call)}` may hold arguments or dispatch options"
    placement, reason = _site_placement(site, module)
    if reason is not None:
        return reason
    local = next(
        (t for t in module.tasks if t.definition.qualified_name == callee.qualified_name), None
    )
    if local is None and callee.module == module.module_name and callee.path == module.path:
        return f"celerymod cannot find `{name}`'s definition in this module"
    locals_here = _local_names(module, site.node)
    if local is not None:
        existing = wrapped_helper(local, module.module)
        helper = existing or helper_name(callee.name, module_names(module))
        already = existing is not None
        helper_expr: cst.BaseExpression = cst.Name(helper)
        import_edit = None
        add_import = None
    else:
        entry = module.index.entry(callee.module) if module.index and callee.module else None
        if entry is None:
            return f"`{name}` is defined outside the scanned paths"
        helper = helper_name(callee.name, entry_names(entry))
        already = False
        found = _caller_import(task_expr, module, callee, helper, locals_here)
        if isinstance(found, str):
            return found
        helper_expr, import_edit, add_import = found
    if isinstance(helper_expr, cst.Name) and helper_expr.value in locals_here:
        # The helper is a module-level name every module derives alike; a local of that
        # name is what a call here would reach (`score = 0`, then `score(i)`).
        return (
            f"the helper's name `{helper_expr.value}` is bound locally in `{site.task.name}`, "
            "where a call would reach that instead: rename the local first"
        )
    arguments = origin.arguments()
    if arguments is None:
        return None
    if origin.canvas is Canvas.SIGNATURE:
        assert isinstance(origin.signature, cst.Call)
        args = list(origin.signature.args)
        options = call_arguments(call, origin.form).options
    elif origin.form is CallForm.DELAY:
        args = list(call.args)
        options = ()
    else:
        args = _arguments_of(arguments, module)
        options = arguments.options
    args = _without_trailing_comma(args)
    helper_call = cst.Call(func=helper_expr, args=args)
    site_edits: tuple[tuple[cst.CSTNode, Replacement], ...]
    moved_ahead: int | None = None
    if placement is None:
        site_edits = ((site.node, helper_call),)
    else:
        merged = _merged(site, module, helper_call)
        site_edits = merged or ((call, helper_call), (site.node, cst.Name(placement)))
        if merged is None and not _next_statement(site, module):
            # The body runs at the dispatch, before the code in between.
            position = module._position(call)
            moved_ahead = position.start.line if position is not None else 0
    lost = tuple(_lost_option(key, text) for key, text in callee.options if key not in KEPT_OPTIONS)
    return Plan(
        site=site,
        callee=callee,
        local=local,
        helper=helper,
        helper_expr=helper_expr,
        call=helper_call,
        site_edits=site_edits,
        import_edit=import_edit,
        add_import=add_import,
        unused_import=None if local is not None else task_import(task_expr, module),
        options=tuple(key for key, _ in options),
        lost=lost,
        already_extracted=already,
        wait_options=tuple(" ".join(source_text(a).split()).rstrip(", ") for a in site.node.args)
        if isinstance(site.node, cst.Call)
        else (),
        moved_ahead=moved_ahead,
    )


def _local_names(module: CeleryModule, node: cst.CSTNode) -> frozenset[str]:
    """The names bound where `node` runs, below the module: the function's parameters and
    locals, a comprehension's targets (empty without scope metadata)."""
    names: set[str] = set()
    scope = module._scope(node)
    while scope is not None and not isinstance(scope, GlobalScope):
        names |= {assignment.name for assignment in scope.assignments}
        scope = scope.parent
    return frozenset(names)


def _lost_option(key: str, text: str) -> str:
    """How the message names a task option: `base` with its class, whose hooks it loses."""
    return f"base={text}" if key == "base" else key


def _single_wait(site: WaitSite, module: CeleryModule) -> bool:
    """True when the wait is a shape of its own: not a step of a sequence or pipeline, not
    one of several waits in one statement or loop. Waits in different branches of one `if`
    are apart: CEL001 rewrites each branch on its own."""
    for shape in shapes(module, site.task, module.waits(site.task)):
        if any(w.node is site.node for w in shape.waits):
            return len(shape.waits) == 1
    return False


def _unknown_task_reason(
    task_expr: cst.BaseExpression, module: CeleryModule, name: str
) -> str | None:
    """A `.delay()` target celerymod has no task definition for: why, when it can tell."""
    for dotted in module.dotted_names(task_expr):
        owner = dotted.rpartition(".")[0]
        if owner == (module.module_name or "__main__") or (
            module.index is not None and module.index.has_module(owner)
        ):
            return (
                f"`{name}` is not a task defined by a decorator (built by a factory or "
                "assigned dynamically): celerymod cannot move its body"
            )
        return f"`{name}` is defined outside the scanned paths"
    return None


def _site_placement(site: WaitSite, module: CeleryModule) -> tuple[str | None, str | None]:
    """`(None, None)`: the wait's receiver is the dispatch call itself (`t.delay(x).get()`);
    `(name, None)`: `name = t.delay(x)` then `name.get()`, `name` used nowhere else;
    `(None, reason)`: anything else."""
    node = site.node
    origin = site.origin
    assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
    receiver = node.func.value
    if receiver is origin.call:
        return None, None
    if (
        isinstance(receiver, cst.Name)
        and origin.names == (receiver.value,)
        and len(origin.sources) == 1
        and isinstance(origin.sources[0], cst.SimpleStatementLine)
    ):
        statement = origin.sources[0]
        small = statement.body[0] if len(statement.body) == 1 else None
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and small.value is origin.call
        ):
            uses = [
                n
                for n in walk(site.task.function.body)
                if isinstance(n, cst.Name) and n.value == receiver.value
            ]
            if len(uses) == 2:  # The assignment's target and the wait's receiver.
                return receiver.value, None
    dispatch = describe(origin.call) if origin.call is not None else "the dispatch"
    return None, f"the result of `{dispatch}` is used other than by this one wait"


def _next_statement(site: WaitSite, module: CeleryModule) -> bool:
    """Whether the wait sits in the statement right after the dispatch's, in one block:
    nothing runs between them."""
    dispatch = site.origin.sources[0]
    block = module.parent(dispatch)
    node: cst.CSTNode | None = site.node
    while node is not None and module.parent(node) is not block:
        node = module.parent(node)
    body = list(getattr(block, "body", ()))
    at = {id(statement): index for index, statement in enumerate(body)}
    if node is None or id(dispatch) not in at or id(node) not in at:
        return False
    return at[id(node)] == at[id(dispatch)] + 1


def _merged(
    site: WaitSite, module: CeleryModule, helper_call: cst.Call
) -> tuple[tuple[cst.CSTNode, Replacement], ...] | None:
    """`res = t.delay(x)` right before `value = res.get()` (or `return res.get()`, or the
    wait as a statement) become one `value = helper(x)`, instead of `res = helper(x)` and
    `value = res`. Only when nothing runs between the two (so the arguments are evaluated
    at the same point) and no comment sits at the end of the dispatch line; the dispatch
    line's own leading lines (blank lines, comments) move to the merged line."""
    dispatch = site.origin.sources[0]
    assert isinstance(dispatch, cst.SimpleStatementLine)
    holder = module.parent(site.node)
    line = module.parent(holder) if holder is not None else None
    if not (
        isinstance(holder, cst.Assign | cst.Return | cst.Expr)
        and holder.value is site.node
        and isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and dispatch.trailing_whitespace.comment is None
    ):
        return None
    block = module.parent(line)
    if block is None or module.parent(dispatch) is not block:
        return None
    body = list(getattr(block, "body", ()))
    at = next((i for i, statement in enumerate(body) if statement is dispatch), None)
    if at is None or at + 1 >= len(body) or body[at + 1] is not line:
        return None
    merged = cast(cst.SimpleStatementLine, line.deep_replace(site.node, helper_call))
    merged = merged.with_changes(leading_lines=[*dispatch.leading_lines, *line.leading_lines])
    return ((dispatch, cst.RemovalSentinel.REMOVE), (line, merged))


def _arguments_of(arguments: object, module: CeleryModule) -> list[cst.Arg]:
    from celerymod.analysis.arguments import CallArguments

    assert isinstance(arguments, CallArguments)
    def spread(value: cst.BaseExpression, empty: cst.BaseExpression) -> cst.BaseExpression:
        return value if _never_none(module, value) else _or(value, empty)

    args = [cst.Arg(value=v) for v in arguments.args]
    args += [cst.Arg(value=spread(v, cst.Tuple([])), star="*") for v in arguments.star_args]
    args += [cst.Arg(value=v, keyword=cst.Name(k), equal=_EQUAL) for k, v in arguments.kwargs]
    args += [cst.Arg(value=spread(v, cst.Dict([])), star="**") for v in arguments.star_kwargs]
    return args


_DISPLAYS = (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp, cst.BinaryOperation)


def _never_none(module: CeleryModule, value: cst.BaseExpression) -> bool:
    """A display (or a concatenation), or a name bound only to displays: never None, which
    `apply_async(args=x, kwargs=y)` accepts for either (Celery reads `args or ()`, `kwargs
    or {}`) and a spread `*x` / `**y` does not."""
    if isinstance(value, _DISPLAYS):
        return True
    scope = module._scope(value) if isinstance(value, cst.Name) else None
    if scope is None or not isinstance(value, cst.Name):
        return False
    assignments = list(scope[value.value])
    for assignment in assignments:
        node = assignment.node if isinstance(assignment, Assignment) else None
        target = module.parent(node) if isinstance(node, cst.Name) else None
        statement = module.parent(target) if isinstance(target, cst.AssignTarget) else None
        if not (isinstance(statement, cst.Assign) and isinstance(statement.value, _DISPLAYS)):
            return False
    return bool(assignments)


def _or(value: cst.BaseExpression, empty: cst.BaseExpression) -> cst.BaseExpression:
    """`(value or <empty>)`."""
    return cst.BooleanOperation(
        left=value,
        operator=cst.Or(),
        right=empty,
        lpar=[cst.LeftParen()],
        rpar=[cst.RightParen()],
    )


def _without_trailing_comma(args: list[cst.Arg]) -> list[cst.Arg]:
    comma = args[-1].comma if args else None
    if isinstance(comma, cst.Comma) and "\n" not in cst.Module(body=[]).code_for_node(comma):
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args
