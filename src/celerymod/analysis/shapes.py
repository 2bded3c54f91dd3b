"""What shape a task's waits form, as DESIGN §2's table names them (`classify`): a fan-out, a
loop of waits, a sequence, a pipeline, or one wait on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

import libcst as cst

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import _is_loop
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind
from celerymod.transforms.base import walk


class ShapeKind(StrEnum):
    """The shapes of DESIGN §2's table."""

    FAN_OUT = "fan-out"
    LOOP_OF_WAITS = "loop of waits"
    SEQUENCE = "sequence"
    PIPELINE = "pipeline"
    OTHER = "anything else"


@dataclass(frozen=True)
class Shape:
    """Waits of one task that one rewrite would handle together.

    `first_statement`..`last_statement` is the range of top-level statements of the task body
    the shape spans (dispatches included). For SEQUENCE and PIPELINE, `waits` are in order
    and `feeds_next[i]` is True when wait `i`'s value is the first positional argument of the
    call waited at `i + 1` (a `.s()` link) and False when the next call is independent (a
    `.si()` link); it has one element less than `waits`. For OTHER, `reason` says why no
    rewrite fits.
    """

    kind: ShapeKind
    waits: tuple[WaitSite, ...]
    first_statement: int
    last_statement: int
    feeds_next: tuple[bool, ...] = ()
    reason: str = ""


def classify(waits: Sequence[WaitSite]) -> tuple[Shape, ...]:
    """Group a task's waits into the shapes of DESIGN §2 (every wait lands in one shape).

    - OTHER: a result looked up by id, received as an argument, or of unknown origin; a wait
      inside `if`, `try`, `while`, `with` (other than `allow_join_result`), `match`, or
      nested loops.
    - LOOP_OF_WAITS: a wait repeated by one `for` or one comprehension at the top level of the
      body, or on the elements of a collection of results.
    - FAN_OUT: a wait on a group or chord result (or a `ResultSet` of results).
    - SEQUENCE / PIPELINE: consecutive top-level statements each waiting on one dispatched
      task or signature; PIPELINE when one's value is the next call's first positional
      argument (see `Shape.feeds_next`). A single such wait is a SEQUENCE of one.
    Waits in the same top-level statement form one shape.
    """
    by_statement: dict[int, list[WaitSite]] = {}
    for site in waits:
        by_statement.setdefault(site.statement_index, []).append(site)
    shapes: list[Shape] = []
    run: list[WaitSite] = []
    for index in sorted(by_statement):
        group = by_statement[index]
        ones = [_shape_of_one(site) for site in group]
        kinds = set(ones)
        kind, reason = ones[0]
        if any(one[0] is ShapeKind.OTHER for one in ones):
            # The first reason no rewrite fits (`while True:` holding two waits is a loop,
            # not "different shapes").
            kind, reason = next(one for one in ones if one[0] is ShapeKind.OTHER)
        elif len(kinds) > 1:
            kind, reason = ShapeKind.OTHER, "waits of different shapes in one statement"
        elif kind is ShapeKind.SEQUENCE and len(group) > 1:
            kind, reason = ShapeKind.OTHER, "several waits in one statement"
        if kind is ShapeKind.SEQUENCE:
            site = group[0]
            if run and site.statement_indices[0] > run[-1].statement_index + 1:
                shapes.append(_sequence(run))
                run = []
            run.append(site)
            continue
        if run:
            shapes.append(_sequence(run))
            run = []
        shapes.append(_shape(kind, group, reason=reason))
    if run:
        shapes.append(_sequence(run))
    shapes.sort(key=lambda shape: shape.first_statement)
    return tuple(shapes)


def _shape(
    kind: ShapeKind, waits: Sequence[WaitSite], *, feeds: tuple[bool, ...] = (), reason: str = ""
) -> Shape:
    indices = [i for site in waits for i in site.statement_indices]
    return Shape(kind, tuple(waits), min(indices), max(indices), feeds, reason)


