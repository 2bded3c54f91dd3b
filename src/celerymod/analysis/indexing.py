"""The index pass over one file: what it contributes to the project index (analysis/index.py),
read with Python's own `ast` parser (written in C, several times faster than libcst's and
with no metadata to compute). The runner calls it for every file that may mention Celery.

What an app and a task are is decided by the libcst analysis, `AppsAndTasks` in tasks.py,
which stays the source of truth: this module answers the same questions the way
`AppsAndTasks.index_entry()` does with no scope metadata (names resolve through the
module-level imports and bindings only; the pass has no index and no configuration yet).
`tests/test_ast_index.py` holds both equal over every fixture (and the comparison in
`tests/index_reference.py` can be run over any tree); change both together. The libcst path
(`libcst_entry`) stays for that test and for files Python's parser rejects: libcst reads
syntax newer than the running Python (`def f[T]()` on 3.11).

Source text (decorators, options) is cut from the file as libcst would print the node: with
the parentheses written around it, continuation lines relative to the enclosing block.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property

from celerymod.analysis.ast_syntax import (
    Definition,
    Source,
    attribute_chain,
    class_base,
    definitions,
    has_run,
    module_level,
    reads_own_request,
    target_names,
    uses_first_parameter,
)
from celerymod.analysis.call_scan import scan_calls
from celerymod.analysis.index import (
    IndexEntry,
    TaskDefinition,
    absolute_import,
    function_calls,
    import_pairs,
    package_of,
    task_uses,
)
from celerymod.analysis.known import (
    APP_CLASSES,
    APP_OBJECTS,
    NON_CELERY_PACKAGES,
    TASK_CLASSES,
    TASK_DECORATORS,
    unscanned_task_class,
)


def index_file(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """Parse one file and record its apps and task definitions; None without a module name
    (nothing could import it). Raises what the parser raises on a file that does not parse
    (the runner drops it; the processing pass reports it)."""
    from celerymod import textio

    if module_name is None:
        return None
    text = textio.decode(source).text
    try:
        tree = ast.parse(text)
    except SyntaxError:
        # Syntax newer than the running Python (`def f[T]()` on 3.11), which libcst reads.
        return libcst_entry(text, path, module_name, None)
    return _Module(tree, text, path, module_name).entry()


def libcst_entry(
    text: str, path: str, module_name: str | None, tree: ast.Module | None
) -> IndexEntry | None:
    """The entry as the libcst analysis records it (`CeleryModule.index_entry`, positions
    from libcst), with the uses and calls of `tree` (none without one): the fallback for
    files Python's parser rejects, and the reference of the equality test."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    from celerymod.analysis.module import CeleryModule

    wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
    metadata = wrapper.resolve_many([PositionProvider])
    entry = CeleryModule(wrapper.module, metadata, path=path, module_name=module_name).index_entry()
    if entry is None or tree is None:
        return entry
    return replace(
        entry,
        uses=task_uses(tree, path, module_name, entry.aliases),
        calls=function_calls(tree, entry.module_name or "__main__", entry.aliases, path),
    )


