"""Nested task calls (CEL002): which waits run one project task whose body can move into a
plain helper, and the edits that do it. Shared by CEL002's checker and by CEL001, which
leaves to CEL002 the sites `claims` answers True for.

    from celerymod.nested_calls import claims
    if claims(site, celery, context.config):   # CEL002 is selected and reports this site
        continue

`analyze(site, celery)` answers a `Plan` (extractable), a `str` (a nested call of a task the
project may define, but not extractable: why, for CEL001's message; see `unclaimed_reason`)
or None (not a single waited call of one task: CEL001's business alone).

The helper's name is derived from the callee module's module-level names only (the project
index's `IndexEntry` for another module, the tree for this one), so every caller, in any
module, and the callee's own file agree on it without talking to each other.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import libcst as cst

from celerymod import import_order
from celerymod.analysis.arguments import call_arguments
from celerymod.analysis.index import IndexEntry, TaskDefinition
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import classify
from celerymod.analysis.syntax import describe, source_text
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind
from celerymod.model import RunConfig
from celerymod.transforms.base import Replacement, walk

CODE = "CEL002"

# Decorator options that mean the same for a direct call of the body: the registered name
# (the wrapper keeps it) and `bind` (a helper is only made when the body does not use `self`).
# Every other option (`queue`, `routing_key`, `priority`, `base`, `acks_late`, time and rate
# limits, retries, `ignore_result`, `serializer`, ...) acted on the dispatched task: a plain
# call no longer gets it, so the fix is review and its message names the option.
KEPT_OPTIONS = ("name", "bind")
# Options (of the decorator or the dispatch) that choose which workers run the body.
ROUTING_OPTIONS = ("queue", "routing_key", "exchange", "priority")

_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)
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
        found = _caller_import(task_expr, module, callee, helper)
        if isinstance(found, str):
            return found
        helper_expr, import_edit, add_import = found
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
        args = _arguments_of(arguments)
        options = arguments.options
    args = _without_trailing_comma(args)
    helper_call = cst.Call(func=helper_expr, args=args)
    site_edits: tuple[tuple[cst.CSTNode, Replacement], ...]
    if placement is None:
        site_edits = ((site.node, helper_call),)
    else:
        site_edits = _merged(site, module, helper_call) or (
            (call, helper_call),
            (site.node, cst.Name(placement)),
        )
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
    )


def _lost_option(key: str, text: str) -> str:
    """How the message names a task option: `base` with its class, whose hooks it loses."""
    return f"base={text}" if key == "base" else key


def _single_wait(site: WaitSite, module: CeleryModule) -> bool:
    """True when the wait is a shape of its own: not a step of a sequence or pipeline, not
    one of several waits in one statement or loop."""
    for shape in classify(module.waits(site.task)):
        if any(w is site for w in shape.waits):
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


def _arguments_of(arguments: object) -> list[cst.Arg]:
    from celerymod.analysis.arguments import CallArguments

    assert isinstance(arguments, CallArguments)
    args = [cst.Arg(value=v) for v in arguments.args]
    args += [cst.Arg(value=v, star="*") for v in arguments.star_args]
    args += [cst.Arg(value=v, keyword=cst.Name(k), equal=_EQUAL) for k, v in arguments.kwargs]
    args += [cst.Arg(value=v, star="**") for v in arguments.star_kwargs]
    return args


def _without_trailing_comma(args: list[cst.Arg]) -> list[cst.Arg]:
    comma = args[-1].comma if args else None
    if isinstance(comma, cst.Comma) and "\n" not in cst.Module(body=[]).code_for_node(comma):
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args


# --- names -----------------------------------------------------------------------------------


def helper_name(task_name: str, taken: Iterable[str]) -> str:
    """The task's name without a trailing `_task` (`<name>_impl` when it has none), with
    `_2`, `_3`, ... when taken. Public, no leading underscore: another module may import it,
    and a private name imported across modules is what linters flag."""
    stripped = task_name.removesuffix("_task")
    base = stripped if stripped and stripped != task_name else f"{task_name}_impl"
    used = set(taken)
    if base not in used:
        return base
    number = 2
    while f"{base}_{number}" in used:
        number += 1
    return f"{base}_{number}"


def module_names(module: CeleryModule) -> set[str]:
    """Every module-level name the module binds (what `index_entry` records for it)."""
    entry = module.index_entry()
    if entry is not None:
        return entry_names(entry)
    names = set(module._module_values)
    names |= {bound for bound, _ in module.module_aliases}
    return names


def entry_names(entry: IndexEntry) -> set[str]:
    return (
        set(entry.defined)
        | set(entry.apps)
        | set(entry.task_classes)
        | {bound for bound, _ in entry.aliases}
        | {task.name for task in entry.tasks}
    )


def wrapped_helper(task: Task, module: cst.Module) -> str | None:
    """The helper a task already wraps (`return _h(...)` as its whole body, `_h` a
    module-level function), or None."""
    body = task.function.body
    if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
        return None
    line = body.body[0]
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    ret = line.body[0]
    if not (
        isinstance(ret, cst.Return)
        and isinstance(ret.value, cst.Call)
        and isinstance(ret.value.func, cst.Name)
    ):
        return None
    name = ret.value.func.value
    defined = any(isinstance(s, cst.FunctionDef) and s.name.value == name for s in module.body)
    return name if defined else None


# --- the caller's import of the helper --------------------------------------------------------


def _caller_import(
    task_expr: cst.BaseExpression, module: CeleryModule, callee: TaskDefinition, helper: str
) -> (
    tuple[
        cst.BaseExpression,
        tuple[cst.CSTNode, cst.CSTNode] | None,
        tuple[str, str, int, str | None] | None,
    ]
    | str
):
    """How the caller reaches the helper: `m._h` when it names the task as `m.task` with `m`
    the callee module; else the bare name, added to the `from ... import` that imports the
    task, or imported by a new statement; under an alias (`_h as _h_2`) when the caller
    already binds the name."""
    assert callee.module is not None
    if isinstance(task_expr, cst.Attribute) and callee.module in module.dotted_names(
        task_expr.value
    ):
        return cst.Attribute(value=task_expr.value, attr=cst.Name(helper)), None, None
    target = f"{callee.module}.{helper}"
    bound = dict(module.module_aliases)
    existing = next((name for name, dotted in bound.items() if dotted == target), None)
    if existing is not None:  # Already imported (by an earlier fix of this file).
        return cst.Name(existing), None, None
    taken = set(bound) | set(module._module_values)
    local, number = helper, 2
    while local in taken:  # The caller binds that name already: import under an alias.
        local, number = f"{helper}_{number}", number + 1
    alias = local if local != helper else None
    statement = _import_of(task_expr, module)
    if statement is not None:
        absolute = module.absolute("." * len(statement.relative) + _dotted(statement.module))
        if absolute == callee.module and not isinstance(statement.names, cst.ImportStar):
            return cst.Name(local), (statement, _with_name(statement, helper, alias)), None
        if statement.relative:
            relative = _relative_spelling(module, callee.module)
            if relative is not None:
                return cst.Name(local), None, (relative[1], helper, relative[0], alias)
    return cst.Name(local), None, (callee.module, helper, 0, alias)


def _import_of(task_expr: cst.BaseExpression, module: CeleryModule) -> cst.ImportFrom | None:
    if not isinstance(task_expr, cst.Name):
        return None
    scope = module._scope(task_expr)
    if scope is None:
        return None
    for access in scope.accesses[task_expr]:
        for referent in access.referents:
            node = getattr(referent, "node", None)
            if isinstance(node, cst.ImportFrom):
                return node
    return None


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    assert isinstance(node, cst.Attribute)
    return f"{_dotted(node.value)}.{node.attr.value}"


def _with_name(statement: cst.ImportFrom, helper: str, alias: str | None) -> cst.ImportFrom:
    """`from m import a, c` -> `from m import a, _h, c`: the helper in isort's member order
    when the names are sorted (else last), keeping the statement's layout."""
    assert not isinstance(statement.names, cst.ImportStar)
    names = list(statement.names)
    new = cst.ImportAlias(
        name=cst.Name(helper), asname=cst.AsName(cst.Name(alias)) if alias is not None else None
    )
    keys = [import_order.member_key(a.evaluated_name) for a in names]
    key = import_order.member_key(helper)
    position = bisect.bisect(keys, key) if keys == sorted(keys) else len(names)
    separator = next(
        (a.comma for a in names[:-1] if isinstance(a.comma, cst.Comma)),
        cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
    )
    if position < len(names):
        return statement.with_changes(
            names=[*names[:position], new.with_changes(comma=separator), *names[position:]]
        )
    last = names[-1]
    if isinstance(last.comma, cst.Comma):  # A trailing comma: the new name gets one too.
        names[-1] = last.with_changes(comma=separator)
        new = new.with_changes(comma=last.comma)
    else:
        names[-1] = last.with_changes(comma=separator)
    return statement.with_changes(names=[*names, new])


