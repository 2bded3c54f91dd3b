"""CEL002 on a real prefork worker with Redis (DESIGN §6): for each folder case, the caller
task of the input raises Celery's guard; the caller of the fixed code completes with the
value the original logic computes; the task that became a wrapper still works on its own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import load_folder_cases_for_worker

pytestmark = pytest.mark.worker

RULE = "nested-task-call"
GUARD = "Never call result.get() within a task!"
TIMEOUT = 20


@dataclass(frozen=True)
class Behaviour:
    case: str
    caller: str  # module.task inside the case's package
    args: tuple[object, ...]
    value: object  # what the original logic computes, without the guard
    callee: str
    callee_args: tuple[object, ...]
    callee_kwargs: dict[str, object]
    callee_value: object


_SEED_RESULTS = [
    {"status": "success", "codebundle_id": 1, "summary": "k8s-health (enhanced)"},
    {"status": "error", "codebundle_id": 9, "message": "not found"},
]

BEHAVIOURS = [
    Behaviour("same_module", "tasks.total", (5,), 30, "tasks.add_task", (5,), {"y": 2}, 7),
    Behaviour("absolute_import", "batch.score_one", (3,), 60, "scoring.score_task", (3,), {}, 30),
    Behaviour(
        "relative_import",
        "orders.batch.score_one",
        (3,),
        90,
        "scoring.score_task",
        (3,),
        {"weight": 2},
        60,
    ),
    Behaviour("relative_reexport", "sub.caller.go", (3,), 30, "scoring.score_task", (3,), {}, 30),
    Behaviour("alias", "batch.score_one", (2,), 80, "scoring.score_task", (2,), {}, 20),
    Behaviour(
        "loop_and_comprehension",
        "batch.score_sum",
        ([1, 2, 3],),
        60,
        "scoring.score_task",
        (4,),
        {},
        40,
    ),
    Behaviour(
        "loop_and_comprehension",
        "batch.score_list",
        ([1, 2],),
        [10, 20],
        "scoring.score_task",
        (4,),
        {},
        40,
    ),
    Behaviour("two_callers", "orders.score_order", (2,), 21, "scoring.score_task", (2,), {}, 20),
    Behaviour(
        "two_callers",
        "reports.score_report",
        (2,),
        {"score": 20},
        "scoring.score_task",
        (2,),
        {},
        20,
    ),
    Behaviour(
        "two_callers_same_module", "tasks.second", (4,), 40, "tasks.score_task", (4,), {}, 40
    ),
    Behaviour(
        "two_callers_same_module",
        "report.weekly",
        (3,),
        [0, 10, 20],
        "tasks.score_task",
        (1,),
        {},
        10,
    ),
    Behaviour(
        "two_callers_same_module", "report.monthly", (2,), 600, "tasks.score_task", (2,), {}, 20
    ),
    Behaviour("import_styles", "a.via_module", (2,), 20, "scoring.score_task", (2,), {}, 20),
    Behaviour("import_styles", "b.via_reexport", (3,), 30, "scoring.score_task", (3,), {}, 30),
    Behaviour("import_styles", "c.via_parens", (1,), 11, "scoring.score_task", (1,), {}, 10),
    Behaviour(
        "caller_name_collision",
        "batch.score_one",
        (2,),
        ["the batch's own score", 20],
        "scoring.score_task",
        (2,),
        {},
        20,
    ),
    Behaviour(
        "caller_name_collision", "aliased.score_two", (2,), 20, "scoring.score_task", (3,), {}, 30
    ),
    Behaviour("name_collision", "batch.score_one", (4,), 40, "scoring.score_task", (4,), {}, 40),
    Behaviour(
        "callee_already_wraps_another_helper",
        "batch.score_one",
        (2,),
        20,
        "scoring.score_task",
        (3,),
        {},
        30,
    ),
    Behaviour(
        "caller_local_named_like_helper",
        "batch.total",
        ([1, 2],),
        6,
        "scoring.score_task",
        (3,),
        {"weight": 2},
        6,
    ),
    Behaviour(
        "bind_without_self",
        "batch.score_one",
        (1,),
        17,
        "scoring.score_task",
        (1, 5),
        {"bonus": 1},
        16,
    ),
    Behaviour("options_dropped", "batch.score_one", (2,), 40, "scoring.score_task", (2,), {}, 20),
    Behaviour("retries_review", "batch.score_one", (2,), 20, "scoring.score_task", (2,), {}, 20),
    Behaviour("options_review", "batch.weigh_one", (2,), 4, "scoring.weigh_task", (2,), {}, 4),
    Behaviour(
        "seed_001_ai_enhancement",
        "tasks.ai_enhancement_tasks.enhance_multiple_codebundles_task",
        ([1, 9],),
        {"status": "completed", "results": _SEED_RESULTS},
        "tasks.ai_enhancement_tasks.enhance_codebundle_task",
        (1,),
        {},
        _SEED_RESULTS[0],
    ),
]


def _task(env, case: str, kind: str, dotted: str):
    package = load_folder_cases_for_worker()[(RULE, case, kind)]
    return env.task(f"{package}.{dotted}")


def _id(behaviour: Behaviour) -> str:
    return f"{behaviour.case}:{behaviour.caller}"


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=_id)
def test_before_the_caller_hits_the_guard(celery_worker_env, behaviour: Behaviour) -> None:
    env = celery_worker_env
    result = _task(env, behaviour.case, "input", behaviour.caller).delay(*behaviour.args)
    env.wait_ready(result, timeout=TIMEOUT)
    assert result.failed(), f"expected FAILURE, got {result.state}: {result.result!r}"
    assert isinstance(result.result, RuntimeError), repr(result.result)
    assert GUARD in str(result.result)


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=_id)
def test_after_the_caller_completes_with_the_same_value(
    celery_worker_env, behaviour: Behaviour
) -> None:
    env = celery_worker_env
    result = _task(env, behaviour.case, "expected", behaviour.caller).delay(*behaviour.args)
    assert env.get(result, timeout=TIMEOUT) == behaviour.value


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=_id)
def test_the_wrapped_task_still_works_alone(celery_worker_env, behaviour: Behaviour) -> None:
    env = celery_worker_env
    for kind in ("input", "expected"):
        task = _task(env, behaviour.case, kind, behaviour.callee)
        result = task.delay(*behaviour.callee_args, **behaviour.callee_kwargs)
        assert env.get(result, timeout=TIMEOUT) == behaviour.callee_value, kind


def test_the_seed_orchestrator_still_reports_nothing_pending(celery_worker_env) -> None:
    """Seed 001's outer task: the original fails on the guard; the fixed one completes."""
    env = celery_worker_env
    name = "tasks.ai_enhancement_tasks.enhance_pending_codebundles_task"
    before = _task(env, "seed_001_ai_enhancement", "input", name).delay()
    env.wait_ready(before, timeout=TIMEOUT)
    assert before.failed() and GUARD in str(before.result)
    after = _task(env, "seed_001_ai_enhancement", "expected", name).delay()
    value = env.get(after, timeout=TIMEOUT)
    assert value["status"] == "completed"
    assert [r["codebundle_id"] for r in value["results"]] == [1, 2]


