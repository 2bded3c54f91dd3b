"""CEL005's fix (transforms/dispatch_in_transaction.py): the names it spells `on_commit` and
`functools.partial` with, taken from the module's own imports where it has them, and the
call that replaces the dispatch.

`send.delay(a, k=v)` becomes `<on_commit>(<partial>(send.delay, a, k=v)[, using="db"])`.
`functools.partial` evaluates the callable and every argument now, where the dispatch was,
so a loop variable is bound to the value it has in this iteration (a `lambda` would read
it when the transaction commits, after the loop ended).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import ImportAssignment, Scope

TRANSACTION = "django.db.transaction"
ON_COMMIT = f"{TRANSACTION}.on_commit"


@dataclass(frozen=True)
class Spelling:
    """How the fixed code names a function: `expression` (dotted source text), and the
    import to add when the module has none that binds it."""

    expression: str
    add: ImportItem | None = None

    @property
    def root(self) -> str:
        """The name the expression starts with: it must mean the import where it is used."""
        return self.expression.partition(".")[0]

    def node(self) -> cst.BaseExpression:
        return cst.parse_expression(self.expression)


def on_commit_spellings(aliases: Iterable[tuple[str, str]]) -> list[Spelling]:
    """How the module would write `on_commit`, best first. Existing imports first:
    `transaction` (or its alias) from `from django.db import transaction`, then an imported
    `on_commit`. A module that imports from `django.db.transaction` directly (`from
    django.db.transaction import atomic`) gets `from django.db.transaction import
    on_commit`, in its style; any other (or one where `on_commit` is taken) gets `from
    django.db import transaction`, as Django's docs write it."""
    pairs = list(aliases)
    found = [Spelling(f"{bound}.on_commit") for bound, dotted in pairs if dotted == TRANSACTION]
    found += [Spelling(bound) for bound, dotted in pairs if dotted == ON_COMMIT]
    if any(dotted.startswith(f"{TRANSACTION}.") for _, dotted in pairs):
        found.append(Spelling("on_commit", ImportItem(TRANSACTION, "on_commit")))
    found.append(Spelling("transaction.on_commit", ImportItem("django.db", "transaction")))
    return found


def partial_spellings(aliases: Iterable[tuple[str, str]]) -> list[Spelling]:
    """How the module would write `functools.partial`, best first: as it imports it
    (`from functools import partial`, `import functools as ft`), else `functools.partial`
    with `import functools` added."""
    pairs = list(aliases)
    found = [Spelling(bound) for bound, dotted in pairs if dotted == "functools.partial"]
    found += [Spelling(f"{bound}.partial") for bound, dotted in pairs if dotted == "functools"]
    found.append(Spelling("functools.partial", ImportItem("functools")))
    return found


def first_usable(spellings: list[Spelling], scope: Scope | None) -> Spelling | None:
    """The first of `spellings` that means its import where `scope` is."""
    return next((s for s in spellings if spelling_usable(s, scope)), None)


def spelling_usable(spelling: Spelling, scope: Scope | None) -> bool:
    """Whether `spelling` means the import where `scope` is: a name the fix adds must be
    bound to nothing there, a name the module imports must not be rebound (a local
    `transaction = ...` or a parameter called `partial`)."""
    if scope is None:
        return False
    assignments = scope[spelling.root]
    if spelling.add is not None:
        return not assignments
    return bool(assignments) and all(isinstance(a, ImportAssignment) for a in assignments)


def deferred_dispatch(
    call: cst.Call,
    on_commit: Spelling,
    partial: Spelling,
    using: cst.BaseExpression | None,
) -> cst.Call:
    """`<on_commit>(<partial>(<call.func>, <call's arguments>)[, using=...])`. The
    arguments keep their own commas and comments; a call written over several lines keeps
    its layout, with the dispatched callable on a line of its own like the arguments."""
    after = call.whitespace_before_args
    bound = cst.Call(func=partial.node(), args=[cst.Arg(value=call.func)])
    if call.args:
        if isinstance(after, cst.SimpleWhitespace):
            after = cst.SimpleWhitespace(" ")  # `partial(send.delay, x)`
        else:  # a line break followed the `(`: it now precedes the callable too
            bound = bound.with_changes(whitespace_before_args=after)
        func = cst.Arg(value=call.func, comma=cst.Comma(whitespace_after=after))
        bound = bound.with_changes(args=[func, *call.args])
    args = [cst.Arg(value=bound)]
    if using is not None:
        args = [
            cst.Arg(value=bound, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Arg(
                keyword=cst.Name("using"),
                value=using,
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            ),
        ]
    return cst.Call(func=on_commit.node(), args=args)
