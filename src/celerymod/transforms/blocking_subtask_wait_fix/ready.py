"""CEL001's fix for a wait on a result the code checked is ready (`if res.ready():`, after
`if not res.ready(): raise self.retry(...)` or a `while not res.ready():` poll that only its
condition ends; `analysis.waits` decides): pass `disable_sync_subtasks=False`.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.records import WaitSite
from celerymod.model import Safety
from celerymod.transforms.base import Fix, with_keyword


def ready_fix(site: WaitSite) -> Fix:
    """`res.get()` where `res` is known to be ready: pass `disable_sync_subtasks=False`.

    Safe: the result is finished, so the wait returns (or raises the subtask's error) at
    once, as it did where no guard runs (eager mode); only Celery's guard, which asserts
    before it looks at the result, stops raising."""
    call = site.node
    assert isinstance(call, cst.Call)
    return Fix(
        message=(
            "pass `disable_sync_subtasks=False`: the code checked that the result is ready "
            "(`.ready()`), so the wait cannot block; only Celery's guard, which raises before "
            "looking at the result, stops raising"
        ),
        safety=Safety.SAFE,
        replacements=((call, with_keyword(call, "disable_sync_subtasks", cst.Name("False"))),),
    )
