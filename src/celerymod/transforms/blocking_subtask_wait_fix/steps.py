"""The signature of one step of CEL001's chord or chain (`t.s(...)`, `t.si(...)`,
`app.signature("name", ...)` for `send_task`), spelled from the dispatch it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from celerymod.analysis.records import WaitSite
from celerymod.analysis.syntax import source_text
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind
from celerymod.transforms.blocking_subtask_wait_fix.common import _BY_HAND, Refused
from celerymod.transforms.blocking_subtask_wait_fix.reads import _Reads

# `Signature(task, args, kwargs, options, type, subtask_type, immutable, app)`: a `send_task`
# option of one of these names would not become a dispatch option.
_SIGNATURE_FIELDS = frozenset(
    {"task", "args", "kwargs", "options", "type", "subtask_type", "immutable", "app"}
)


class _Steps(_Reads):
    """Each step's signature, from the dispatch whose wait it replaces."""

    def _signature(
        self, site: WaitSite, immutable: bool, skip_first: bool = False, collected: bool = False
    ) -> str:
        origin = site.origin
        if origin.kind is not OriginKind.DISPATCH or origin.canvas not in (
            Canvas.TASK,
            Canvas.SIGNATURE,
        ):
            raise Refused("the waited result is not one task's; " + _BY_HAND)
        if origin.collection is not None and not collected:
            raise Refused("the results are collected in a list first; " + _BY_HAND)
        arguments = origin.arguments()
        if arguments is None or origin.task_expr is None:
            raise Refused("celerymod cannot tell the task's arguments; " + _BY_HAND)
        if not arguments.spelled_out:
            raise Refused(
                "the arguments are passed as `*args`/`**kwargs` that the rewrite cannot "
                "spell out; " + _BY_HAND
            )
        if origin.canvas is Canvas.SIGNATURE and origin.call is not None and origin.call.args:
            raise Refused("the signature is dispatched with extra arguments; " + _BY_HAND)
        options = list(arguments.options)
        if origin.form is CallForm.APPLY and options:
            raise Refused("`apply()` options do not carry over; " + _BY_HAND)
        if origin.canvas is Canvas.SIGNATURE and options:
            raise Refused("the signature carries options; " + _BY_HAND)
        args = list(arguments.args[1:] if skip_first else arguments.args)
        if origin.form is CallForm.SEND_TASK:
            return self._named_signature(site, args, immutable)
        parts = [source_text(a) for a in args]
        parts += [f"{key}={source_text(value)}" for key, value in arguments.kwargs]
        method = "si" if immutable else "s"
        text = f"{source_text(origin.task_expr)}.{method}({', '.join(parts)})"
        if options:
            text += ".set(" + ", ".join(f"{k}={source_text(v)}" for k, v in options) + ")"
        return text

    def _named_signature(
        self, site: WaitSite, args: Sequence[cst.BaseExpression], immutable: bool
    ) -> str:
        """`app.send_task("name", args, kwargs, **options)` as a step of a canvas:
        `app.signature("name", args=[...], kwargs={...}, **options)` on the same app, with
        `immutable=True` where the step receives nothing from the step before."""
        origin = site.origin
        call, name = origin.call, origin.task_expr
        arguments = origin.arguments()
        assert call is not None and name is not None and arguments is not None
        assert isinstance(call.func, cst.Attribute)
        clashes = sorted({key for key, _ in arguments.options} & _SIGNATURE_FIELDS)
        if clashes:
            raise Refused(
                f"`send_task` passes `{clashes[0]}=`, which `signature()` reads as its own; "
                + _BY_HAND
            )
        parts = [source_text(name)]
        if args:
            parts.append(f"args=[{', '.join(source_text(a) for a in args)}]")
        if arguments.kwargs:
            pairs = ", ".join(f'"{key}": {source_text(value)}' for key, value in arguments.kwargs)
            parts.append(f"kwargs={{{pairs}}}")
        parts += [f"{key}={source_text(value)}" for key, value in arguments.options]
        if immutable:
            parts.append("immutable=True")
        note = (
            "`send_task` went through the broker even under `task_always_eager`, where "
            "`signature(...)` runs the task in place, and only if this process registers it"
        )
        if note not in self.review_notes:
            self.review_notes.append(note)
        return f"{source_text(call.func.value)}.signature({', '.join(parts)})"
