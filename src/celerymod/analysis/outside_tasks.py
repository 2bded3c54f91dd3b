"""Code that runs only when no task is executing: the branches of `if current_task:` that
helpers shared by tasks and web code keep for the web (CEL001 skips them)."""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.names import ModuleNames

# Celery's proxy for the task this process is executing (None-like outside of one).
CURRENT_TASK = frozenset({"celery.current_task", "celery._state.current_task"})


def only_outside_tasks(names: ModuleNames, node: cst.CSTNode, function: cst.FunctionDef) -> bool:
    """Whether `node`, in `function`, runs only when no task is executing: in the `else`
    (or an `elif`) of `if current_task:` / `if current_task is not None:`, or under
    `if not current_task:` / `if current_task is None:`. Helpers that serve both tasks
    and web code branch so; inside a task, `current_task` is that task (CEL001 has
    nothing to report there, CEL006 still does)."""
    child: cst.CSTNode = node
    current = names.parent(node)
    while current is not None and current is not function:
        if isinstance(current, cst.If):
            in_task = _tests_current_task(names, current.test)
            if in_task is True and child is current.orelse:
                return True
            if in_task is False and child is current.body:
                return True
        child, current = current, names.parent(current)
    return False


def _tests_current_task(names: ModuleNames, test: cst.BaseExpression) -> bool | None:
    """True: `test` holds only inside a task (`current_task`, `current_task is not
    None`); False: only outside one (`not current_task`, `current_task is None`); None:
    any other test."""
    inside = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inside, test = not inside, test.expression
    if isinstance(test, cst.Comparison):
        if len(test.comparisons) != 1:
            return None
        target = test.comparisons[0]
        if not (isinstance(target.comparator, cst.Name) and target.comparator.value == "None"):
            return None
        if isinstance(target.operator, cst.Is):
            inside = not inside
        elif not isinstance(target.operator, cst.IsNot):
            return None
        test = test.left
    return inside if names.dotted_names(test) & CURRENT_TASK else None
