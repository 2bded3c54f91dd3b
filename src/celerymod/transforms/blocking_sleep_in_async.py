"""# CEL003 blocking-sleep-in-async

## What it does
Finds calls of `time.sleep` inside the body of an `async def`, however `sleep` was imported
(`import time as t`, `from time import sleep`, `from time import sleep as nap`).

Not findings: a local function or variable called `sleep`, a shadowed `time`, calls inside a
nested `def`, `lambda` or class body (those run synchronously, where `await` is not allowed),
code that runs outside the coroutine or not at all (the `async def`'s own decorators,
defaults and annotations, any annotation, `type` alias values, type-parameter bounds), and
`time.sleep` passed as a value (`loop.run_in_executor(None, time.sleep, 1)`,
`asyncio.to_thread(time.sleep, 1)`, `functools.partial(time.sleep, 1)`), which is the right
way to block in a thread.

## Why is this bad?
`time.sleep` blocks the whole event loop: every other coroutine, request and heartbeat in
the process stops until it returns. Polling a Celery result with `time.sleep` in an async
endpoint freezes the server for the length of the poll.

## Example
```python
import time

async def wait_for(result):
    while not result.ready():
        time.sleep(0.5)
```

## Use instead
```python
import asyncio

async def wait_for(result):
    while not result.ready():
        await asyncio.sleep(0.5)
```
In a module that imports `trio` the fix uses `await trio.sleep(...)`, in one that imports
`anyio` it uses `await anyio.sleep(...)`. The fix adds the import and removes the `time`
import when nothing else uses it.

## Fix safety
The fix is safe: the coroutine still pauses for the same time; other coroutines now run
meanwhile, which is the point. One corner differs: a negative duration raises `ValueError`
with `time.sleep` but returns at once with `asyncio.sleep`.

Inside the body of a plain `with` (not `async with`) the fix is **review**: the coroutine now
pauses while it holds what the block entered. When that is a `threading.Lock` (or anything
another coroutine of the same thread waits for without awaiting), a second coroutine
entering the block blocks the event loop, and the first can never resume to release it: the
process deadlocks where `time.sleep` only stalled it (`tests/test_sleep_fix_safety.py` runs
both). `async with asyncio.Lock()` is fine and stays safe.

A nested function's decorators and defaults, and a class's bases, do run in the coroutine
and are fixed. No fix is offered for a call inside a generator expression (`await` there
turns the generator into an async generator, and its consumers would break), in a generic
class's bases (a scope where `await` is not allowed) or where the name the
fix needs (`asyncio`, `trio`, `anyio`) is bound to something else in that scope.
"""

from __future__ import annotations

from typing import Literal

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import (
    ImportAssignment,
    ParentNodeProvider,
    QualifiedNameProvider,
    ScopeProvider,
)

from celerymod.analysis.syntax import describe
from celerymod.model import Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix

# "sync" also stands for code that runs outside any coroutine (annotations, `type` values);
# "generic" for the bases of a generic class, which run in the coroutine but cannot await.
Frame = Literal["async", "sync", "genexp", "generic"]
# Event-loop libraries in the order the fix prefers them when a module imports several:
# anyio runs on both of the others.
_LOOP_LIBRARIES = ("anyio", "trio")