def _shape_of_one(site: WaitSite) -> tuple[ShapeKind, str]:
    origin = site.origin
    if origin.kind is OriginKind.LOOKUP:
        return ShapeKind.OTHER, (
            "it waits on a result looked up by id, not one this task sent (have the sender "
            "chain this task after it, or retry until it is ready)"
        )
    if origin.kind is OriginKind.ARGUMENT:
        return ShapeKind.OTHER, "it waits on a result the task received as an argument"
    if origin.form is CallForm.REBOUND:
        names = ", ".join(f"`{name}`" for name in origin.names)
        return ShapeKind.OTHER, (
            f"{names} holds results of different kinds here (looked up by id, sent by this "
            "task, received as an argument), depending on which assignment ran"
        )
    if origin.kind is OriginKind.UNKNOWN:
        return ShapeKind.OTHER, "celerymod cannot tell what produced this result"
    if picked(origin.signature):
        return ShapeKind.OTHER, (
            "it sends a signature picked from a dict or list, not one the task builds (the "
            "entry may be missing, and each entry may need a callback of its own)"
        )
    if origin.canvas is Canvas.MAP:
        return ShapeKind.OTHER, (
            "it waits on `map`/`starmap`/`chunks`, whose items run in one task (a chord of "
            "`t.s(x) for x in xs` keeps the values)"
        )
    if site.bound_method is not None:
        return ShapeKind.OTHER, "the wait method is bound to a name before it is called"
    loops = [n for n in site.enclosing if _is_loop(n)]
    # The workaround's own `with allow_join_result():` goes with the rewrite: what else
    # holds the wait is the reason (a `while` around it, say).
    workaround = site.workaround.node if site.workaround is not None else None
    blockers = [n for n in site.enclosing if not _is_loop(n) and n is not workaround]
    if blockers:
        return ShapeKind.OTHER, _blocked_by(blockers[0])
    if any(isinstance(n, cst.While) for n in loops) or len(loops) > 1:
        return ShapeKind.OTHER, "the wait sits inside a `while` loop or nested loops"
    if loops or origin.collection is not None and origin.form is not CallForm.RESULT_SET:
        return ShapeKind.LOOP_OF_WAITS, ""
    if origin.canvas in (Canvas.GROUP, Canvas.CHORD):
        return ShapeKind.FAN_OUT, ""
    return ShapeKind.SEQUENCE, ""


def _sequence(run: Sequence[WaitSite]) -> Shape:
    feeds: list[bool] = []
    for before, after in pairwise(run):
        link = _link(before, after, run)
        if link is None:
            return _shape(
                ShapeKind.OTHER,
                run,
                reason="a later call uses an earlier result other than as its first argument",
            )
        feeds.append(link)
    kind = ShapeKind.PIPELINE if any(feeds) else ShapeKind.SEQUENCE
    return _shape(kind, run, feeds=tuple(feeds))


def _link(before: WaitSite, after: WaitSite, run: Sequence[WaitSite]) -> bool | None:
    """True: `before`'s value is `after`'s first positional argument and used nowhere else in
    its arguments; False: `after` uses no value an earlier wait of the run produced; None:
    any other dependency (no chain expresses it)."""
    earlier = {
        site.value_target.value
        for site in run[: run.index(after)]
        if isinstance(site.value_target, cst.Name)
    }
    arguments = after.origin.arguments()
    if arguments is not None:
        nodes: list[cst.CSTNode] = [
            *arguments.args,
            *(value for _, value in arguments.kwargs),
            *arguments.star_args,
            *arguments.star_kwargs,
        ]
    else:
        dispatched = after.origin.call or after.origin.signature
        nodes = [dispatched] if dispatched is not None else []
    uses = [
        n for node in nodes for n in walk(node) if isinstance(n, cst.Name) and n.value in earlier
    ]
    if not uses:
        return False
    previous = before.value_target
    first = arguments.args[0] if arguments is not None and arguments.args else None
    if (
        isinstance(previous, cst.Name)
        and isinstance(first, cst.Name)
        and first.value == previous.value
        and len(uses) == 1
        and uses[0] is first
    ):
        return True
    return None


def picked(signature: cst.BaseExpression | None) -> bool:
    """Whether a dispatched signature is one picked from a collection (`METHODS.get(name)`,
    `steps[i]`: `origins._picked_signature`)."""
    if isinstance(signature, cst.Subscript):
        return True
    return (
        isinstance(signature, cst.Call)
        and isinstance(signature.func, cst.Attribute)
        and signature.func.attr.value == "get"
    )


def _blocked_by(node: cst.CSTNode) -> str:
    """Why a wait inside `node` is not rewritten: what the statement around it would lose."""
    if isinstance(node, cst.Try | cst.TryStar):
        if node.handlers:
            return (
                "the wait sits inside `try`, whose `except` handles the subtask's failure "
                "(after a rewrite, only an error callback would see it: `link_error=`)"
            )
        return "the wait sits inside `try`, whose `finally` would run before the subtask ends"
    return f"the wait sits inside `{_keyword_of(node)}`"


def _keyword_of(node: cst.CSTNode) -> str:
    return {
        cst.If: "if",
        cst.Try: "try",
        cst.TryStar: "try",
        cst.While: "while",
        cst.With: "with",
        cst.Match: "match",
        cst.For: "for",
        cst.Else: "else",
    }.get(type(node), type(node).__name__)
