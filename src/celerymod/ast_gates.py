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
from celerymod.analysis.index import ProjectIndex, absolute_import, import_pairs, package_of
from celerymod.analysis.known import POLL_FIELDS, POLL_METHODS, WAIT_METHODS
from celerymod.ast_gates_checklist import (
    catches_in_tasks,
    crontab_calls,
    dispatch_in_atomic,
    keys_over_results,
    sleep_in_coroutines,
)
from celerymod.model import RuleSpec, RunConfig

POLL_ATTRIBUTES = POLL_METHODS | POLL_FIELDS
_Function = ast.FunctionDef | ast.AsyncFunctionDef


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
        package = package_of(self.module_name, self.path)
        return {
            bound: dotted
            for node in self.nodes
            if isinstance(node, ast.Import | ast.ImportFrom)
            for bound, dotted in import_pairs(node, package, self.path)
        }

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
