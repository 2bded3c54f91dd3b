"""What is a Celery app and what is a task in one module (DESIGN §3), and what the module
contributes to the project index (`index_entry`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import cached_property

import libcst as cst

from celerymod.analysis.index import IndexEntry, TaskDefinition
from celerymod.analysis.known import (
    APP_CLASSES,
    APP_OBJECTS,
    TASK_CLASSES,
    TASK_DECORATORS,
    unscanned_task_class,
)
from celerymod.analysis.names import ModuleNames, _module_level_statements
from celerymod.analysis.records import Task
from celerymod.analysis.syntax import (
    _attribute_chain,
    _is_true,
    _keyword,
    _non_celery,
    _string_value,
    reads_own_request,
    source_text,
)
from celerymod.analysis.task_gate import may_define_tasks
from celerymod.transforms.base import walk


class AppsAndTasks(ModuleNames):
    """The module's Celery apps and tasks."""

    @cached_property
    def apps(self) -> frozenset[str]:
        """Module-level names bound to a Celery app.

        `x = Celery(...)` (or a local subclass of Celery), `x = current_app`, and
        `x = <call>(...)` where the called function's name mentions `celery` and starts in
        lower case (`make_celery(app)`, the Flask pattern), not from a non-Celery package.
        """
        found = set()
        for name, values in self._module_values.items():
            if any(self._is_app_value(v) for v in values):
                found.add(name)
        return frozenset(found)

    @cached_property
    def _celery_subclasses(self) -> frozenset[str]:
        names: set[str] = set()
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.ClassDef) and any(
                self.dotted_names(base.value) & APP_CLASSES for base in statement.bases
            ):
                names.add(statement.name.value)
        return frozenset(names)

    def _is_app_value(self, value: cst.CSTNode) -> bool:
        if isinstance(value, cst.Call):
            names = self.dotted_names(value.func)
            if names & APP_CLASSES:
                return True
            if isinstance(value.func, cst.Name) and value.func.value in self._celery_subclasses:
                return True
            chain = _attribute_chain(value.func)
            # A factory function (`make_celery`, `create_celery_app`), not a class such as
            # Celery's own `CeleryBeat` parameter type: classes are capitalised.
            return (
                chain is not None
                and "celery" in chain[-1].lower()
                and chain[-1][:1].islower()
                and not any(_non_celery(n) for n in names)
            )
        if isinstance(value, cst.Name | cst.Attribute):
            return bool(self.dotted_names(value) & APP_OBJECTS)
        return False

    def is_app(self, node: cst.BaseExpression) -> bool:
        """True when `node` (the `x` of `@x.task`) is a Celery app.

        In this module: see `apps`. Imported: the index decides when it knows the module;
        otherwise an imported object is taken for an app unless it comes from a non-Celery
        package, when its dotted path mentions `celery`, its name is `app` or ends in `app`,
        a module in its path is or ends in `worker`, or this module imports from `celery`.
        """
        if isinstance(node, cst.Name) and self._is_local(node):
            parameter = self._parameter_app(node)
            if parameter is not None:
                return parameter
            return self._module_level_name(node) in self.apps
        for dotted in self.dotted_names(node):
            if dotted in self.task_decorators or dotted in APP_OBJECTS:
                return True
            if dotted.startswith("celery.") or _non_celery(dotted):
                continue
            known = self.index.is_app(dotted) if self.index is not None else None
            if known is not None:
                if known:
                    return True
                continue
            if _looks_like_app_path(dotted) or self.imports_celery:
                return True
        return False

    def _parameter_app(self, node: cst.Name) -> bool | None:
        """None when `node` names no parameter. Otherwise whether that parameter is an app
        (a factory registering tasks on the app it receives: `def register(app): @app.task
        ...`): annotated with Celery's app class, or, in a module importing celery, named
        `app`, `*_app` or `celery*` (`router.task` stays silent)."""
        params = [r.node for r in self._referents(node) if isinstance(r.node, cst.Param)]
        if not params:
            return None
        for param in params:
            annotation = param.annotation
            if annotation is not None and self.dotted_names(annotation.annotation) & APP_CLASSES:
                return True
            name = param.name.value.lower()
            if self.imports_celery and (
                name == "app" or name.endswith("_app") or name.startswith("celery")
            ):
                return True
        return False

    # -- tasks --

    @cached_property
    def _definitions(self) -> tuple[tuple[cst.FunctionDef | cst.ClassDef, str], ...]:
        """Every def and class with its `__qualname__`, in source order: one walk of the
        module, shared by `tasks`, `_qualnames` and `helpers`."""
        return tuple(_definitions(self.module))

    @cached_property
    def tasks(self) -> tuple[Task, ...]:
        """Every task defined in the module, in source order."""
        if not self._may_define_tasks:
            return ()
        found: list[Task] = []
        for node, _ in self._definitions:
            if isinstance(node, cst.FunctionDef):
                task = self._function_task(node)
                if task is not None:
                    found.append(task)
            elif isinstance(node, cst.ClassDef) and node.name.value in self.task_classes:
                run = _method(node, "run")
                if run is not None:
                    found.append(self._class_task(node, run))
        found.sort(key=lambda task: (task.definition.line, task.definition.column))
        return tuple(found)

    @cached_property
    def _may_define_tasks(self) -> bool:
        return may_define_tasks(self)

    def task_decorator(self, decorator: cst.Decorator) -> bool:
        """True when the decorator makes a Celery task (DESIGN §3)."""
        target = decorator.decorator
        base = target.func if isinstance(target, cst.Call) else target
        names = self.dotted_names(base)
        if names & TASK_DECORATORS or names & self.task_decorators:
            return True
        if isinstance(base, cst.Attribute) and base.attr.value == "task":
            return self.is_app(base.value)
        return False

    def _function_task(self, node: cst.FunctionDef) -> Task | None:
        for decorator in node.decorators:
            if self.task_decorator(decorator):
                return Task(self._definition(node, decorator), node, decorator=decorator)
        return None

    @cached_property
    def _qualnames(self) -> dict[int, str]:
        """Python's `__qualname__` of every def and class, by node id."""
        return {id(node): qualname for node, qualname in self._definitions}

    def _qualified_name(self, node: cst.FunctionDef | cst.ClassDef) -> str:
        local = self._qualnames.get(id(node), node.name.value)
        return f"{self._module_prefix}.{local}"

    def _definition(self, node: cst.FunctionDef, decorator: cst.Decorator) -> TaskDefinition:
        target = decorator.decorator
        options: list[tuple[str, str]] = []
        if isinstance(target, cst.Call):
            options = [
                (arg.keyword.value, source_text(arg.value))
                for arg in target.args
                if arg.keyword is not None
            ]
        bind = isinstance(target, cst.Call) and any(
            arg.keyword is not None and arg.keyword.value == "bind" and _is_true(arg.value)
            for arg in target.args
        )
        registered = None
        if isinstance(target, cst.Call):
            name_arg = _keyword(target, "name")
            registered = _string_value(name_arg.value) if name_arg else None
        definition = self._make_definition(
            node, node.name.value, bind, options, source_text(target), "function", registered
        )
        uses_self = bind and _uses_first_parameter(node)
        return replace(
            definition,
            uses_self=uses_self or reads_own_request([node.body], node.name.value),
            stacked=_stacked(node, decorator),
        )

    def _make_definition(
        self,
        node: cst.FunctionDef | cst.ClassDef,
        name: str,
        bind: bool,
        options: list[tuple[str, str]],
        decorator: str,
        kind: str,
        registered: str | None,
    ) -> TaskDefinition:
        qualified = self._qualified_name(node)
        position = self._position(node.name)
        return TaskDefinition(
            name=name,
            module=self.module_name,
            qualified_name=qualified,
            registered_name=registered or qualified,
            bind=bind,
            options=tuple(options),
            decorator=decorator,
            kind=kind,
            path=self.path,
            line=position.start.line if position else 0,
            column=position.start.column + 1 if position else 0,
        )

    @cached_property
    def task_classes(self) -> frozenset[str]:
        """Module-level classes deriving from `celery.Task`, through `<app>.Task`, another
        such class of this module, or one the index knows."""
        found: set[str] = set()
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.ClassDef) and any(
                self._is_task_base(base.value, found) for base in statement.bases
            ):
                found.add(statement.name.value)
        return frozenset(found)

    def _is_task_base(self, node: cst.BaseExpression, local: set[str]) -> bool:
        if isinstance(node, cst.Name) and self._is_local(node):
            return self._module_level_name(node) in local
        names = self.dotted_names(node)
        if names & TASK_CLASSES:
            return True
        if isinstance(node, cst.Attribute) and node.attr.value == "Task":
            return self.is_app(node.value)
        if self.index is not None:
            known = {name: self.index.is_task_class(name) for name in names}
            if any(known.values()):
                return True
            names = {name for name, says in known.items() if says is None}  # Not scanned.
        return self.imports_celery and any(unscanned_task_class(name) for name in names)

    def _class_task(self, node: cst.ClassDef, run: cst.FunctionDef) -> Task:
        options: list[tuple[str, str]] = []
        for statement in node.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name):
                            options.append((target.value, source_text(small.value)))
        registered = next(
            (text.strip("'\"") for key, text in options if key == "name" and text[:1] in "'\""),
            None,
        )
        definition = self._make_definition(
            node, node.name.value, True, options, "", "class", registered
        )
        return Task(definition, run, class_node=node)

    def task_for(self, node: cst.BaseExpression) -> TaskDefinition | None:
        """The definition of the task an expression names (`t`, `tasks.t`), if known here or
        in the index; `x = app.register_task(C())` / `x = C()` name class-based task `C`."""
        local = {t.definition.qualified_name: t.definition for t in self.tasks}
        for dotted in self.dotted_names(node):
            if dotted in local:
                return local[dotted]
            if self.index is not None:
                found = self.index.task(dotted)
                if found is not None:
                    return found
        name = self._module_level_name(node) if isinstance(node, cst.Name) else None
        for value in self._module_values.get(name or "", []):
            instance = _registered_instance(value)
            found = self.task_for(instance.func) if instance is not None else None
            if found is not None and found.kind == "class":
                return found
        return None

    # -- entry for the project index --

    def index_entry(self) -> IndexEntry | None:
        """What this module contributes to the project index; None when that is nothing."""
        if self.module_name is None:
            return None  # Nothing could name it: `import` needs a module name.
        values = self._module_values
        return IndexEntry(
            path=self.path,
            module_name=self.module_name,
            tasks=tuple(task.definition for task in self.tasks),
            apps=tuple(sorted(self.apps)),
            task_classes=tuple(sorted(self.task_classes)),
            defined=tuple(sorted(set(values) - self.apps - self.task_classes)),
            aliases=self.module_aliases,
            declared_global=self.declared_global,
        )

    @cached_property
    def declared_global(self) -> tuple[str, ...]:
        """`IndexEntry.declared_global`: every name a `global` statement lists, sorted."""
        nodes = walk(self.module)
        found = {item.name.value for n in nodes if isinstance(n, cst.Global) for item in n.names}
        return tuple(sorted(found))