class _Module:
    """One module's apps, task classes and tasks, as `AppsAndTasks` finds them."""

    def __init__(self, tree: ast.Module, text: str, path: str, module_name: str) -> None:
        self.tree = tree
        self.text = text
        self.path = path
        self.module_name = module_name
        self.package = package_of(module_name, path)

    def entry(self) -> IndexEntry:
        values = self._values
        aliases = self._aliases
        return IndexEntry(
            path=self.path,
            module_name=self.module_name,
            tasks=tuple(self._tasks()),
            apps=tuple(sorted(self._apps)),
            task_classes=tuple(sorted(self._task_classes)),
            defined=tuple(sorted(set(values) - self._apps - self._task_classes)),
            aliases=aliases,
            declared_global=tuple(sorted(scan_calls(self.tree).declared_global)),
            uses=task_uses(self.tree, self.path, self.module_name, aliases),
            calls=function_calls(self.tree, self.module_name, aliases, self.path),
        )

    # -- names (`ModuleNames` without metadata) --

    @cached_property
    def _statements(self) -> tuple[ast.stmt, ...]:
        return tuple(module_level(self.tree.body, self.text))

    @cached_property
    def _aliases(self) -> tuple[tuple[str, str], ...]:
        return tuple(
            pair
            for statement in self._statements
            if isinstance(statement, ast.Import | ast.ImportFrom)
            for pair in self._import_pairs(statement)
        )

    @cached_property
    def _imports(self) -> dict[str, str]:
        return dict(self._aliases)

    @cached_property
    def _values(self) -> dict[str, list[ast.AST]]:
        """Module-level names and what binds them: the value of `name = value`, or the
        statement (a def, a class, an unpacking assignment)."""
        values: dict[str, list[ast.AST]] = {}
        for statement in self._statements:
            if isinstance(statement, Definition):
                values.setdefault(statement.name, []).append(statement)
                continue
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
                targets = [statement.target]
            for target in targets:
                value = getattr(statement, "value", None)
                bound = value if isinstance(target, ast.Name) and value is not None else statement
                for name in target_names(target):
                    values.setdefault(name, []).append(bound)
        return values

    @cached_property
    def _imports_celery(self) -> bool:
        return any(
            module == "celery" or module.startswith("celery.")
            for node in scan_calls(self.tree).imports
            for _, module in self._import_pairs(node)
        )

    def _import_pairs(self, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
        return import_pairs(node, self.package, self.path)

    def _dotted_names(self, node: ast.AST) -> set[str]:
        chain = attribute_chain(node)
        if chain is None:
            return set()
        root, rest = chain[0], chain[1:]
        imported = self._imports.get(root)
        if imported is not None:
            name = absolute_import(".".join([imported, *rest]), self.package, self.path)
            return {name} if name is not None else set()
        if root in self._values:
            return {f"{self.module_name}.{'.'.join(chain)}"}
        return set()

    def _is_local(self, node: ast.Name) -> bool:
        return node.id not in self._imports and node.id in self._values

    # -- apps --

    @cached_property
    def _apps(self) -> frozenset[str]:
        return frozenset(
            name
            for name, values in self._values.items()
            if any(self._is_app_value(value) for value in values)
        )

    @cached_property
    def _celery_subclasses(self) -> frozenset[str]:
        return frozenset(
            statement.name
            for statement in self._statements
            if isinstance(statement, ast.ClassDef)
            and any(self._dotted_names(class_base(base)) & APP_CLASSES for base in statement.bases)
        )

    def _is_app_value(self, value: ast.AST) -> bool:
        if isinstance(value, ast.Call):
            names = self._dotted_names(value.func)
            if names & APP_CLASSES:
                return True
            if isinstance(value.func, ast.Name) and value.func.id in self._celery_subclasses:
                return True
            chain = attribute_chain(value.func)
            return (
                chain is not None
                and "celery" in chain[-1].lower()
                and chain[-1][:1].islower()
                and not any(_non_celery(name) for name in names)
            )
        if isinstance(value, ast.Name | ast.Attribute):
            return bool(self._dotted_names(value) & APP_OBJECTS)
        return False

    def _is_app(self, node: ast.expr) -> bool:
        """`AppsAndTasks.is_app` with no index, no configuration and no scopes (a parameter
        `app` is not known to be one here: the processing pass decides)."""
        if isinstance(node, ast.Name) and self._is_local(node):
            return node.id in self._apps
        for dotted in self._dotted_names(node):
            if dotted in APP_OBJECTS:
                return True
            if dotted.startswith("celery.") or _non_celery(dotted):
                continue
            if _looks_like_app_path(dotted) or self._imports_celery:
                return True
        return False

    # -- tasks --

    @cached_property
    def _task_classes(self) -> frozenset[str]:
        found: set[str] = set()
        for statement in self._statements:
            if isinstance(statement, ast.ClassDef) and any(
                self._is_task_base(class_base(base), found) for base in statement.bases
            ):
                found.add(statement.name)
        return frozenset(found)

    def _is_task_base(self, node: ast.expr, local: set[str]) -> bool:
        if isinstance(node, ast.Name) and self._is_local(node):
            return node.id in local
        if self._dotted_names(node) & TASK_CLASSES:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Task":
            return self._is_app(node.value)
        return self._imports_celery and any(
            unscanned_task_class(name) for name in self._dotted_names(node)
        )

    def _task_decorator(self, decorator: ast.expr) -> bool:
        base = decorator.func if isinstance(decorator, ast.Call) else decorator
        if self._dotted_names(base) & TASK_DECORATORS:
            return True
        if isinstance(base, ast.Attribute) and base.attr == "task":
            return self._is_app(base.value)
        return False

    def _tasks(self) -> Iterator[TaskDefinition]:
        for node, qualname in definitions(self.tree.body, ""):
            if isinstance(node, ast.ClassDef):
                if node.name in self._task_classes and has_run(node):
                    yield self._class_task(node, qualname)
                continue
            for decorator in node.decorator_list:
                if self._task_decorator(decorator):
                    yield self._function_task(node, qualname, decorator)
                    break

    def _function_task(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, decorator: ast.expr
    ) -> TaskDefinition:
        keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
        options = [
            (keyword.arg, self._source.keyword_value(keyword, decorator))
            for keyword in keywords
            if keyword.arg is not None
        ]
        bind = any(
            k.arg == "bind" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in keywords
        )
        name_value = next((k.value for k in keywords if k.arg == "name"), None)
        registered = (
            name_value.value
            if isinstance(name_value, ast.Constant) and isinstance(name_value.value, str)
            else None
        )
        return self._definition(
            node,
            qualname,
            bind=bind,
            options=options,
            decorator=self._source.decorator(decorator),
            kind="function",
            registered=registered,
            uses_self=bind and uses_first_parameter(node) or reads_own_request(node),
            stacked=_stacked(node, decorator),
        )

    def _class_task(self, node: ast.ClassDef, qualname: str) -> TaskDefinition:
        options = [
            (statement.targets[0].id, self._source.assigned_value(statement))
            for statement in node.body
            if isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ]
        registered = next(
            (text.strip("'\"") for key, text in options if key == "name" and text[:1] in "'\""),
            None,
        )
        return self._definition(
            node,
            qualname,
            bind=True,
            options=options,
            decorator="",
            kind="class",
            registered=registered,
            uses_self=False,
        )

    def _definition(
        self,
        node: Definition,
        qualname: str,
        *,
        bind: bool,
        options: list[tuple[str, str]],
        decorator: str,
        kind: str,
        registered: str | None,
        uses_self: bool,
        stacked: tuple[str, ...] = (),
    ) -> TaskDefinition:
        qualified = f"{self.module_name}.{qualname}"
        line, column = self._source.name_position(node)
        return TaskDefinition(
            name=node.name,
            module=self.module_name,
            qualified_name=qualified,
            registered_name=registered or qualified,
            bind=bind,
            options=tuple(options),
            decorator=decorator,
            kind=kind,
            path=self.path,
            line=line,
            column=column,
            uses_self=uses_self,
            stacked=stacked,
        )

    @cached_property
    def _source(self) -> Source:
        return Source(self.text)


def _non_celery(dotted: str) -> bool:
    return dotted.partition(".")[0] in NON_CELERY_PACKAGES


def _looks_like_app_path(dotted: str) -> bool:
    """`_looks_like_app_path` of tasks.py (kept in step with it by the equality test)."""
    parts = dotted.lower().split(".")
    return (
        any("celery" in part for part in parts)
        or parts[-1].endswith("app")
        or any(part.endswith("worker") for part in parts[:-1])
    )


def _stacked(node: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr) -> tuple[str, ...]:
    """`TaskDefinition.stacked`: the decorators below `decorator`, as `syntax.stacked`."""
    below = node.decorator_list[node.decorator_list.index(decorator) + 1 :]
    names = []
    for expression in below:
        chain = attribute_chain(expression.func if isinstance(expression, ast.Call) else expression)
        names.append(".".join(chain) if chain else "?")
    return tuple(names)
