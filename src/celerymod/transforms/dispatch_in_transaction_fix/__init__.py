"""CEL005's fix (transforms/dispatch_in_transaction.py): the names it spells `on_commit` and
`functools.partial` with, taken from the module's own imports where it has them, and the
call that replaces the dispatch.

`send.delay(a, k=v)` becomes `<on_commit>(<partial>(send.delay, a, k=v)[, using="db"])`;
a dispatch without arguments, `group(...).apply_async()` or `chain(...)()`, becomes
`<on_commit>(group(...).apply_async)` (a bound method or a canvas is already the callable
`on_commit` wants). `functools.partial` evaluates the callable and every argument now,
where the dispatch was, so a loop variable is bound to the value it has in this iteration
(a `lambda` would read it when the transaction commits, after the loop ended).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.helpers import get_full_name_for_node
from libcst.metadata import BuiltinScope, ClassScope, ImportAssignment, Scope

TRANSACTION = "django.db.transaction"
ON_COMMIT = f"{TRANSACTION}.on_commit"
PARTIAL = "functools.partial"


@dataclass(frozen=True)
class Spelling:
    """How the fixed code names a function: `expression` (dotted source text), what its
    first name must be bound to (`target`, an absolute dotted name), and the import to add
    when nothing binds it yet."""

    expression: str
    target: str
    add: ImportItem | None = None

    @property
    def root(self) -> str:
        return self.expression.partition(".")[0]

    def node(self) -> cst.BaseExpression:
        return cst.parse_expression(self.expression)


def on_commit_spellings(aliases: Iterable[tuple[str, str]]) -> list[Spelling]:
    """How the module would write `on_commit`, best first. Its own imports first:
    `transaction` (or its alias) from `from django.db import transaction`, then an imported
    `on_commit`. A module that imports from `django.db.transaction` directly (`from
    django.db.transaction import atomic`) gets `from django.db.transaction import
    on_commit`, in its style; any other (or one where `on_commit` is taken) gets `from
    django.db import transaction`, as Django's docs write it."""
    pairs = list(aliases)
    found = [
        Spelling(f"{bound}.on_commit", TRANSACTION) for bound, dotted in pairs
        if dotted == TRANSACTION
    ]
    found += [Spelling(bound, ON_COMMIT) for bound, dotted in pairs if dotted == ON_COMMIT]
    if any(dotted.startswith(f"{TRANSACTION}.") for _, dotted in pairs):
        found.append(Spelling("on_commit", ON_COMMIT, ImportItem(TRANSACTION, "on_commit")))
    found.append(
        Spelling("transaction.on_commit", TRANSACTION, ImportItem("django.db", "transaction"))
    )
    return found


def partial_spellings(aliases: Iterable[tuple[str, str]]) -> list[Spelling]:
    """How the module would write `functools.partial`, best first: as it imports it
    (`from functools import partial`, `import functools as ft`), else `functools.partial`
    with `import functools` added."""
    pairs = list(aliases)
    found = [Spelling(bound, PARTIAL) for bound, dotted in pairs if dotted == PARTIAL]
    found += [
        Spelling(f"{bound}.partial", "functools") for bound, dotted in pairs
        if dotted == "functools"
    ]
    found.append(Spelling("functools.partial", "functools", ImportItem("functools")))
    return found


def visible_imports(scope: Scope | None) -> list[tuple[str, str]]:
    """`(bound name, absolute dotted name)` of every import visible where `scope` is, the
    innermost scope's first: a function's own `from django.db import transaction as tx`
    is how that function spells it. A class body's names are not visible in its methods."""
    pairs: list[tuple[str, str]] = []
    start = scope
    while scope is not None and not isinstance(scope, BuiltinScope):
        if scope is start or not isinstance(scope, ClassScope):
            pairs.extend(_import_pairs(scope))
        scope = scope.parent
    return pairs


def _import_pairs(scope: Scope) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for assignment in scope.assignments:
        if not isinstance(assignment, ImportAssignment):
            continue
        statement = assignment.node
        if isinstance(statement, cst.Import | cst.ImportFrom):
            target = _bound_target(statement, assignment.name)
            if target is not None:
                pairs.append((assignment.name, target))
    return pairs


def first_usable(spellings: list[Spelling], scope: Scope | None) -> Spelling | None:
    """The first of `spellings` that means its target where `scope` is, without the import
    to add when an import there (a function's own) already binds it."""
    for spelling in spellings:
        usable = _usable(spelling, scope)
        if usable is not None:
            return usable
    return None


def _usable(spelling: Spelling, scope: Scope | None) -> Spelling | None:
    """`spelling` as it can be used where `scope` is, or None: a name bound there must be
    bound only by imports of its target (not a local `transaction = ...`, a parameter
    called `partial`); an unbound one is fine if the fix adds its import."""
    if scope is None:
        return None
    assignments = scope[spelling.root]
    if not assignments:
        return spelling if spelling.add is not None else None
    for assignment in assignments:
        if not isinstance(assignment, ImportAssignment):
            return None
        statement = assignment.node
        if not isinstance(statement, cst.Import | cst.ImportFrom):
            return None
        if _bound_target(statement, spelling.root) != spelling.target:
            return None
    return replace(spelling, add=None)


def _bound_target(statement: cst.Import | cst.ImportFrom, name: str) -> str | None:
    """The absolute dotted name `statement` binds `name` to (`import a.b` binds `a` to
    `a`); None for a relative or star import, where Django's names cannot come from."""
    if isinstance(statement, cst.Import):
        for alias in statement.names:
            if alias.evaluated_alias == name:
                return alias.evaluated_name
            if alias.asname is None and alias.evaluated_name.partition(".")[0] == name:
                return name
        return None
    if statement.relative or statement.module is None:
        return None
    if isinstance(statement.names, cst.ImportStar):
        return None
    base = get_full_name_for_node(statement.module)
    for alias in statement.names:
        if (alias.evaluated_alias or alias.evaluated_name) == name:
            return f"{base}.{alias.evaluated_name}"
    return None


def callback(call: cst.Call, partial: Spelling | None) -> cst.BaseExpression:
    """What `on_commit` calls: `<partial>(<call.func>, <call's arguments>)`, or the
    dispatch's callable itself when it takes no arguments (`partial` None). The arguments
    keep their own commas and comments; a call written over several lines keeps its
    layout, with the dispatched callable on a line of its own like the arguments."""
    if not call.args or partial is None:
        return call.func
    after = call.whitespace_before_args
    bound = cst.Call(func=partial.node(), args=[])
    if isinstance(after, cst.SimpleWhitespace):
        after = cst.SimpleWhitespace(" ")  # `partial(send.delay, x)`
    else:  # a line break followed the `(`: it now precedes the callable too
        bound = bound.with_changes(whitespace_before_args=after)
    func = cst.Arg(value=call.func, comma=cst.Comma(whitespace_after=after))
    return bound.with_changes(args=[func, *call.args])


def on_commit_call(
    on_commit: Spelling, deferred: cst.BaseExpression, using: cst.BaseExpression | None
) -> cst.Call:
    """`<on_commit>(<deferred>[, using=...])`."""
    if using is None:
        return cst.Call(func=on_commit.node(), args=[cst.Arg(value=deferred)])
    space = cst.SimpleWhitespace(" ")
    keyword = cst.Arg(
        keyword=cst.Name("using"),
        value=using,
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    first = cst.Arg(value=deferred, comma=cst.Comma(whitespace_after=space))
    return cst.Call(func=on_commit.node(), args=[first, keyword])
