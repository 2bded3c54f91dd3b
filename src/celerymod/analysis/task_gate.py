"""A scope-free gate in front of task detection (`AppsAndTasks.tasks`): can this module
define a task at all? Resolving libcst's scope metadata costs several times the parse, and
most files the rules parse define no task (test modules full of `@pytest.mark...` and
`@self.app.task`). tests/test_task_gate.py holds it sound: wherever it says no, the full
analysis finds no task either.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from celerymod.analysis.known import TASK_DECORATORS
from celerymod.analysis.names import ModuleNames
from celerymod.analysis.syntax import _attribute_chain

# The parts of compound statements that hold statements of their own.
_CLAUSES = (
    cst.Else,
    cst.If,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def may_define_tasks(names: ModuleNames) -> bool:
    """False only when no def and no class of the module can be a task, decided without
    scope metadata (resolving it costs several times the parse, and most parsed files
    define no task): no class has a `run` method, and no decorator is `<x>.task` (but
    for `<param>.<attr>.task` on a parameter of the enclosing function, `self.app.task`
    in a test method: a function's local is never an app) or names, through some import
    of the module or this module's own names, one of Celery's task decorators.
    Configured decorators, and Celery's own modules (whose names are Celery's), take
    the full path."""
    prefix = names._module_prefix
    if names.task_decorators or prefix == "celery" or prefix.startswith("celery."):
        return True
    bindings: dict[str, list[str]] = {}
    for bound, dotted in _import_bindings(names):
        bindings.setdefault(bound, []).append(dotted)

    def may_be_task(decorator: cst.Decorator, params: frozenset[str]) -> bool:
        target = decorator.decorator
        base = target.func if isinstance(target, cst.Call) else target
        chain = _attribute_chain(base)
        if isinstance(base, cst.Attribute) and base.attr.value == "task":
            local = chain is not None and len(chain) > 2 and chain[0] in params
            return not local
        if chain is None:
            return False
        candidates = [f"{prefix}.{'.'.join(chain)}"]
        candidates += [".".join([path, *chain[1:]]) for path in bindings.get(chain[0], ())]
        for candidate in candidates:
            name = names.index.resolve(candidate) if names.index is not None else candidate
            if name in TASK_DECORATORS:
                return True
        return False

    def below(statements: Sequence[cst.CSTNode], params: frozenset[str]) -> bool:
        for statement in statements:
            if isinstance(statement, cst.ClassDef):
                if _method(statement, "run") is not None:
                    return True
                if below(_statements(statement.body), params):
                    return True
            elif isinstance(statement, cst.FunctionDef):
                if any(may_be_task(d, params) for d in statement.decorators):
                    return True
                if below(_statements(statement.body), _parameter_names(statement)):
                    return True
            elif isinstance(statement, (cst.BaseCompoundStatement, *_CLAUSES)):
                for child in statement.children:
                    if isinstance(child, cst.BaseSuite) and below(_statements(child), params):
                        return True
                    if isinstance(child, _CLAUSES) and below([child], params):
                        return True
        return False

    return below(names.module.body, frozenset())


def _import_bindings(names: ModuleNames) -> tuple[tuple[str, str], ...]:
    """Every import of the module at any depth as (bound name, absolute dotted name),
    found by walking statements only (imports are statements)."""
    found: list[tuple[str, str]] = []
    stack: list[cst.CSTNode] = list(names.module.body)
    while stack:
        statement = stack.pop()
        if isinstance(statement, cst.SimpleStatementLine | cst.SimpleStatementSuite):
            for small in statement.body:
                if isinstance(small, cst.Import | cst.ImportFrom):
                    found.extend(names._import_pairs(small))
        elif isinstance(statement, (cst.BaseCompoundStatement, *_CLAUSES)):
            for child in statement.children:
                if isinstance(child, cst.IndentedBlock):
                    stack.extend(child.body)
                elif isinstance(child, (cst.SimpleStatementSuite, *_CLAUSES)):
                    stack.append(child)
    return tuple(found)


def _statements(suite: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return suite.body if isinstance(suite, cst.IndentedBlock) else ()


def _method(node: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    for statement in node.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            return statement
    return None


def _parameter_names(function: cst.FunctionDef) -> frozenset[str]:
    params = function.params
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return frozenset(param.name.value for param in found)
