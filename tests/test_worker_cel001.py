"""CEL001's rewrites, proven on the real prefork worker with Redis (DESIGN §1, §6).

For every `blocking-subtask-wait` fixture with the `worker` marker and an `.expected.py`,
its `CELERYMOD_SCENARIO` (see fixture_cases.py) names the orchestrator and its arguments:

1. the input's orchestrator fails on the worker with Celery's guard
   (`Never call result.get() within a task!`); a workaround input (`"workaround": True`)
   instead deadlocks once every pool process waits: of three started at once, waits time
   out (the fixture bounds them with `get(timeout=4)` so the pool recovers);
2. the oracle: the input's orchestrator run eagerly in this process (no guard here), which
   is what the original logic computes;
3. the rewritten orchestrator completes on the worker; following what it returns gives the
   oracle's value: `replace` through the task's own result, `metadata` through
   `AsyncResult(result_id)` or `GroupResult.restore(group_id)` (which needs the `save()` the
   fix emits). The fixtures' subtasks return their name and arguments, so the value shows
   that every chain step received exactly the arguments it received before.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from celery.result import AsyncResult, GroupResult
from fixture_cases import Case, cases

pytestmark = pytest.mark.worker

RULE = "blocking-subtask-wait"
GUARD = "Never call result.get() within a task!"
TIMEOUT = 15


def _worker_cases() -> list[Case]:
    return [
        case
        for case in cases()
        if case.rule == RULE and "worker" in case.markers() and case.expected.exists()
    ]


def _scenario(env: Any, case: Case, kind: str) -> tuple[Any, dict[str, Any]]:
    # The module name conftest's worker harness gives a fixture file.
    name = re.sub(r"[^0-9A-Za-z_]", "_", f"fx_{case.rule}_{case.name}_{kind}")
    module = env.module(name)
    scenario = module.CELERYMOD_SCENARIO
    # The task object itself: a task registered under `name=...` is not `<module>.<function>`.
    return getattr(module, scenario["task"]), scenario


def _oracle(env: Any, task: Any, scenario: dict[str, Any], task_id: str) -> Any:
    """The input's orchestrator run eagerly here, where Celery's guard is off."""
    conf = env.app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    try:
        result = task.apply(
            args=scenario.get("args", []), kwargs=scenario.get("kwargs", {}), task_id=task_id
        )
        return result.get(timeout=TIMEOUT)
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def _dispatch(task: Any, scenario: dict[str, Any], task_id: str | None = None) -> Any:
    return task.apply_async(
        args=scenario.get("args", []), kwargs=scenario.get("kwargs", {}), task_id=task_id
    )


def _follow(env: Any, value: Any, task_id: str) -> Any:
    """The final value the metadata points to."""
    assert isinstance(value, dict), value
    assert value["status"] == "in_progress"
    assert value["job_id"] == task_id
    assert isinstance(value["total"], int) and value["total"] >= 1
    if "group_id" in value:
        restored = GroupResult.restore(value["group_id"], app=env.app)
        assert restored is not None, "GroupResult.restore needs the save() the fix emits"
        assert len(restored.results) == value["total"]
        children = env.get(restored, timeout=TIMEOUT)
        if "result_id" not in value:
            return children
    final = env.get(AsyncResult(value["result_id"], app=env.app), timeout=TIMEOUT)
    if "chain_id" in value:
        assert _links(env, value["chain_id"], task_id) == value["total"]
    return final


def _links(env: Any, last_id: str, job_id: str) -> int:
    """How many tasks the chain ending with `last_id` ran: each link's `parent_id` is the
    link before it, the first one's is the orchestrator (extended results store it)."""
    count, current = 0, last_id
    while current != job_id and count <= 50:
        count += 1
        current = env.app.backend.get_task_meta(current)["parent_id"]
    return count


@pytest.mark.parametrize("case", _worker_cases(), ids=lambda case: case.name)
def test_rewrite_keeps_the_value_and_avoids_the_guard(celery_worker_env: Any, case: Case) -> None:
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    task_id = f"cel001-{uuid.uuid4()}"
    oracle = _oracle(env, before, scenario, task_id)

    if scenario.get("workaround"):
        # `allow_join_result()`: no guard, but orchestrators queued before their subtasks
        # fill every pool process (two) and wait for subtasks no process is free to run.
        stuck = [_dispatch(before, scenario) for _ in range(3)]
        for result in stuck:
            env.wait_ready(result, timeout=TIMEOUT)
        outcomes = [type(r.result).__name__ if r.failed() else r.state for r in stuck]
        assert "TimeoutError" in outcomes, outcomes
        assert not any(GUARD in str(r.result) for r in stuck), outcomes
    else:
        result = _dispatch(before, scenario)
        env.wait_ready(result, timeout=TIMEOUT)
        assert result.failed(), f"expected the guard, got {result.state}: {result.result!r}"
        assert GUARD in str(result.result)

    value = env.get(_dispatch(after, scenario, task_id), timeout=TIMEOUT)
    final = value if case.config().strategy == "replace" else _follow(env, value, task_id)
    assert _comparable(final, scenario) == _comparable(oracle, scenario)


def _comparable(value: Any, scenario: dict[str, Any]) -> Any:
    """`value` without the keys the scenario lists under `ignore` (timestamps)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in scenario.get("ignore", ())}
    return value


def test_every_rewrite_shape_and_strategy_runs_on_the_worker() -> None:
    names = {case.name for case in _worker_cases()}
    for shape in ("fan_out", "loop_of_waits", "sequence", "pipeline"):
        for strategy in ("metadata", "replace"):
            assert any(n.startswith(shape) and n.endswith(strategy) for n in names), (
                shape,
                strategy,
            )


@pytest.mark.parametrize("name", ["task_name_fstring_replace", "task_name_constant_metadata"])
def test_non_literal_task_name_runs_the_orchestrator_once(
    celery_worker_env: Any, name: str
) -> None:
    """A task registered under a non-literal `name=`: the callback has a name of its own, so
    the chord does not call the orchestrator again (before the fix: forever)."""
    env = celery_worker_env
    case = next(case for case in _worker_cases() if case.name == name)
    after, scenario = _scenario(env, case, "expected")
    module = re.sub(r"[^0-9A-Za-z_]", "_", f"fx_{case.rule}_{case.name}_expected")
    assert after.name != f"{module}.{scenario['task']}", "the case must not use the default name"
    callback = env.task(f"{module}.{scenario['task']}_finish")
    assert callback.name != after.name
    client = env.app.backend.client
    key = f"runs:{module}"
    client.delete(key)
    task_id = f"cel001-{uuid.uuid4()}"
    value = env.get(_dispatch(after, scenario, task_id), timeout=TIMEOUT)
    final = value if case.config().strategy == "replace" else _follow(env, value, task_id)
    assert final == {"total": 1 + 4 + 9 + 10, "seen": [1, 2, 3]}
    time.sleep(1)  # A looping chord would have started the orchestrator again by now.
    assert int(client.get(key) or 0) == 1
