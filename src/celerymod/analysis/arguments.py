"""What arguments a dispatch or a signature passes to its task (`call_arguments`,
`signature_arguments`), separated from the dispatch options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from keyword import iskeyword

import libcst as cst

from celerymod.analysis.syntax import _attribute_chain, _string_value
from celerymod.analysis.vocabulary import _DISPATCH_POSITIONALS, CallForm


@dataclass(frozen=True)
class CallArguments:
    """The arguments a dispatch passes to the task, separated from dispatch options.

    `args` are the positional arguments when they are spelled out (`delay(a, b)`,
    `apply_async(args=[a, b])`, `apply_async((a,))`); `star_args` holds an expression whose
    value is the positional arguments when they are not (`delay(*xs)`, `apply_async(args=xs)`).
    Likewise `kwargs` / `star_kwargs`. `options` are the dispatch options (`countdown`,
    `queue`, ... for `apply_async`; `link`, ... for signatures), which a rewrite into a
    helper call drops and a rewrite into a signature may keep.
    """

    args: tuple[cst.BaseExpression, ...] = ()
    kwargs: tuple[tuple[str, cst.BaseExpression], ...] = ()
    star_args: tuple[cst.BaseExpression, ...] = ()
    star_kwargs: tuple[cst.BaseExpression, ...] = ()
    options: tuple[tuple[str, cst.BaseExpression], ...] = ()

    @property
    def spelled_out(self) -> bool:
        """True when every argument is a node here (nothing hidden behind `*`/`**`)."""
        return not self.star_args and not self.star_kwargs


def call_arguments(call: cst.Call, form: CallForm) -> CallArguments:
    """Split a dispatch call's arguments into the task's arguments and dispatch options.

    `delay(*a, **k)` and signature calls pass everything to the task; `apply_async(args,
    kwargs, **options)` and `apply(args, kwargs, **options)` take the task's arguments as a
    sequence and a mapping; `send_task(name, args, kwargs, **options)` likewise after the name.
    """
    if form in (CallForm.DELAY, CallForm.CALL):
        return _direct_arguments(call.args)
    if form in (CallForm.APPLY_ASYNC, CallForm.APPLY, CallForm.SEND_TASK):
        skip = 1 if form is CallForm.SEND_TASK else 0
        return _packed_arguments(call.args, skip, ("name",) if skip else ())
    return CallArguments()


def signature_arguments(signature: cst.Call) -> CallArguments:
    """The task arguments of `t.s(...)`, `t.si(...)`, `t.signature(args, kwargs, **opts)`
    or `signature("name", args, kwargs, **opts)`."""
    func = signature.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("s", "si"):
        return _direct_arguments(signature.args)
    if isinstance(func, cst.Attribute) and func.attr.value in ("signature", "subtask"):
        return _packed_arguments(signature.args, 0, ())
    return _packed_arguments(signature.args, 1, ("varies", "task"))


def _direct_arguments(arguments: Sequence[cst.Arg]) -> CallArguments:
    args: list[cst.BaseExpression] = []
    kwargs: list[tuple[str, cst.BaseExpression]] = []
    star_args: list[cst.BaseExpression] = []
    star_kwargs: list[cst.BaseExpression] = []
    for arg in arguments:
        if arg.star == "*":
            star_args.append(arg.value)
        elif arg.star == "**":
            star_kwargs.append(arg.value)
        elif arg.keyword is not None:
            kwargs.append((arg.keyword.value, arg.value))
        else:
            args.append(arg.value)
    return CallArguments(tuple(args), tuple(kwargs), tuple(star_args), tuple(star_kwargs))


def _packed_arguments(
    arguments: Sequence[cst.Arg], skip: int, named_skips: tuple[str, ...]
) -> CallArguments:
    """`(args, kwargs, **options)` after `skip` leading positionals (a task name)."""
    positional = [a for a in arguments if a.keyword is None and not a.star]
    packed: dict[str, cst.BaseExpression] = {}
    for name, arg in zip(_DISPATCH_POSITIONALS, positional[skip:], strict=False):
        packed[name] = arg.value
    options: list[tuple[str, cst.BaseExpression]] = []
    star_kwargs: list[cst.BaseExpression] = []
    for arg in arguments:
        if arg.star == "**":
            star_kwargs.append(arg.value)  # Options or arguments: cannot tell.
        elif arg.keyword is not None:
            if arg.keyword.value in _DISPATCH_POSITIONALS:
                packed[arg.keyword.value] = arg.value
            elif arg.keyword.value not in named_skips:
                options.append((arg.keyword.value, arg.value))
    args: tuple[cst.BaseExpression, ...] = ()
    star_args: tuple[cst.BaseExpression, ...] = ()
    packed_args = packed.get("args")
    if isinstance(packed_args, cst.List | cst.Tuple) and all(
        isinstance(e, cst.Element) for e in packed_args.elements
    ):
        args = tuple(e.value for e in packed_args.elements)
    elif packed_args is not None and not _is_none(packed_args):
        star_args = (packed_args,)
    kwargs: tuple[tuple[str, cst.BaseExpression], ...] = ()
    packed_kwargs = packed.get("kwargs")
    literal = _literal_keywords(packed_kwargs) if packed_kwargs is not None else None
    if literal is not None:
        kwargs = literal
    elif packed_kwargs is not None and not _is_none(packed_kwargs):
        star_kwargs.insert(0, packed_kwargs)
    return CallArguments(args, kwargs, star_args, tuple(star_kwargs), tuple(options))


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _literal_keywords(
    node: cst.BaseExpression,
) -> tuple[tuple[str, cst.BaseExpression], ...] | None:
    """`{"a": x}` or `dict(a=x)` as pairs; None when the keys are not all string literals
    that can be keyword arguments."""
    pairs: list[tuple[str, cst.BaseExpression]] = []
    if isinstance(node, cst.Dict):
        for element in node.elements:
            key = _string_value(element.key) if isinstance(element, cst.DictElement) else None
            if key is None or not isinstance(element, cst.DictElement):
                return None
            if not key.isidentifier() or iskeyword(key):
                return None  # `f(**{"class": 1})` cannot be spelled `f(class=1)`.
            pairs.append((key, element.value))
        return tuple(pairs)
    if isinstance(node, cst.Call) and _attribute_chain(node.func) == ["dict"]:
        for arg in node.args:
            if arg.keyword is None:
                return None
            pairs.append((arg.keyword.value, arg.value))
        return tuple(pairs)
    return None
