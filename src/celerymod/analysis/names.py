"""What a name means in one module: libcst's metadata, the module's imports and module-level
bindings, resolved to absolute dotted names.

`ModuleNames` is the bottom layer of `CeleryModule` (module.py): it holds the module's state
and the memo every layer above it shares.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from functools import cached_property
from typing import Any, TypeVar, cast

import libcst as cst
from libcst.metadata import (
    Assignment,
    BaseMetadataProvider,
    CodeRange,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

from celerymod.analysis.index import ProjectIndex, absolute_import, package_of
from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import _attribute_chain, _unwrap
from celerymod.analysis.vocabulary import Metadata
from celerymod.transforms.base import walk

_T = TypeVar("_T")


class ModuleNames:
    """The state of one module's analysis and what its names mean (the bottom layer)."""

    def __init__(
        self,
        module: cst.Module,
        metadata: Metadata,
        *,
        path: str = "",
        module_name: str | None = None,
        task_decorators: Collection[str] = (),
        index: ProjectIndex | None = None,
    ) -> None:
        self.module = module
        self._metadata = metadata
        self.path = path
        self.module_name = module_name
        self.task_decorators = frozenset(task_decorators)
        self.index = index
        self._waits: dict[int, tuple[WaitSite, ...]] = {}
        # Origins and collections, memoised per (question, node or binding, task, depth):
        # names fed from names fed from names would otherwise be walked again from every
        # use, exponentially in how many feed each other (a 2,253-line module never ended).
        self._memo: dict[tuple[str, object, int, int], Any] = {}

    # -- metadata --

    def _meta(
        self, provider: type[BaseMetadataProvider[object]], node: cst.CSTNode, default: _T
    ) -> _T:
        table = self._metadata.get(provider)
        if table is None:
            return default
        return cast(_T, _unwrap(table.get(node, default)))

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._meta(ParentNodeProvider, node, None)

    def _scope(self, node: cst.CSTNode) -> Scope | None:
        return self._meta(ScopeProvider, node, None)

    def _position(self, node: cst.CSTNode) -> CodeRange | None:
        return self._meta(PositionProvider, node, None)

    def _qualified(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        if QualifiedNameProvider not in self._metadata:
            return self._module_level_qualified(node)
        return self._meta(QualifiedNameProvider, node, cast(Collection[QualifiedName], ()))

    def _module_level_qualified(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        """Qualified names from the module-level bindings alone, for the index pass, which
        skips libcst's scope analysis (it costs several times the parse). A name shadowed
        inside a function reads as the module-level one: decorators, which is what the index
        resolves, are evaluated in the enclosing scope, nearly always the module."""
        chain = _attribute_chain(node) if isinstance(node, cst.BaseExpression) else None
        if chain is None:
            return ()
        root, rest = chain[0], chain[1:]
        imported = self._module_imports.get(root)
        if imported is not None:
            return {QualifiedName(".".join([imported, *rest]), QualifiedNameSource.IMPORT)}
        if root in self._module_values:
            return {QualifiedName(".".join(chain), QualifiedNameSource.LOCAL)}
        return ()

    @cached_property
    def source_lines(self) -> list[str]:
        """The module's code, line by line: generating it walks the whole tree, so once."""
        return self.module.code.splitlines()

    @cached_property
    def _module_imports(self) -> dict[str, str]:
        return dict(self.module_aliases)

    @property
    def _module_prefix(self) -> str:
        """What this module's own names are prefixed with. Without a module name, Celery's
        name for a script's module: a bare `celery` variable must not read as the library."""
        return self.module_name or "__main__"

    @cached_property
    def _package(self) -> str | None:
        return package_of(self.module_name, self.path)

    def absolute(self, name: str) -> str | None:
        """An import's dotted name with relative dots resolved against this module."""
        return absolute_import(name, self._package, self.path)

    def dotted_names(self, node: cst.CSTNode) -> set[str]:
        """Absolute dotted names an expression refers to: imports resolved, module-level
        names of this module prefixed with its name, re-exports followed through the index.
        Function-local names (`f.<locals>.x`) are left out."""
        found: set[str] = set()
        for qualified in self._qualified(node):
            name = self._absolute_qualified(qualified)
            if name is not None:
                found.add(name)
        return found

    def _absolute_qualified(self, qualified: QualifiedName) -> str | None:
        if "<locals>" in qualified.name:
            return None
        if qualified.source is QualifiedNameSource.IMPORT:
            name = self.absolute(qualified.name)
            if name is None and qualified.name.startswith("."):
                # A relative import this run cannot place (a file read from stdin, or
                # checked without its package): some module it did not scan, which is
                # how such an import reads when the module is known (`.celery` -> `app`).
                name = "__unplaced__." + qualified.name.lstrip(".")
        elif qualified.source is QualifiedNameSource.LOCAL:
            name = f"{self._module_prefix}.{qualified.name}"
        else:
            name = qualified.name
        if name is not None and self.index is not None:
            name = self.index.resolve(name)
        return name

    def _is_local(self, node: cst.CSTNode) -> bool:
        """True when `node` names something bound in this module (not imported)."""
        qualified = self._qualified(node)
        return bool(qualified) and all(q.source is QualifiedNameSource.LOCAL for q in qualified)

    def _module_level_name(self, node: cst.Name) -> str | None:
        """The name, when it refers to a module-level binding of this module (not to a
        function's local or parameter that may shadow one)."""
        qualified = self._qualified(node)
        if qualified and all(
            q.source is QualifiedNameSource.LOCAL and q.name == node.value for q in qualified
        ):
            return node.value
        return None

    def _referents(self, name: cst.Name) -> list[Assignment]:
        """The plain assignments (no imports, no builtins) a name use may refer to."""
        scope = self._scope(name)
        if scope is None:
            return []
        found: list[Assignment] = []
        for access in scope.accesses[name]:
            for referent in access.referents:
                if isinstance(referent, Assignment) and not _is_import(referent.node):
                    found.append(referent)
        return found

    # -- imports --

    @cached_property
    def imports_celery(self) -> bool:
        """True when the module imports anything from the `celery` package."""
        return any(
            module == "celery" or module.startswith("celery.") for _, module in self._imports()
        )

    def _imports(self) -> Iterator[tuple[str, str]]:
        """Every import of the module as (bound name, absolute dotted name)."""
        for node in walk(self.module):
            if isinstance(node, cst.Import | cst.ImportFrom):
                yield from self._import_pairs(node)

    def _import_pairs(self, node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, str]]:
        if isinstance(node, cst.Import):
            for alias in node.names:
                dotted = _dotted_name(alias.name)
                if alias.asname is not None:
                    yield alias.evaluated_alias or dotted, dotted
                else:  # `import a.b` binds `a`.
                    yield dotted.partition(".")[0], dotted.partition(".")[0]
            return
        if isinstance(node.names, cst.ImportStar):
            return
        dots = "." * len(node.relative)
        base = self.absolute(dots + (_dotted_name(node.module) if node.module else ""))
        if base is None:
            return
        for alias in node.names:
            bound = alias.evaluated_alias or alias.evaluated_name
            yield bound, f"{base}.{alias.evaluated_name}"

    @cached_property
    def module_aliases(self) -> tuple[tuple[str, str], ...]:
        """Module-level imports as (bound name, absolute dotted name), for the index."""
        return tuple(
            pair
            for statement in _module_level_statements(self.module)
            if isinstance(statement, cst.SimpleStatementLine)
            for small in statement.body
            if isinstance(small, cst.Import | cst.ImportFrom)
            for pair in self._import_pairs(small)
        )

    # -- apps --

    @cached_property
    def _module_values(self) -> dict[str, list[cst.CSTNode]]:
        """Module-level names and what binds them: the value of `name = value`, or the
        statement (a def, a class, an unpacking assignment)."""
        values: dict[str, list[cst.CSTNode]] = {}
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.FunctionDef | cst.ClassDef):
                values.setdefault(statement.name.value, []).append(statement)
                continue
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                targets: list[cst.BaseExpression] = []
                if isinstance(small, cst.Assign):
                    targets = [target.target for target in small.targets]
                elif isinstance(small, cst.AnnAssign | cst.AugAssign):
                    targets = [small.target]
                for target in targets:
                    value = getattr(small, "value", None)
                    bound = value if isinstance(target, cst.Name) and value is not None else small
                    for name in _target_names(target):
                        values.setdefault(name, []).append(bound)
        return values

    def _assigned_values(self, name: cst.Name) -> Iterator[tuple[cst.BaseExpression, cst.CSTNode]]:
        """The values a name use may hold from `name = value` assignments, each with the
        statement that assigns it."""
        for referent in self._referents(name):
            value = self._bound_value(referent.node)
            if value is not None:
                yield value, self._statement_of(referent.node)

    def bound_values(self, name: cst.Name) -> list[cst.BaseExpression]:
        """The values a name use may hold from plain assignments (`name = value`), in any
        scope the use can see."""
        return [value for value, _ in self._assigned_values(name)]

    def parameter_annotations(self, name: cst.Name) -> list[cst.BaseExpression]:
        """The annotations of the parameters a name use may refer to (`r` in
        `def f(r: redis.Redis): r.keys(...)`)."""
        return [
            referent.node.annotation.annotation
            for referent in self._referents(name)
            if isinstance(referent.node, cst.Param) and referent.node.annotation is not None
        ]

    def _bound_value(self, target: cst.CSTNode) -> cst.BaseExpression | None:
        """The value assigned to a plain name target (`x = value`, `x: T = value`)."""
        parent = self.parent(target)
        if isinstance(parent, cst.AssignTarget):
            statement = self.parent(parent)
            if isinstance(statement, cst.Assign):
                return statement.value
        if isinstance(parent, cst.AnnAssign) and parent.target is target:
            return parent.value
        if isinstance(parent, cst.NamedExpr) and parent.target is target:
            return parent.value
        return None

    def _owning_function(self, param: cst.Param) -> cst.CSTNode | None:
        current = self.parent(param)
        while current is not None and not isinstance(current, cst.FunctionDef | cst.Lambda):
            current = self.parent(current)
        return current

    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        current: cst.CSTNode = node
        while not isinstance(current, cst.BaseStatement):
            parent = self.parent(current)
            if parent is None:
                return current
            current = parent
        return current