def test_a_custom_base_class_no_longer_wraps_the_body(celery_worker_env) -> None:
    """Why a `base=` task's fix is review: its base's `__call__` (here: a tenant context, as
    Flask's ContextTask opens an app context) runs when the worker runs the task, not when the
    fixed caller calls the helper."""
    env = celery_worker_env
    case = "options_review"
    alone = _task(env, case, "expected", "scoring.score_task").delay(2)
    assert env.get(alone, timeout=TIMEOUT) == "shop:20"
    before = _task(env, case, "input", "batch.score_one").delay(2)
    env.wait_ready(before, timeout=TIMEOUT)
    assert before.failed() and GUARD in str(before.result)
    after = _task(env, case, "expected", "batch.score_one").delay(2)
    assert env.get(after, timeout=TIMEOUT) == "none:20"


def test_a_routed_task_body_runs_on_the_callers_worker(celery_worker_env) -> None:
    """Why a `queue=` task's fix is review: no worker of the caller's queue takes the task
    (it waits for a `pricing` worker), but the fixed caller runs its body right there."""
    import time

    env = celery_worker_env
    case = "options_review"
    alone = _task(env, case, "expected", "scoring.price_task").delay(2)
    time.sleep(2)
    assert alone.state == "PENDING"
    after = _task(env, case, "expected", "batch.price_one").delay(2)
    assert env.get(after, timeout=TIMEOUT) == 6
