"""The notes and message of CEL001's fix: what can fail differently, and who reads the
task's new result.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.syntax import describe
from celerymod.model import Strategy
from celerymod.transforms.blocking_subtask_wait_fix.common import _Chain, _Chord
from celerymod.transforms.blocking_subtask_wait_fix.values import _Values


class _Messages(_Values):
    """What the fix's message says: failure notes and who reads the new result."""

    def _failure_notes(self, plan: _Chain | _Chord, callback: bool) -> None:
        """What the rewrite changes when a subtask fails, under `task_always_eager` and for
        retries: each seen on Celery 5.7 (prefork worker, Redis) and in the worker tests,
        which check these notes against the rule's "Failure semantics" table."""
        replace = self.strategy is Strategy.REPLACE
        # `self.replace(group)` is uplifted to a chord (with `celery.accumulate`).
        if isinstance(plan, _Chord) and (callback or replace):
            self.review_notes.append(
                "a failing subtask now reaches whoever waits on the result as `ChordError` "
                '("Dependency ... raised ..."), not as its own exception, and a chord needs a '
                "result backend that supports chords (not `rpc://`)"
            )
        elif isinstance(plan, _Chord):
            self.review_notes.append(
                "`GroupResult.save()` needs a result backend that stores groups (not "
                "`rpc://`), also under `task_always_eager`, where the wait needed none"
            )
        decorator = self.task.decorator
        assert decorator is not None
        target = decorator.decorator
        retries = isinstance(target, cst.Call) and any(
            arg.keyword is not None and arg.keyword.value == "autoretry_for" for arg in target.args
        )
        if retries:
            moved = (
                "; the callback gets the retry options too, where they retry only the code "
                "that moved"
                if callback
                else ""
            )
            self.review_notes.append(
                "`autoretry_for` no longer retries the task when a subtask fails: the subtasks "
                "run after it has returned" + moved
            )
        self.review_notes += self.poll_notes
        callers = self._direct_callers() if replace else ()
        if callers:
            shown = ", ".join(f"`{c}`" for c in callers[:5])
            more = f" and {len(callers) - 5} more" if len(callers) > 5 else ""
            self.review_notes.append(
                "a direct call of the task (`task(...)`, `task.run(...)`), which ran its body "
                "in the caller's process where the waits worked, now raises "
                "`celery.exceptions.Ignore` from `self.replace` after sending the chain; "
                f"these call it so: {shown}{more}"
            )
        base = next(
            (
                arg.value
                for arg in (target.args if isinstance(target, cst.Call) else ())
                if arg.keyword is not None and arg.keyword.value == "base"
            ),
            None,
        )
        if replace and base is not None:
            copied = ", and run for the callback, which copies the decorator" if callback else ""
            self.review_notes.append(
                f"the hooks of `base={describe(base)}` (`on_success`, `after_return`, ...) no "
                f"longer run when this task finishes on a worker (it is replaced){copied}"
            )
        if replace and any(site.workaround is not None for site in self.shape.waits):
            self.review_notes.append(
                "under `task_always_eager`, `.delay()` of the task now raises Celery's guard "
                "where the workaround let it wait (`.apply()` works)"
            )
        index = next(i for i, d in enumerate(self.function.decorators) if d is decorator)
        if replace and callback and self.function.decorators[index + 1 :]:
            self.review_notes.append(
                "under `task_always_eager`, `self.replace` returns the callback's value, which "
                "the decorators below the task decorator then wrap a second time"
            )

    def _stacked_decorators(self, name: str) -> list[cst.Decorator]:
        """The decorators below the task decorator, which wrapped the code that moves into
        the callback `name`: copied onto it, in the same order. Whether they suit a
        function with other parameters, run after the subtasks, celerymod cannot tell (nor
        what the ones above the task decorator, not copied, did to the task): review."""
        decorators = list(self.function.decorators)
        index = next(i for i, d in enumerate(decorators) if d is self.task.decorator)
        above, below = decorators[:index], decorators[index + 1 :]
        if below:
            names = ", ".join(f"`@{describe(d.decorator)}`" for d in below)
            suits = "it suits" if len(below) == 1 else "they suit"
            self.review_notes.append(
                f"copies {names} onto `{name}` too: check {suits} the callback, which takes "
                "other parameters and runs after the subtasks"
            )
        if above:
            names = ", ".join(f"`@{describe(d.decorator)}`" for d in above)
            self.review_notes.append(
                f"does not copy {names}, above the task decorator, onto `{name}`: check the "
                "callback does not need it"
            )
        return [d.with_changes(leading_lines=()) for d in below]

    def _message(
        self,
        plan: _Chain | _Chord,
        callback_sig: str | None,
        literal_return: bool,
        notes: list[str],
    ) -> str:
        if isinstance(plan, _Chain) and len(plan.steps) == 1 and not callback_sig:
            what = "the subtask"
        elif isinstance(plan, _Chain):
            what = f"a chain of {len(plan.steps)} step{'s' if len(plan.steps) > 1 else ''}"
        elif callback_sig:
            what = "a chord"
        else:
            what = "a group"
        if callback_sig:
            what += (
                f" whose callback `{callback_sig.partition('.')[0]}` runs the code that followed"
            )
        if self.removed_workaround:
            what += ", without `allow_join_result()`"
        if self.strategy is Strategy.REPLACE:
            text = f"replace the task with {what} (`self.replace`)"
        else:
            text = (
                f"dispatch {what} and return its ids; the task's return value changes to "
                "`{status, job_id, ...}`"
            )
            if literal_return:
                text += " (they replace its `return` of a constant)"
            text += self._readers()
        if notes:
            text += "; " + "; ".join(notes)
        return text

    def _direct_callers(self) -> tuple[str, ...]:
        index = self.celery.index
        return () if index is None else index.direct_callers(self.task.definition)

    def _readers(self) -> str:
        """Where the scanned project reads what the task returns (`.get()` on its result,
        canvases and `link=` it is part of): those now get the metadata dict."""
        index = self.celery.index
        if index is None:
            return ""
        own = self.task.definition
        uses = [
            use
            for use in index.uses_of(own)
            # The task's own module is indexed from the same source: its own body is not a
            # reader (a recursive dispatch would be, and is kept).
            if not (use.path == own.path and self._inside_task(use.line))
        ]
        if not uses:
            return "; no scanned file reads its return value"
        shown = [
            f"{use.path}:{use.line} ({'its result' if use.how == 'result' else 'a signature'})"
            for use in uses[:5]
        ]
        more = f" and {len(uses) - 5} more" if len(uses) > 5 else ""
        return "; these read its return value and get that dict now: " + ", ".join(shown) + more

    def _inside_task(self, line: int) -> bool:
        position = self.celery._position(self.function)
        if position is None:
            return False
        return position.start.line <= line <= position.end.line