def _dotted_name(node: cst.BaseExpression) -> str:
    chain = _attribute_chain(node)
    return ".".join(chain) if chain else ""


def _is_import(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Import | cst.ImportFrom)


def _module_level_statements(module: cst.Module) -> Iterator[cst.BaseStatement]:
    """Statements that run at import time: the body, and the bodies of top-level `if`,
    `try` and `with` blocks (`try: import x except ImportError: ...`), not of defs/classes."""
    stack: list[cst.BaseStatement] = list(reversed(module.body))
    while stack:
        statement = stack.pop()
        yield statement
        blocks: list[cst.BaseSuite] = []
        if isinstance(statement, cst.If):
            blocks.append(statement.body)
            if statement.orelse is not None:
                blocks.append(statement.orelse.body)
        elif isinstance(statement, cst.Try):
            blocks.append(statement.body)
            blocks.extend(handler.body for handler in statement.handlers)
            if statement.orelse is not None:
                blocks.append(statement.orelse.body)
            if statement.finalbody is not None:
                blocks.append(statement.finalbody.body)
        elif isinstance(statement, cst.With):
            blocks.append(statement.body)
        for block in reversed(blocks):
            if isinstance(block, cst.IndentedBlock):
                stack.extend(reversed(block.body))
            elif isinstance(block, cst.SimpleStatementSuite):
                stack.append(cst.SimpleStatementLine(body=block.body))


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """The names an assignment target binds (`a`, `a, (b, *c)`), not attributes/subscripts."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, cst.Tuple | cst.List):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)
