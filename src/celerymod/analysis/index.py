"""The project index: what a first pass over every scanned file learned (task definitions).

CEL001 and CEL002 read it to recognise tasks and Celery apps defined in other modules. It is
plain picklable data, built once in the main process from per-file entries and sent to the
worker processes once.

The runner calls `indexing.index_file` for every file whose bytes match `INDEX_PATTERNS` (in
the pool), then `ProjectIndex.from_entries` on all the entries, and passes the index to the
engine.

This module stays free of libcst: the runner imports it at start-up, and the parsing
machinery (`celerymod.analysis.indexing`) only when it indexes a file.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath

from celerymod.analysis.call_scan import scan_calls

# A file none of these occur in defines no task and no app, and reads no task's result: it
# is not parsed for the index. `celery` catches the re-export of Celery's documented Django
# layout, `from .celery import app as celery_app` in a package's `__init__.py`; `delay` and
# the rest, a view that dispatches an imported task and reads its result.
INDEX_PATTERNS: tuple[bytes, ...] = (
    b"task",
    b"Task",
    b"Celery",
    b"celery",
    b"delay(",
    b"apply_async(",
    b".s(",
    b".si(",
)

# Calls on a task that dispatch it (their value is its result) or make its signature.
_DISPATCH = frozenset({"delay", "apply_async", "apply"})
_SIGNATURE = frozenset({"s", "si", "signature", "map", "starmap", "chunks"})

# How many calls deep `task_path` follows a task into helpers.
_MAX_CALL_DEPTH = 6

# How many `from a import b` re-exports `resolve` follows before giving up (import cycles).
_MAX_ALIAS_HOPS = 10


def package_of(module_name: str | None, path: str) -> str | None:
    """The package a module's relative imports start from: itself for an `__init__.py`,
    else its parent ("" for a top-level module); None without a module name."""
    if module_name is None:
        return None
    if path.endswith("__init__.py"):
        return module_name
    return module_name.rpartition(".")[0]


def absolute_import(name: str, package: str | None, path: str | None = None) -> str | None:
    """An import's dotted name with relative dots resolved against `package` (`package_of`);
    None when it cannot be (no package, or more dots than the package has levels). A
    top-level module (`package` "") at `path` importing relatively sits in a namespace
    package (a folder without `__init__.py`): `.celery` there is `<folder>.celery`, never the
    `celery` library."""
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    if package is None:
        return None
    parts = package.split(".") if package else []
    if not parts and path is not None:
        parts = [PurePath(path).parent.name or "__namespace__"]
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    rest = name[level:]
    return ".".join([*base, rest] if rest else base) or None


@dataclass(frozen=True)
class TaskDefinition:
    """One Celery task as defined in the source, without any syntax tree (picklable).

    `name` is the function's name (the class's name for a class-based task, whose body is its
    `run` method); `qualified_name` is `<module>.<qualname>` (`__main__.<qualname>` when the
    module name is unknown, as Celery names the tasks of a script). `registered_name` is what
    Celery registers it under: the `name=` option when it is a string literal, else the
    qualified name. `options` holds the decorator's keywords (class attributes for a
    class-based task) as `(keyword, source text)` pairs, in source order, `bind` included.
    `decorator` is the source text of the decorator that made it a task (empty for a
    class-based task). `line`/`column` (1-based) locate its name in the `def`/`class` line.
    """

    name: str
    module: str | None
    qualified_name: str
    registered_name: str
    bind: bool
    options: tuple[tuple[str, str], ...]
    decorator: str
    kind: str  # "function" or "class"; stand-ins: "helper", "outside", "plain" (helpers.py)
    path: str
    line: int
    column: int
    # A `bind=True` task whose body reads its first parameter (`self`), or any task whose
    # body reads the running task another way (`current_task`, `<its name>.request`):
    # CEL002 cannot move that body into a plain function.
    uses_self: bool = False
    # The decorators below the task decorator (their dotted names, `?` for other
    # expressions): they wrapped the body, and may change what arguments it takes.
    stacked: tuple[str, ...] = ()

    def option(self, keyword: str) -> str | None:
        """The source text of one decorator option (`"3"` for `max_retries=3`), or None."""
        return next((text for key, text in self.options if key == keyword), None)


@dataclass(frozen=True)
class TaskUse:
    """A place that reads what a task returns: the value of a dispatch is used
    (`r = t.delay(x)`, `t.apply_async().get()`), or a signature of the task joins a canvas
    or a `link=` (its result feeds the next step or a callback). A dispatch whose value is
    dropped (`t.delay(x)` as a statement) is not one.

    `target` is the task's absolute dotted name as this module spells it (re-exports are
    followed at lookup), or `registered:<name>` for `send_task("<name>")`. `how` is
    `"result"` or `"signature"`; `line`/`column` are 1-based."""

    target: str
    path: str
    line: int
    column: int
    how: str


def task_uses(
    tree: ast.Module, path: str, module_name: str | None, aliases: Iterable[tuple[str, str]]
) -> tuple[TaskUse, ...]:
    """Every `TaskUse` in a module, by the stdlib parser (no libcst: this runs on every
    indexed file). Names resolve through the module-level imports, or to this module."""
    bound = dict(aliases)
    found = scan_calls(tree)
    dropped = found.dropped
    uses: list[TaskUse] = []
    for node, _ in found.calls:
        if not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method == "send_task":
            first = node.args[0] if node.args else None
            if id(node) in dropped or not (
                isinstance(first, ast.Constant) and isinstance(first.value, str)
            ):
                continue
            target: str | None = f"registered:{first.value}"
            how = "result"
        elif method in _DISPATCH or method in _SIGNATURE:
            if method in _DISPATCH and id(node) in dropped:
                continue
            how = "result" if method in _DISPATCH else "signature"
            target = _absolute(node.func.value, bound, module_name)
        else:
            continue
        if target is not None:
            uses.append(TaskUse(target, path, node.lineno, node.col_offset + 1, how))
    uses.sort(key=lambda use: (use.line, use.column))
    return tuple(uses)


def function_calls(
    tree: ast.Module, module_name: str, aliases: Iterable[tuple[str, str]], path: str = ""
) -> tuple[tuple[str, str], ...]:
    """`(caller, callee)` absolute dotted names for every call, in a module-level function
    or a method of a module-level class, of a plain name or dotted path (`helper(x)`,
    `utils.helper(x)`): the edges `ProjectIndex.task_path` follows from tasks to helpers.
    Names a function imports itself (`from .search import run_search` in a task's body)
    resolve through that import for the calls in that function."""
    scan = scan_calls(tree)
    bound = dict(aliases)
    by_owner: dict[str, dict[str, str]] = {}
    package = package_of(module_name, path) if path else module_name.rpartition(".")[0]
    for statement, function in scan.owned_imports:
        table = by_owner.setdefault(function, dict(bound))
        table.update(import_pairs(statement, package, path or None))
    edges: set[tuple[str, str]] = set()
    for node, owner in scan.calls:
        if owner is None or not isinstance(node.func, ast.Name | ast.Attribute):
            continue
        caller = f"{module_name}.{owner}"
        callee = _absolute(node.func, by_owner.get(owner, bound), module_name)
        if callee is not None and callee != caller:
            edges.add((caller, callee))
    return tuple(sorted(edges))


def import_pairs(
    node: ast.Import | ast.ImportFrom, package: str | None, path: str | None
) -> Iterator[tuple[str, str]]:
    """`(bound name, absolute dotted name)` for each name an import statement binds
    (`import a.b` binds `a`; a relative import resolves against `package`, `package_of`)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                yield alias.asname, alias.name
            else:  # `import a.b` binds `a`.
                top = alias.name.partition(".")[0]
                yield top, top
        return
    if any(alias.name == "*" for alias in node.names):
        return
    base = absolute_import("." * node.level + (node.module or ""), package, path)
    if base is None:
        return
    for alias in node.names:
        yield alias.asname or alias.name, f"{base}.{alias.name}"


def _absolute(node: ast.expr, bound: dict[str, str], module_name: str | None) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    rest = "".join(f".{part}" for part in reversed(parts))
    if node.id in bound:
        return bound[node.id] + rest
    return f"{module_name}.{node.id}{rest}" if module_name else None


@dataclass(frozen=True)
class IndexEntry:
    """What one file contributes to the index.

    `apps` are module-level names bound to a Celery app (`app = Celery(...)`), `task_classes`
    module-level classes deriving (directly or through this module's classes) from
    `celery.Task`, `defined` every other module-level name the module binds by assignment,
    `def` or `class` (so the index can say "that name is not an app"), and `aliases` the
    module-level imports as `(bound name, absolute dotted name)`, which lets a re-export
    (`from .celery import app as celery_app` in `proj/__init__.py`) be followed.

    Each file is indexed on its own, before any index exists, so two kinds of task are seen
    when their own file is processed but are not recorded here: a class whose `celery.Task`
    base is defined in another module, and a function decorated with a
    `[tool.celerymod] task-decorators` entry (the index pass receives no configuration).
    """

    path: str
    module_name: str | None
    tasks: tuple[TaskDefinition, ...] = ()
    apps: tuple[str, ...] = ()
    task_classes: tuple[str, ...] = ()
    defined: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    # Names a function binds at module level through `global` (`def reset(): global stats;
    # stats = {}`): a new module-level function of that name would be overwritten.
    declared_global: tuple[str, ...] = ()
    uses: tuple[TaskUse, ...] = ()
    calls: tuple[tuple[str, str], ...] = ()  # (caller, callee): see `function_calls`


@dataclass(frozen=True)
class ProjectIndex:
    """Every entry of a run, with lookups by absolute dotted name.

    Lookups answer with three values where it matters: True/a definition (known to be one),
    False/None from `is_app` (known not to be, or not known). Only entries with a module name
    can be looked up: a file outside any package is `<stem>` (discovery names it so).
    """

    entries: tuple[IndexEntry, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[IndexEntry]) -> ProjectIndex:
        return cls(entries=tuple(entries))

    @cached_property
    def _modules(self) -> dict[str, IndexEntry]:
        return {entry.module_name: entry for entry in self.entries if entry.module_name}

    @cached_property
    def _tasks(self) -> dict[str, TaskDefinition]:
        return {task.qualified_name: task for entry in self.entries for task in entry.tasks}

    @cached_property
    def _tasks_by_registered_name(self) -> dict[str, TaskDefinition]:
        return {task.registered_name: task for entry in self.entries for task in entry.tasks}

    def has_module(self, module_name: str) -> bool:
        return module_name in self._modules

    def entry(self, module_name: str) -> IndexEntry | None:
        """What the scanned module `module_name` contributed, if it was indexed."""
        return self._modules.get(module_name)

    def resolve(self, dotted: str) -> str:
        """Follow module-level re-exports: `proj.celery_app` -> `proj.celery.app`."""
        for _ in range(_MAX_ALIAS_HOPS):
            module, _, name = dotted.rpartition(".")
            entry = self._modules.get(module)
            if entry is None:
                return dotted
            target = dict(entry.aliases).get(name)
            if target is None or target == dotted:
                return dotted
            dotted = target
        return dotted

    def task(self, dotted: str) -> TaskDefinition | None:
        """The task defined under this absolute dotted name (re-exports followed), if any."""
        return self._tasks.get(self.resolve(dotted))

    def task_by_registered_name(self, name: str) -> TaskDefinition | None:
        """The task Celery registers as `name` (what `send_task("...")` names), if any."""
        return self._tasks_by_registered_name.get(name)

    @cached_property
    def _task_paths(self) -> dict[str, tuple[str, ...]]:
        """Every function a task reaches through calls (`_MAX_CALL_DEPTH` at most), with one
        shortest path from a task to it (both ends included): breadth first from all tasks."""
        callees: dict[str, list[str]] = {}
        for entry in self.entries:
            for caller, callee in entry.calls:
                callees.setdefault(caller, []).append(self.resolve(callee))
        paths: dict[str, tuple[str, ...]] = {name: (name,) for name in self._tasks}
        for task in self._tasks.values():
            if task.kind == "class":  # Its body is its `run` method.
                paths[f"{task.qualified_name}.run"] = (task.qualified_name,)
        frontier = list(paths)
        for _ in range(_MAX_CALL_DEPTH):
            reached: list[str] = []
            for caller in frontier:
                for callee in callees.get(caller, ()):
                    if callee not in paths:
                        paths[callee] = (*paths[caller], callee)
                        reached.append(callee)
            frontier = reached
        return paths

    def task_path(self, dotted: str) -> tuple[str, ...] | None:
        """How a task reaches the function `dotted` (`(task, helper, ..., dotted)`), or None
        when no scanned task calls it, directly or through other functions."""
        path = self._task_paths.get(dotted)
        return path if path is not None and len(path) > 1 else None

    def reached_in(self, module_name: str | None) -> frozenset[str]:
        """The `__qualname__`s of the functions of `module_name` that a task reaches through
        calls (so a file without a task of its own still has task code to check)."""
        if module_name is None:
            return frozenset()
        return self._reached_by_module.get(module_name, frozenset())

    @cached_property
    def _reached_by_module(self) -> dict[str, frozenset[str]]:
        """`reached_in` for every dotted prefix at once (it is asked for each file of a
        run): `a.b.f` is `b.f` under `a` and `f` under `a.b`."""
        found: dict[str, set[str]] = {}
        for name, path in self._task_paths.items():
            if len(path) < 2:
                continue
            parts = name.split(".")
            for cut in range(1, len(parts)):
                found.setdefault(".".join(parts[:cut]), set()).add(".".join(parts[cut:]))
        return {module: frozenset(names) for module, names in found.items()}

    def uses_of(self, task: TaskDefinition) -> tuple[TaskUse, ...]:
        """The places in the scanned files that read what `task` returns."""
        registered = f"registered:{task.registered_name}"
        return tuple(
            use
            for entry in self.entries
            for use in entry.uses
            if use.target == registered or self.resolve(use.target) == task.qualified_name
        )

    def direct_callers(self, task: TaskDefinition) -> tuple[str, ...]:
        """The functions of the scanned files (module-level, or methods of module-level
        classes) that call `task` in-process, `task(...)` or `task.run(...)`, sorted."""
        own = task.qualified_name
        calls = [(c, self.resolve(callee)) for entry in self.entries for c, callee in entry.calls]
        found = {c for c, callee in calls if c != own and self._calls_task(callee, task)}
        return tuple(sorted(found))

    def _calls_task(self, callee: str, task: TaskDefinition) -> bool:
        """`callee` (resolved) is `task` or its `run`, also through a package above the
        task's module that re-exports it with `from .orders import *`, which the index does
        not follow (`shop.tasks.close` for `shop.tasks.orders.close`)."""
        target = callee.removesuffix(".run")
        if target == task.qualified_name:
            return True
        package, _, name = target.rpartition(".")
        if name != task.name or not task.qualified_name.startswith(f"{package}."):
            return False
        entry = self._modules.get(package)
        # A name the package binds itself is something else (or a re-export `resolve` follows).
        return entry is None or not (
            name in entry.defined
            or name in {bound for bound, _ in entry.aliases}
            or any(t.name == name for t in entry.tasks)
        )

    def is_app(self, dotted: str) -> bool | None:
        """True: a Celery app; False: the module is indexed and binds that name to something
        else; None: not known here (the module was not scanned or binds it by other means)."""
        return self._module_says(dotted, lambda entry: entry.apps)

    def is_task_class(self, dotted: str) -> bool | None:
        """Like `is_app`, for classes deriving from `celery.Task`."""
        return self._module_says(dotted, lambda entry: entry.task_classes)

    def _module_says(
        self, dotted: str, names: Callable[[IndexEntry], tuple[str, ...]]
    ) -> bool | None:
        resolved = self.resolve(dotted)
        module, _, name = resolved.rpartition(".")
        entry = self._modules.get(module)
        if entry is None:
            return None
        if name in names(entry):
            return True
        if name in entry.defined or name in entry.apps or name in entry.task_classes:
            return False
        return None
