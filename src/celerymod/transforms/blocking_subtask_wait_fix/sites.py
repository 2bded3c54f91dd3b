"""Which of a task's waits CEL001's checker reports and rewrites (`reported_waits`,
`rewritable_waits`, `task_polls`): not the ones CEL002 takes over (`claimed_by_cel002`),
and the suppressed ones (`suppressed_site`) the rewrite must not take.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.outside_tasks import only_outside_tasks
from celerymod.analysis.records import Task, WaitSite
from celerymod.model import RunConfig
from celerymod.transforms.blocking_subtask_wait_fix.stored import stored_result_fix


def suppressed_site(celery: CeleryModule, site: WaitSite) -> bool:
    """Whether CEL001's finding on `site` is suppressed (the engine drops it, and its fix)."""
    from celerymod.suppressions import suppressed

    where = celery._position(site.node)
    lines = celery.source_lines
    line = where.start.line if where is not None else 0
    return 0 < line <= len(lines) and suppressed(lines[line - 1], "CEL001")


def claimed_by_cel002(celery: CeleryModule, site: WaitSite, config: RunConfig) -> bool:
    """True when CEL002 (selected in this run) reports and fixes this wait itself: a single
    waited call of a project task it can extract takes precedence (DESIGN §2). The
    predicate is CEL002's own, `nested_task_call_fix.sites.claims`, consulted once CEL002 is registered."""
    from celerymod.registry import BY_CODE

    if "CEL002" not in BY_CODE:
        return False
    try:
        from celerymod.transforms.nested_task_call_fix.sites import claims
    except ImportError:  # CEL002 not installed in this tree.
        return False
    return claims(site, celery, config)


def reported_waits(celery: CeleryModule, task: Task, config: RunConfig) -> tuple[WaitSite, ...]:
    """The task's waits that are CEL001's findings (not CEL002's, not in a branch that
    runs only outside tasks)."""
    return tuple(
        site
        for site in celery.waits(task)
        if not claimed_by_cel002(celery, site, config)
        and not only_outside_tasks(celery, site.node, task.function)
    )


def task_polls(celery: CeleryModule, task: Task) -> list[tuple[cst.While, str, WaitSite | None]]:
    """The task's polling loops, each with the wait the rewrite can take it for (None
    for a loop it cannot: see `Waits.poll_site`)."""
    return [
        (loop, text, celery.poll_site(loop, task))
        for loop, text in celery.polls(task)
        if not only_outside_tasks(celery, loop, task.function)
    ]


def rewritable_waits(celery: CeleryModule, task: Task, config: RunConfig) -> tuple[WaitSite, ...]:
    """The waits the rewrite into a chord or chain handles (`rewritable_of`)."""
    return rewritable_of(reported_waits(celery, task, config), task_polls(celery, task))


def rewritable_of(
    reported: Sequence[WaitSite], polls: Sequence[tuple[cst.While, str, WaitSite | None]]
) -> tuple[WaitSite, ...]:
    """Of a task's reported waits and polling loops, those the rewrite handles: not waits on
    a result known to be ready, nor those that only read a stored outcome (each has a fix of
    its own); and the polling loops it can take for waits (`while not res.ready():`)."""
    waits = tuple(
        site for site in reported if not site.ready_checked and stored_result_fix(site) is None
    )
    return waits + tuple(site for _, _, site in polls if site)