class Checker(BaseChecker):
    CODE = "CEL003"
    METADATA_DEPENDENCIES = (QualifiedNameProvider, ParentNodeProvider, ScopeProvider)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.frames: list[Frame] = []
        # Plain `with` blocks being visited, each with the depth of `frames` it opened at.
        self.held: list[tuple[int, cst.With]] = []
        self.function_names: list[str] = []
        self.library = "asyncio"
        self.library_name = "asyncio"  # The name the module binds the library to.

    def visit_Module(self, node: cst.Module) -> None:
        imported = _top_level_imports(node)
        self.library = next((lib for lib in _LOOP_LIBRARIES if lib in imported), "asyncio")
        self.library_name = imported.get(self.library, self.library)

    # Frames open at bodies, not at definitions: a function's decorators and defaults, a
    # lambda's defaults and a class's decorators and bases run where the definition is.
    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.frames.append("async" if node.asynchronous is not None else "sync")
        self.function_names.append(node.name.value)

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.frames.pop()
        self.function_names.pop()

    def visit_Lambda_body(self, node: cst.Lambda) -> None:
        self.frames.append("sync")

    def leave_Lambda_body(self, node: cst.Lambda) -> None:
        self.frames.pop()

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.frames.append("sync")

    def leave_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.frames.pop()

    def visit_ClassDef_bases(self, node: cst.ClassDef) -> None:
        # A generic class's bases run in its type-parameter scope, where `await` is refused.
        if node.type_parameters is not None:
            self.frames.append("generic")

    def leave_ClassDef_bases(self, node: cst.ClassDef) -> None:
        if node.type_parameters is not None:
            self.frames.pop()

    def visit_ClassDef_keywords(self, node: cst.ClassDef) -> None:
        self.visit_ClassDef_bases(node)

    def leave_ClassDef_keywords(self, node: cst.ClassDef) -> None:
        self.leave_ClassDef_bases(node)

    # Annotations (evaluated lazily, or never for locals), `type` aliases and type-parameter
    # bounds run outside the coroutine, if at all.
    def visit_Annotation(self, node: cst.Annotation) -> None:
        self.frames.append("sync")

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self.frames.pop()

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        self.frames.append("sync")

    def leave_TypeAlias(self, original_node: cst.TypeAlias) -> None:
        self.frames.pop()

    def visit_TypeParameters(self, node: cst.TypeParameters) -> None:
        self.frames.append("sync")

    def leave_TypeParameters(self, original_node: cst.TypeParameters) -> None:
        self.frames.pop()

    # The body of a plain `with` (not `async with`): the coroutine would pause while holding
    # what it entered (a `threading.Lock`, a connection): see `_fix`.
    def visit_With_body(self, node: cst.With) -> None:
        if node.asynchronous is None:
            self.held.append((len(self.frames), node))

    def leave_With_body(self, node: cst.With) -> None:
        if node.asynchronous is None:
            self.held.pop()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.frames.append("genexp")

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self.frames.pop()

    def visit_Call(self, node: cst.Call) -> None:
        scopes = [i for i, f in enumerate(self.frames) if f in ("async", "sync")]
        if not scopes or self.frames[scopes[-1]] != "async":
            return
        names = self.get_metadata(QualifiedNameProvider, node.func, set())
        if not any(q.name == "time.sleep" for q in names):
            return
        callee = _dotted(node.func)
        where = f"`{callee}` blocks the event loop inside `async def {self.function_names[-1]}`"
        inside = self.frames[scopes[-1] :]
        if "genexp" in inside:
            self.report(
                node,
                f"{where}; not fixed: `await` inside a generator expression would make it an "
                "async generator",
            )
            return
        if "generic" in inside:
            self.report(
                node, f"{where}; not fixed: `await` is not allowed in a generic class's bases"
            )
            return
        if not self._name_free(node, self.library_name):
            self.report(
                node,
                f"{where}; not fixed: `{self.library_name}` is bound to something else here",
            )
            return
        # A `with` entered in this coroutine's own body (not outside a nested function).
        held = [w for depth, w in self.held if depth > scopes[-1]]
        self.report(node, where, self._fix(node, held[-1] if held else None))

    def _name_free(self, node: cst.Call, name: str) -> bool:
        """True unless `name` is bound, where `node` is, to anything but the library import."""
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return True
        for assignment in scope[name]:
            if not isinstance(assignment, ImportAssignment):
                return False
            if not isinstance(assignment.node, cst.Import):
                return False
            if self.library not in {alias.evaluated_name for alias in assignment.node.names}:
                return False
        return True

    def _fix(self, node: cst.Call, held: cst.With | None) -> Fix:
        sleep = cst.Attribute(value=cst.Name(self.library_name), attr=cst.Name("sleep"))
        call = node.with_changes(func=sleep)
        parent = self.get_metadata(ParentNodeProvider, node)
        replacement: cst.BaseExpression
        if isinstance(parent, cst.Await):
            replacement = call  # `await time.sleep(1)` was already awaited (and broken).
        elif _binds_tighter_than_await(parent, node):
            replacement = cst.Await(call, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        else:
            replacement = cst.Await(call)
        add = () if self.library_name != self.library else (ImportItem(self.library),)
        message = f"Replace with `await {self.library_name}.sleep(...)`"
        if held is not None:
            # Other coroutines of this thread now run while the block's context is held:
            # one entering a `threading.Lock` held here blocks the loop, and the holder can
            # never resume to release it.
            entered = ", ".join(describe(item.item) for item in held.items)
            message += (
                f": the coroutine now pauses inside `with {entered}:`, and other coroutines "
                "run while it holds that; a `threading.Lock` (or anything another coroutine "
                "waits for without awaiting) then deadlocks the event loop"
            )
        return Fix(
            message=message,
            safety=Safety.SAFE if held is None else Safety.REVIEW,
            replacements=((node, replacement),),
            add_imports=add,
            remove_imports=self._time_imports(node.func),
        )

    def _time_imports(self, func: cst.BaseExpression) -> tuple[ImportItem, ...]:
        """The import that bound the `time`/`sleep` name used here, to drop if now unused."""
        base = func.value if isinstance(func, cst.Attribute) else func
        if not isinstance(base, cst.Name):
            return ()
        scope = self.get_metadata(ScopeProvider, base, None)
        if scope is None:
            return ()
        items: list[ImportItem] = []
        for assignment in scope[base.value]:
            if not isinstance(assignment, ImportAssignment):
                continue
            statement = assignment.node
            aliases = statement.names if isinstance(statement, cst.Import | cst.ImportFrom) else ()
            for alias in aliases if isinstance(aliases, tuple | list) else ():
                bound = alias.evaluated_alias or alias.evaluated_name
                if bound != base.value:
                    continue
                if isinstance(statement, cst.Import):
                    items.append(ImportItem("time", alias=alias.evaluated_alias))
                else:
                    items.append(ImportItem("time", alias.evaluated_name, alias.evaluated_alias))
        return tuple(items)


def _binds_tighter_than_await(parent: cst.CSTNode, node: cst.Call) -> bool:
    """`await x.y` means `await (x.y)`: a call used as a primary needs parentheses."""
    if isinstance(parent, cst.Attribute | cst.Subscript):
        return parent.value is node
    if isinstance(parent, cst.Call):
        return parent.func is node
    return False


def _top_level_imports(module: cst.Module) -> dict[str, str]:
    """Libraries imported at module level by `import x [as y]`, mapped to their bound name."""
    bound: dict[str, str] = {}
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    bound.setdefault(alias.evaluated_name, alias.evaluated_alias or alias.evaluated_name)
            elif isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name):
                # `from trio import open_nursery` still tells us the module runs on trio.
                bound.setdefault(small.module.value, small.module.value)
    return bound


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return "sleep"