def task_import(
    task_expr: cst.BaseExpression, module: CeleryModule
) -> tuple[str, str, str | None] | None:
    """`(absolute module, name, alias)` of the `from ... import` that binds the task the
    caller names, which the fix may leave unused (RemoveImportsVisitor drops it only then)."""
    statement = _import_of(task_expr, module)
    if statement is None or isinstance(statement.names, cst.ImportStar):
        return None
    assert isinstance(task_expr, cst.Name)
    absolute = module.absolute("." * len(statement.relative) + _dotted(statement.module))
    if absolute is None:
        return None
    for bound in statement.names:
        if (bound.evaluated_alias or bound.evaluated_name) == task_expr.value:
            return absolute, bound.evaluated_name, bound.evaluated_alias
    return None


def _relative_spelling(module: CeleryModule, target: str) -> tuple[int, str] | None:
    """`(level, module)` spelling `target` relative to the caller's package, if inside it."""
    package = module._package
    if not package:
        return None
    parts = package.split(".")
    for level in range(1, len(parts) + 1):
        base = ".".join(parts[: len(parts) - level + 1])
        if target.startswith(base + "."):
            return level, target[len(base) + 1 :]
    return None


# --- the callee's extraction ------------------------------------------------------------------


def extraction(task: Task, helper: str) -> tuple[cst.CSTNode, cst.FlattenSentinel[cst.CSTNode]]:
    """Replace the task's `def` by the helper (its body, docstring, comments, parameters
    without `self` for a bind task) followed by the task as a one-line wrapper."""
    function = task.function
    params = function.params
    bind = task.definition.bind
    positional = list(params.params)
    posonly = list(params.posonly_params)
    if bind:
        if posonly:
            posonly = posonly[1:]
        elif positional:
            positional = positional[1:]
    helper_params = params.with_changes(posonly_params=posonly, params=positional)
    if not posonly and helper_params.posonly_ind != cst.MaybeSentinel.DEFAULT:
        helper_params = helper_params.with_changes(posonly_ind=cst.MaybeSentinel.DEFAULT)
    # Decorators below the task's own wrapped the body: they go with it to the helper.
    decorators = list(function.decorators)
    below = next((i + 1 for i, d in enumerate(decorators) if d is task.decorator), len(decorators))
    helper_def = function.with_changes(
        decorators=decorators[below:],
        name=cst.Name(helper),
        params=helper_params,
        leading_lines=function.leading_lines,
    )
    call_args: list[cst.Arg] = [cst.Arg(cst.Name(p.name.value)) for p in posonly]
    call_args += [cst.Arg(cst.Name(p.name.value)) for p in positional]
    if isinstance(params.star_arg, cst.Param):
        call_args.append(cst.Arg(cst.Name(params.star_arg.name.value), star="*"))
    call_args += [
        cst.Arg(cst.Name(p.name.value), keyword=cst.Name(p.name.value), equal=_EQUAL)
        for p in params.kwonly_params
    ]
    if params.star_kwarg is not None:
        call_args.append(cst.Arg(cst.Name(params.star_kwarg.name.value), star="**"))
    body = cst.IndentedBlock(
        body=[
            cst.SimpleStatementLine(
                body=[cst.Return(value=cst.Call(func=cst.Name(helper), args=call_args))]
            )
        ],
        indent=function.body.indent if isinstance(function.body, cst.IndentedBlock) else None,
    )
    blank = [cst.EmptyLine()] * _blank_lines(function.leading_lines)
    wrapper = function.with_changes(body=body, leading_lines=blank, decorators=decorators[:below])
    return function, cst.FlattenSentinel[cst.CSTNode]([helper_def, wrapper])


def _blank_lines(lines: Sequence[cst.EmptyLine]) -> int:
    count = 0
    for line in lines:
        if line.comment is None:
            count += 1
        else:
            count = 0
    return count or 2
