"""The edits of CEL002's fix (a `Plan`, sites.py): the helper's name, which every module
derives alike; the caller's import of the helper; the extraction of the task's body into it.
"""

from __future__ import annotations

import bisect
import builtins
from collections.abc import Iterable, Sequence

import libcst as cst

from celerymod import import_order
from celerymod.analysis.index import IndexEntry, TaskDefinition
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task

_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


_BUILTINS = frozenset(dir(builtins))


def helper_name(task_name: str, taken: Iterable[str]) -> str:
    """The task's name without a trailing `_task` (`<name>_impl` when it has none), with
    `_2`, `_3`, ... when taken (by the module or a builtin). Public, no leading underscore: another module may import it,
    and a private name imported across modules is what linters flag."""
    stripped = task_name.removesuffix("_task")
    base = stripped if stripped and stripped != task_name else f"{task_name}_impl"
    # A module-level `sum` would shadow the builtin for the whole module (and recurse).
    used = set(taken) | _BUILTINS
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
    names = set(module._module_values) | set(module.declared_global)
    names |= {bound for bound, _ in module.module_aliases}
    return names


def entry_names(entry: IndexEntry) -> set[str]:
    return (
        set(entry.defined)
        | set(entry.apps)
        | set(entry.task_classes)
        | {bound for bound, _ in entry.aliases}
        | {task.name for task in entry.tasks}
        | set(entry.declared_global)
    )


def wrapped_helper(task: Task, module: cst.Module) -> str | None:
    """The helper a task already wraps (`return _h(a, b)` as its whole body, `_h` a
    module-level function, passed the task's own parameters unchanged, as `extraction`
    writes it), or None. A call that maps them (`_h(a, weight=3)`) is not a wrapper: a
    caller calling `_h` with the task's arguments would drop the mapping."""
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
    helper = next(
        (s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name), None
    )
    forwarded = [_arg_text(a) for a in ret.value.args] == [
        _arg_text(a) for a in _forwarding_args(task)
    ]
    # The caller calls the helper with the task's arguments: its parameters (defaults
    # included) must be the task's.
    same = helper is not None and _params_text(helper.params) == _params_text(
        task.function.params.with_changes(
            posonly_params=_helper_params(task)[0], params=_helper_params(task)[1]
        )
    )
    return name if forwarded and same else None


def _params_text(params: cst.Parameters) -> list[str]:
    """Each parameter's kind, name and default (annotations and spacing aside)."""
    every = [
        *(("/", p) for p in params.posonly_params),
        *(("", p) for p in params.params),
        *([("*", params.star_arg)] if isinstance(params.star_arg, cst.Param) else []),
        *(("kw", p) for p in params.kwonly_params),
        *([("**", params.star_kwarg)] if params.star_kwarg is not None else []),
    ]
    code = cst.Module(body=[]).code_for_node
    return [
        f"{kind}{p.name.value}={code(p.default) if p.default is not None else ''}"
        for kind, p in every
    ]


def _arg_text(arg: cst.Arg) -> str:
    star = arg.star if isinstance(arg.star, str) else ""
    keyword = f"{arg.keyword.value}=" if arg.keyword is not None else ""
    return f"{star}{keyword}{cst.Module(body=[]).code_for_node(arg.value)}"


def _forwarding_args(task: Task) -> list[cst.Arg]:
    """The arguments a wrapper passes its helper: each parameter of the task (but a bind
    task's `self`), positional, `*args`, keyword-only by keyword, `**kwargs`."""
    params = task.function.params
    posonly, positional = _helper_params(task)
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
    return call_args


def _helper_params(task: Task) -> tuple[list[cst.Param], list[cst.Param]]:
    """The task's positional-only and positional parameters, without a bind task's `self`."""
    params = task.function.params
    positional = list(params.params)
    posonly = list(params.posonly_params)
    if task.definition.bind:
        if posonly:
            posonly = posonly[1:]
        elif positional:
            positional = positional[1:]
    return posonly, positional


def _caller_import(
    task_expr: cst.BaseExpression,
    module: CeleryModule,
    callee: TaskDefinition,
    helper: str,
    local_names: Iterable[str] = (),
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
    already binds the name, at module level or in the calling function (`local_names`)."""
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
    taken = set(bound) | set(module._module_values) | set(local_names)
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


def extraction(task: Task, helper: str) -> tuple[cst.CSTNode, cst.FlattenSentinel[cst.CSTNode]]:
    """Replace the task's `def` by the helper (its body, docstring, comments, parameters
    without `self` for a bind task) followed by the task as a one-line wrapper."""
    function = task.function
    params = function.params
    posonly, positional = _helper_params(task)
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
    call_args = _forwarding_args(task)
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