def _looks_like_app_path(dotted: str) -> bool:
    """The unscanned-app heuristic on names: `celery` anywhere in the dotted path, an object
    called `app` or `*app`, or a module in its path called `worker` or `*worker`."""
    parts = dotted.lower().split(".")
    return (
        any("celery" in part for part in parts)
        or parts[-1].endswith("app")
        or any(part.endswith("worker") for part in parts[:-1])
    )


def _registered_instance(value: cst.CSTNode) -> cst.Call | None:
    """`C()` in `x = C()` or `x = app.register_task(C())`: the instantiation, if any."""
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    if isinstance(func, cst.Attribute) and func.attr.value == "register_task" and value.args:
        inner = value.args[0].value
        return inner if isinstance(inner, cst.Call) else None
    if isinstance(func, cst.Name):
        return value
    return None


def _stacked(function: cst.FunctionDef, decorator: cst.Decorator) -> tuple[str, ...]:
    """`TaskDefinition.stacked`: the decorators below `decorator`, by their dotted names."""
    below = list(function.decorators)
    below = below[below.index(decorator) + 1 :]
    names = []
    for item in below:
        target = item.decorator
        chain = _attribute_chain(target.func if isinstance(target, cst.Call) else target)
        names.append(".".join(chain) if chain else "?")
    return tuple(names)


