"""A task that waits in several places in a row (two fan-outs, a fan-out then a sequence):
a chain of chords, one step per fix.

The fix rewrites the first shape only, exactly as a task that waits once; the code after it,
which holds the later waits, moves verbatim into the callback `<task>_finish`, and the
engine's fixpoint (`engine._fixpoint`), analysing the fixed code again, rewrites the
callback's own first wait next, and so on. The first fix is offered only when that chain of
fixes reaches a task with no wait left: each later step is tried on the code the fix
produces (`callback_task`; rewrite.py rewrites it, `check_next_step` judges it), so that no
run leaves a callback that still waits (half a rewrite).
A step's safety is the weakest of its own and the later steps': `fix --write` without
`--unsafe-fixes` applies the whole chain or none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import libcst as cst
from libcst.metadata import MetadataWrapper

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task, WaitSite
from celerymod.analysis.shapes import Shape
from celerymod.analysis.syntax import describe
from celerymod.analysis.vocabulary import METADATA
from celerymod.lazy_metadata import LazyMetadata
from celerymod.model import Safety, Strategy
from celerymod.transforms.base import Fix, ModuleContext
from celerymod.transforms.blocking_subtask_wait_fix.common import _BY_HAND, Refused


class StepOutcome(Protocol):
    """What this module reads of a rewrite's `Outcome` (rewrite.py, which calls it)."""

    @property
    def fix(self) -> Fix | None: ...
    @property
    def reasons(self) -> dict[int, str]: ...
    @property
    def suppressed(self) -> frozenset[int]: ...
    @property
    def review_reasons(self) -> tuple[str, ...]: ...


# The start of the reason every wait of a task gets when a later step cannot be rewritten;
# a reason that already starts so (a step further down the chain) is passed on as it is.
_LATER = "a later wait of the task"


@dataclass(frozen=True)
class Steps:
    """What trying the later steps needs: the file's context (to apply a fix as the engine
    does) and how the checker picks a task's waits (the same filter as for the first step)."""

    context: ModuleContext
    waits: Callable[[CeleryModule, Task], Sequence[WaitSite]]
    suppressed: Callable[[CeleryModule, WaitSite], bool]


def check_order(shapes: Sequence[Shape]) -> None:
    """Refused unless each shape's statements (building or sending its work, waiting) all
    come after the previous shape's last wait: a later shape's canvas or result made before
    an earlier wait would stay in the orchestrator while the wait on it moves into the
    callback."""
    for before, after in pairwise(shapes):
        if after.first_statement <= before.last_statement:
            raise Refused(
                f"later waits ({after.kind}) are on a canvas or result made before the "
                f"earlier waits ({before.kind}) end: it would have to reach the callback as "
                "an argument, and neither comes back from the serializer as what it was; "
                + _BY_HAND
            )


def callback_task(
    celery: CeleryModule, fix: Fix, callback: str, steps: Steps
) -> tuple[CeleryModule, Task, tuple[WaitSite, ...]]:
    """The module as the engine writes it once `fix` is applied, the callback task `callback`
    in it, and the waits of that task the rewrite handles (the next step's)."""
    fixed = _fixed(celery, fix, steps.context)
    task = next(
        (t for t in fixed.tasks if t.function.name.value == callback and t.class_node is None),
        None,
    )
    if task is None:  # The callback is not a task celerymod recognises: it cannot be checked.
        raise Refused(f"celerymod cannot find the callback `{callback}` it would add; {_BY_HAND}")
    return fixed, task, tuple(steps.waits(fixed, task))


def check_next_step(outcome: StepOutcome, waits: Sequence[WaitSite]) -> None:
    """Refused, with the reason naming the wait, unless `outcome`, the rewrite of the
    callback's `waits`, rewrites every one of them (by its fix, or by fixes found after it):
    else the run would leave a callback that still waits."""
    if outcome.fix is not None and not outcome.reasons and not outcome.suppressed:
        return
    site = next((s for s in waits if outcome.reasons.get(id(s.node))), waits[0])
    reason = outcome.reasons.get(id(site.node), "")
    if reason.startswith(_LATER):  # A step further down: its reason names its wait.
        raise Refused(reason)
    raise later_refusal(site.node, reason or "its finding is suppressed: `# celerymod: ignore`")


def later_refusal(wait: cst.CSTNode, reason: str) -> Refused:
    """Why the first step is not rewritten: the later wait `wait` cannot be, for `reason`."""
    inner = reason.removesuffix("; " + _BY_HAND)
    text = describe(wait)
    if isinstance(wait, cst.Call):  # As the finding spells it: `r.get()`, `job.join(...)`.
        text = f"{describe(wait.func)}({'...' if wait.args else ''})"
    return Refused(
        f"{_LATER}, `{text}`, cannot be rewritten in the callback after this "
        f"one ({inner}), and rewriting only this one would leave the callback waiting; " + _BY_HAND
    )


def merged(
    fix: Fix, own: Sequence[str], later: StepOutcome, callback: str, strategy: Strategy
) -> Fix:
    """`fix`, the first step, told what happens next: its message says that the callback is
    rewritten by the next fix of the run, and its safety is the weakest of the chain's (the
    later steps' reasons for review are named: `own` are this step's)."""
    if later.fix is None:
        return fix
    if strategy is Strategy.REPLACE:
        note = (
            f"the code after the wait waits again: `{callback}` is rewritten in turn by the "
            "next fix of this run (each step replaces itself with the next one's chord or "
            "chain, and the task's caller gets the last step's value)"
        )
    else:
        note = (
            f"the code after the wait waits again: `{callback}` is rewritten in turn by the "
            "next fix of this run and returns that step's metadata, so the final value is "
            "one level deeper per later step that dispatches (follow `result_id` to the "
            "next metadata, then its `result_id`)"
        )
    notes = [note]
    reasons = [r for r in later.review_reasons if r not in own]
    if later.fix.safety is Safety.REVIEW and fix.safety is Safety.SAFE:
        why = "; ".join(reasons) or "see its message"
        notes.append(f"review because a later step is: {why}")
    elif reasons:
        notes.append("a later step also: " + "; ".join(reasons))
    safety = Safety.REVIEW if Safety.REVIEW in (fix.safety, later.fix.safety) else fix.safety
    return Fix(
        message=f"{fix.message}; " + "; ".join(notes),
        safety=safety,
        replacements=fix.replacements,
        add_imports=fix.add_imports,
        remove_imports=fix.remove_imports,
        foreign=fix.foreign,
    )


def _fixed(celery: CeleryModule, fix: Fix, context: ModuleContext) -> CeleryModule:
    """The module as the engine writes it once `fix` is applied, analysed afresh."""
    # The engine's own application of a fix (replacements, then imports where isort puts
    # them), so that the callback is analysed exactly as the next round of the fixpoint sees it.
    from celerymod.engine import _apply_batch

    text = _apply_batch(celery.module, [fix], context).code
    wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
    return CeleryModule(
        wrapper.module,
        LazyMetadata(wrapper, [METADATA]),
        path=celery.path,
        module_name=celery.module_name,
        task_decorators=celery.task_decorators,
        index=celery.index,
    )
