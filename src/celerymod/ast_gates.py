"""Cheap `ast` gates: a second prefilter, after the byte patterns, before libcst.

Python's own `ast` parser is written in C and costs a few milliseconds a file, against
hundreds for libcst with scope and qualified-name metadata. A rule whose `RuleSpec.gate`
names one of `GATES` runs on a file only if that gate, looking at the file's `ast`, says the
rule may find something there. Each gate answers a wider question than its rule (names by
their text, no scopes, no imports followed), so it may say yes where the rule then finds
nothing, but never no where the rule would report: a gate is sound or it is a bug.
`tests/test_ast_gates.py` holds every gate to that over every fixture.

The file is parsed once for all its gates (`Gates`); a file `ast` cannot read (newer syntax,
broken code) passes every gate, and libcst decides and reports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

from celerymod import registry, textio
from celerymod.analysis.index import ProjectIndex, absolute_import, package_of
from celerymod.analysis.known import POLL_FIELDS, POLL_METHODS, WAIT_METHODS
from celerymod.model import RuleSpec, RunConfig

POLL_ATTRIBUTES = POLL_METHODS | POLL_FIELDS
# Handlers CEL008 reports catch one of these (or everything: a bare `except:`).
_CATCH_ALL = frozenset({"Exception", "BaseException"})

_Function = ast.FunctionDef | ast.AsyncFunctionDef
# Calls that send a task; what makes a signature or a canvas, which a call sends too.
_SENDS = frozenset({"delay", "apply_async", "send_task"})
_SIGNATURE_METHODS = frozenset({"s", "si", "signature", "subtask", "map", "starmap", "chunks"})
_CANVAS_NAMES = frozenset(
    {"group", "chain", "chord", "signature", "subtask", "chunks", "Signature", "maybe_signature"}
)


def rules_to_run(
    source: bytes,
    path: str,
    module_name: str | None,
    config: RunConfig,
    index: ProjectIndex | None,
) -> list[RuleSpec]:
    """The selected rules that may report in this file: its bytes match their patterns
    (`registry.matching_rules`), then its `ast` passes their gates. A file that cannot be
    decoded keeps the rules its bytes match: the engine says why it cannot be read."""
    helpers = index.reached_in(module_name) if index is not None else frozenset()
    rules = registry.matching_rules(source, config, bool(helpers))
    if not any(rule.gate for rule in rules):
        return rules
    try:
        text = textio.decode(source).text
    except textio.DecodeError:
        return rules
    gates = Gates(text, path, module_name, config.task_decorators, index)
    return [rule for rule in rules if rule.gate is None or gates.passes(rule.gate)]


@dataclass(frozen=True)
class Gates:
    """One file's gates. `task_decorators` is `[tool.celerymod] task-decorators`; `index`
    the project index, which says which functions of this module tasks call (in this
    module or from another one) and follows names other modules re-export."""

    text: str
    path: str = "<stdin>"
    module_name: str | None = None
    task_decorators: Sequence[str] = ()
    index: ProjectIndex | None = None

    def passes(self, gate: str) -> bool:
        """Whether the rules behind `gate` may report anything in this file."""
        if self.tree is None:
            return True
        answer = self._answers.get(gate)
        if answer is None:
            answer = self._answers[gate] = GATES[gate](self)
        return answer

    @cached_property
    def _answers(self) -> dict[str, bool]:
        return {}

    @cached_property
    def tree(self) -> ast.Module | None:
        try:
            return ast.parse(self.text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None

    @cached_property
    def nodes(self) -> list[ast.AST]:
        """Every node of the tree, walked once for all the gates that scan the whole file."""
        return list(ast.walk(self.tree)) if self.tree is not None else []

    @cached_property
    def _configured(self) -> frozenset[str]:
        return frozenset(name.rsplit(".", 1)[-1] for name in self.task_decorators)

    def task_shaped(self, function: _Function) -> bool:
        return any(_task_shaped(d, self._configured) for d in function.decorator_list)

    @cached_property
    def helpers(self) -> frozenset[str]:
        if self.index is None:
            return frozenset()
        return self.index.reached_in(self.module_name)

    def may_be_task_class(self, node: ast.ClassDef, seen: frozenset[str] = frozenset()) -> bool:
        """Whether a class may derive from `celery.Task`, as CEL001 decides it
        (`analysis.tasks`): a base whose name, or the name its import resolves to through
        the project index, ends in `Task` (`Task`, `app.Task`, `AbortableTask`, an unscanned
        `SystemTask`), one the index knows for a task class, or a class of this module that
        may be one. Not a `threading.Thread` with a `run` method. A base the gate cannot
        name (`with_metaclass(...)`), or a module with `import *`, may be anything."""
        if self._star_import:
            return True
        for base in node.bases:
            while isinstance(base, ast.Subscript):
                base = base.value  # `Task[Any]`
            if not isinstance(base, ast.Name | ast.Attribute):
                return True
            dotted = self._dotted(base)
            if dotted.rpartition(".")[2].endswith("Task"):
                return True
            if self.index is not None and self.index.is_task_class(dotted):
                return True
            if isinstance(base, ast.Name) and base.id not in seen:
                local = self._classes.get(base.id, ())
                if any(self.may_be_task_class(c, seen | {base.id}) for c in local):
                    return True
        return False

    @cached_property
    def _classes(self) -> dict[str, list[ast.ClassDef]]:
        found: dict[str, list[ast.ClassDef]] = {}
        for node in self.nodes:
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(node)
        return found

    @cached_property
    def _star_import(self) -> bool:
        return any(
            isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
            for node in self.nodes
        )

    @cached_property
    def _imported(self) -> dict[str, str]:
        """Each name an import binds, with the absolute dotted name it stands for."""
        found: dict[str, str] = {}
        package = package_of(self.module_name, self.path)
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        found[alias.asname] = alias.name
                    else:
                        root = alias.name.partition(".")[0]
                        found[root] = root
            elif isinstance(node, ast.ImportFrom):
                module = absolute_import("." * node.level + (node.module or ""), package, self.path)
                for alias in node.names:
                    if module is not None:
                        found[alias.asname or alias.name] = f"{module}.{alias.name}"
        return found

    def _dotted(self, node: ast.Name | ast.Attribute) -> str:
        """The dotted name an expression spells, its first name resolved through the
        module's imports and the index's re-exports (`B` after `from .base import Base as
        B` is `proj.base.Base`, or what `proj.base` re-exports under that name)."""
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            return ".".join(reversed(parts))
        root = self._imported.get(current.id, current.id)
        dotted = ".".join([root, *reversed(parts)])
        return self.index.resolve(dotted) if self.index is not None else dotted

    def local_names(self, name: str) -> set[str]:
        """`name` and the local names an import binds to it: `from x import name as y`,
        and, through the project index, a name another module re-exports it under
        (`from .db import atomic_block` where `db` imports `atomic as atomic_block`)."""
        found = {name}
        package = package_of(self.module_name, self.path)
        for node in self.nodes:
            if not isinstance(node, ast.ImportFrom):
                continue
            module = absolute_import("." * node.level + (node.module or ""), package, self.path)
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.name == name:
                    found.add(local)
                elif self.index is not None and module is not None:
                    if self.index.resolve(f"{module}.{alias.name}").rpartition(".")[2] == name:
                        found.add(local)
        return found


def waits_in_tasks(gates: Gates) -> bool:
    """False only when no task, and no function a task may call, waits on anything: no
    `.get()`, `.wait()`, `.join()`, `.join_native()` or `.collect()` call, no `~`, no loop
    polling `x.ready()` / `x.state` / ..., no `allow_join_result`.

    Tasks are functions with a task-shaped decorator (a name holding `task`, or a configured
    one) and the `run` methods of classes with a base. The functions tasks call are the ones
    the project index says they reach (`helpers`, by qualified name): CEL001 reads that same
    index, which holds this module's calls when it indexed the module. When it did not (a
    file read from stdin, one without the index's byte patterns), CEL001 builds the
    module's calls itself: then any `def` of the module whose name a task's code mentions
    counts too, followed through such functions."""
    by_name: dict[str, list[_Function]] = {}
    roots: list[_Function] = []
    for node in gates.nodes:
        if isinstance(node, _Function):
            by_name.setdefault(node.name, []).append(node)
            if gates.task_shaped(node):
                roots.append(node)
        elif isinstance(node, ast.ClassDef) and gates.may_be_task_class(node):
            roots += [i for i in node.body if isinstance(i, _Function) and i.name == "run"]
    helpers = gates.helpers
    if helpers:
        roots += [f for name, f in _qualified_functions(gates.tree) if name in helpers]
    index, module_name = gates.index, gates.module_name
    follow = index is None or module_name is None or index.entry(module_name) is None
    seen: set[int] = set()
    while roots:
        function = roots.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        if _waits(function):
            return True
        if follow:
            roots += [f for name in _mentioned(function) for f in by_name.get(name, ())]
    return False


def catches_in_tasks(gates: Gates) -> bool:
    """False only when no task's body (a function with a task-shaped decorator, or a `run`
    method) has a catch-all handler: a bare `except:`, or one whose type names `Exception`
    or `BaseException` (alone or in a tuple). CEL008 reports nothing else."""
    if _imports_from(gates.nodes, "builtins"):
        return True  # `from builtins import Exception as E`: names are no longer enough.
    for node in gates.nodes:
        if isinstance(node, _Function) and (node.name == "run" or gates.task_shaped(node)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ExceptHandler) and _catches_all(inner):
                    return True
    return False


def dispatch_in_atomic(gates: Gates) -> bool:
    """False only when nothing that may send a task sits inside a `with` whose context
    manager is named `atomic` (or an imported alias of it), nor in a function decorated
    with it: where CEL005 looks. A send is a `.delay(...)`, `.apply_async(...)` or
    `.send_task(...)`, or a called signature or canvas (`group(...)()`, `sig()`); only a
    file that makes signatures or canvases (`.s(`, `group`, `signature`, ...) has those."""
    atomic = gates.local_names("atomic")
    canvases = any(
        (isinstance(node, ast.Attribute) and node.attr in _SIGNATURE_METHODS)
        or (isinstance(node, ast.Name) and node.id in _CANVAS_NAMES)
        or (isinstance(node, ast.alias) and node.name in _CANVAS_NAMES)
        for node in gates.nodes
    )
    for node in gates.nodes:
        if isinstance(node, ast.With | ast.AsyncWith):
            held = any(_named(item.context_expr, atomic) for item in node.items)
        elif isinstance(node, _Function):
            held = any(_named(d, atomic) for d in node.decorator_list)
        else:
            continue
        if held and any(_sends(statement, canvases) for statement in node.body):
            return True
    return False


def keys_over_results(gates: Gates) -> bool:
    """False only when no `.keys(pattern)` call may cover Celery's result keys: every
    pattern CEL007 reports contains `celery` (`celery-task-meta-*`, `celery*`), so a
    string literal without it is ruled out; anything else (a name, an f-string, a `+`)
    may hold one."""
    for node in gates.nodes:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys"
        ):
            continue
        first = (
            node.args[0]
            if node.args
            else next((k.value for k in node.keywords if k.arg == "pattern"), None)
        )
        if first is None:
            continue
        if isinstance(first, ast.Constant):
            if isinstance(first.value, str | bytes) and "celery" in str(first.value):
                return True
        else:
            return True
    return False


def crontab_calls(gates: Gates) -> bool:
    """False only when no call of something named `crontab` (or an imported alias of it)
    may set a larger field without a smaller one it needs: CEL009's own test
    (`crontab_missing_fields`), on the fields the call spells out. A call that may pass
    more than it spells (`*args`, `**options` other than a dict literal) may report."""
    names = gates.local_names("crontab")
    return any(
        isinstance(node, ast.Call) and _named(node.func, names) and _may_lack_fields(node)
        for node in gates.nodes
    )


# `crontab`'s positional order, and the smaller fields each larger one needs (CEL009).
_CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
_CRONTAB_NEEDS = {"hour": {"minute"}} | dict.fromkeys(_CRONTAB_FIELDS[2:], {"minute", "hour"})


def _may_lack_fields(call: ast.Call) -> bool:
    given: dict[str, ast.expr] = {}
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return True
        if position < len(_CRONTAB_FIELDS):
            given[_CRONTAB_FIELDS[position]] = arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            given[keyword.arg] = keyword.value
            continue
        pairs = _literal_pairs(keyword.value)
        if pairs is None:
            return True
        given.update(pairs)
    star = {name for name, value in given.items() if _constant(value) == "*"}
    set_fields = [f for f in _CRONTAB_FIELDS[1:] if f in given and f not in star]
    return any(_CRONTAB_NEEDS[f] - given.keys() for f in set_fields)


def _literal_pairs(node: ast.expr) -> dict[str, ast.expr] | None:
    """`{"a": x}` or `dict(a=x)` by key; None when a key is not a string literal."""
    if isinstance(node, ast.Dict):
        keys = [_constant(key) if key is not None else None for key in node.keys]
        if not all(isinstance(key, str) for key in keys):
            return None
        return {str(key): value for key, value in zip(keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(k.arg is None for k in node.keywords):
            return None
        return {str(k.arg): k.value for k in node.keywords}
    return None


def _constant(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def sleep_in_coroutines(gates: Gates) -> bool:
    """False only when no `async def` calls `time.sleep`: through a name `import time`
    binds (`time.sleep`, `t.sleep` after `import time as t`) or one `from time import
    sleep` binds (`sleep`, `nap`). CEL003 resolves names the same way (libcst's qualified
    names, which follow imports but not assignments)."""
    modules: set[str] = set()
    functions: set[str] = set()
    for node in gates.nodes:
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time" and not node.level:
            functions |= {a.asname or a.name for a in node.names if a.name == "sleep"}
    if not modules and not functions:
        return False

    def sleeps(call: ast.expr) -> bool:
        if not isinstance(call, ast.Call):
            return False
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in functions
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id in modules
        )

    return any(
        sleeps(inner)
        for node in gates.nodes
        if isinstance(node, ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.expr)
    )


def waits_in_coroutines(gates: Gates) -> bool:
    """False only when no `async def` waits on anything (`_waits`): where CEL004 looks."""
    return any(isinstance(node, ast.AsyncFunctionDef) and _waits(node) for node in gates.nodes)


GATES: dict[str, Callable[[Gates], bool]] = {
    "waits-in-tasks": waits_in_tasks,
    "catches-in-tasks": catches_in_tasks,
    "dispatch-in-atomic": dispatch_in_atomic,
    "keys-over-results": keys_over_results,
    "crontab-calls": crontab_calls,
    "sleep-in-coroutines": sleep_in_coroutines,
    "waits-in-coroutines": waits_in_coroutines,
}


def _task_shaped(decorator: ast.expr, configured: Collection[str]) -> bool:
    for node in ast.walk(decorator):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and ("task" in name.lower() or name in configured):
            return True
    return False


def _waits(function: _Function) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WAIT_METHODS:
                return True
        elif isinstance(node, ast.Attribute) and node.attr in WAIT_METHODS:
            return True  # A wait method bound to a name first: `j = res.join`, `j()`.
        elif (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.Invert)
            or isinstance(node, ast.While)
            and _polls(node.test)
        ):
            return True
        elif isinstance(node, ast.Name | ast.Attribute):
            if (node.id if isinstance(node, ast.Name) else node.attr) == "allow_join_result":
                return True
    return False


def _qualified_functions(tree: ast.Module | None) -> list[tuple[str, _Function]]:
    """The module's functions and methods of its classes (not nested in a function), by
    `__qualname__`: what the project index names a helper by."""
    found: list[tuple[str, _Function]] = []
    body = tree.body if tree is not None else []
    stack: list[tuple[str, ast.stmt]] = [("", node) for node in body]
    while stack:
        prefix, node = stack.pop()
        if isinstance(node, _Function):
            found.append((prefix + node.name, node))
        elif isinstance(node, ast.ClassDef):
            stack += [(f"{prefix}{node.name}.", child) for child in node.body]
        elif isinstance(node, ast.If | ast.Try | ast.With):
            # Definitions under `if TYPE_CHECKING:`, `try: ... except ImportError:`.
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, ()):
                    if isinstance(child, ast.ExceptHandler):
                        stack += [(prefix, c) for c in child.body]
                    else:
                        stack.append((prefix, child))
    return found


def _mentioned(function: _Function) -> set[str]:
    """Every name and attribute the function's code mentions: a call of a helper
    (`helper(x)`, `utils.helper(x)`, `self.helper(x)`) or a helper passed on (`map(f, xs)`)."""
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


def _polls(test: ast.expr) -> bool:
    """A `while` condition that may poll a result: `res.ready()`, `res.state`, ..."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in POLL_ATTRIBUTES:
            return True
    return False


def _catches_all(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    return any(
        (node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)) in _CATCH_ALL
        for node in ast.walk(handler.type)
    )


def _named(node: ast.expr, names: Collection[str]) -> bool:
    """Whether `node` (or the function it calls) is a name or attribute spelled as one of
    `names`: `atomic`, `transaction.atomic`, `atomic(using="x")`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id in names
    return isinstance(node, ast.Attribute) and node.attr in names


def _sends(node: ast.AST, canvases: bool) -> bool:
    """Whether `node` holds a call that may send a task (see `dispatch_in_atomic`)."""
    for inner in ast.walk(node):
        if not isinstance(inner, ast.Call):
            continue
        func = inner.func
        if isinstance(func, ast.Attribute) and func.attr in _SENDS:
            return True
        if canvases or isinstance(func, ast.Call):
            return True
    return False


def _imports_from(nodes: Sequence[ast.AST], module: str) -> bool:
    return any(
        (isinstance(node, ast.ImportFrom) and node.module == module)
        or (isinstance(node, ast.Import) and any(a.name == module for a in node.names))
        for node in nodes
    )