def _uses_first_parameter(function: cst.FunctionDef) -> bool:
    """True when the body reads the function's first positional parameter (`self`)."""
    params = [*function.params.posonly_params, *function.params.params]
    if not params:
        return False
    name = params[0].name.value
    return any(isinstance(n, cst.Name) and n.value == name for n in walk(function.body))


def _method(node: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    for statement in node.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            return statement
    return None


def _definitions(module: cst.Module) -> Iterator[tuple[cst.FunctionDef | cst.ClassDef, str]]:
    """Every def and class with its `__qualname__`, in source order.

    Only statements are walked: a `def` or `class` is always a statement, so expressions
    (most of a module's nodes, and libcst's `children` is costly) are never entered."""

    def below(
        statements: Sequence[cst.CSTNode], prefix: str
    ) -> Iterator[tuple[cst.FunctionDef | cst.ClassDef, str]]:
        for statement in statements:
            if isinstance(statement, cst.FunctionDef | cst.ClassDef):
                qualname = prefix + statement.name.value
                yield statement, qualname
                inner = "<locals>." if isinstance(statement, cst.FunctionDef) else ""
                yield from below(_statements(statement.body), f"{qualname}.{inner}")
            elif isinstance(statement, (cst.BaseCompoundStatement, *_CLAUSES)):
                for child in statement.children:
                    if isinstance(child, cst.BaseSuite):
                        yield from below(_statements(child), prefix)
                    elif isinstance(child, _CLAUSES):
                        yield from below([child], prefix)

    yield from below(module.body, "")


# The parts of compound statements that hold statements of their own.
_CLAUSES = (
    cst.Else,
    cst.If,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def _statements(suite: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return suite.body if isinstance(suite, cst.IndentedBlock) else ()
