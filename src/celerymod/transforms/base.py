"""What a rule's transform is: a libcst visitor that reports findings and proposes fixes.

A rule never edits the tree itself. It calls `self.report(node, message, fix=...)`, where a
`Fix` names the nodes to replace and the imports to add or drop; the engine applies the fixes
the user chose. That is why `check` and `fix` cannot disagree (the Fixit 2 design).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.index import package_of
from celerymod.model import ForeignEdit, RunConfig, Safety

if TYPE_CHECKING:
    from celerymod.analysis.index import ProjectIndex

__all__ = ["Checker", "Fix", "ForeignEdit", "ModuleContext", "Replacement", "Report", "walk"]

Replacement = cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | cst.RemovalSentinel


@dataclass(frozen=True)
class Fix:
    """One discrete change: node replacements in this file, imports, and foreign parts."""

    message: str
    safety: Safety
    replacements: tuple[tuple[cst.CSTNode, Replacement], ...]
    # Placed where isort puts them (`import_order`); AddImportsVisitor only as the fallback.
    add_imports: tuple[ImportItem, ...] = ()
    # Dropped only if nothing uses them any more (RemoveImportsVisitor checks).
    remove_imports: tuple[ImportItem, ...] = ()
    foreign: tuple[ForeignEdit, ...] = ()


@dataclass(frozen=True)
class Report:
    node: cst.CSTNode
    message: str
    fix: Fix | None = None
    help: str = ""
    part_of_fix: bool = False  # rewritten by another report's fix (Finding.part_of_fix)


@dataclass(frozen=True)
class ModuleContext:
    """What a checker knows about the file it looks at."""

    path: str
    module_name: str | None
    config: RunConfig
    index: ProjectIndex | None = None

    @property
    def package(self) -> str | None:
        return package_of(self.module_name, self.path)


class Checker(cst.BatchableCSTVisitor):
    """Base of every rule's checker. Subclasses set `CODE` and visit nodes.

    All checkers of a file run in one batched pass over one `MetadataWrapper`, so
    `self.get_metadata(...)` works for the providers a subclass lists in
    `METADATA_DEPENDENCIES`.
    """

    CODE: ClassVar[str] = ""

    def __init__(self, context: ModuleContext) -> None:
        super().__init__()
        self.context = context
        self.reports: list[Report] = []

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        fix: Fix | None = None,
        help: str = "",
        part_of_fix: bool = False,
    ) -> None:
        self.reports.append(
            Report(node=node, message=message, fix=fix, help=help, part_of_fix=part_of_fix)
        )

    @classmethod
    def foreign_fix(
        cls, context: ModuleContext, wrapper: cst.MetadataWrapper, payload: tuple[object, ...]
    ) -> Fix | None:
        """Turn a `ForeignEdit` payload another file's fix sent here into a fix on this file."""
        return None


def with_keyword(
    call: cst.Call, keyword: str, value: cst.BaseExpression, keep: Sequence[cst.Arg] | None = None
) -> cst.Call:
    """`call` with `keyword=value` appended after `keep` (default: its own arguments),
    spelled `keyword=value` after `, `; a trailing comma the call had stays last."""
    args = list(call.args if keep is None else keep)
    added = cst.Arg(
        keyword=cst.Name(keyword),
        value=value,
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    if args:
        args[-1] = args[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        if call.args and call.args[-1].comma != cst.MaybeSentinel.DEFAULT:
            added = added.with_changes(comma=call.args[-1].comma)
    return call.with_changes(args=[*args, added])


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node below `node` (included), depth first, in source order. No metadata needed."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))
