"""A second, cheap prefilter for rules that only look inside tasks (`RuleSpec.in_tasks`).

Python's own `ast` parser is written in C and costs a few milliseconds a file, against
hundreds for libcst with scope and qualified-name metadata. A file whose tree has no
function with a task-shaped decorator and no class with a `run` method defines no task, so
those rules cannot report anything there and libcst never sees the file.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence


def may_define_task(text: str, task_decorators: Sequence[str] = ()) -> bool:
    """False only when `text` certainly defines no Celery task (True if unsure)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # Newer syntax or broken code: libcst decides and reports.
    configured = {name.rsplit(".", 1)[-1] for name in task_decorators}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_task_shaped(decorator, configured) for decorator in node.decorator_list):
                return True
        elif isinstance(node, ast.ClassDef) and node.bases:
            # Task classes may derive from a base defined elsewhere: any class with `run`.
            if any(isinstance(item, ast.FunctionDef) and item.name == "run" for item in node.body):
                return True
    return False


def _task_shaped(decorator: ast.expr, configured: set[str]) -> bool:
    for node in ast.walk(decorator):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and ("task" in name.lower() or name in configured):
            return True
    return False
