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
   that every chain step received exactly the arguments it received before. A task that
   waited in several places in a row becomes a chain of chords: under `metadata` each
   step's callback returns the next step's metadata, followed in turn to the final value.
"""

from __future__ import annotations

import ast
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery.result import AsyncResult, GroupResult
from fixture_cases import Case, cases

from celerymod import engine
from celerymod.transforms import blocking_subtask_wait

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


@contextmanager
def _eager(env: Any, store: bool = False) -> Iterator[None]:
    """`task_always_eager=True`, as many Django test settings have it. With `store`, eager
    results are stored too (`task_store_eager_result`), so that metadata can be followed as
    on the worker; the oracle does not store, or its value would answer for the rewrite's
    run under the same task id."""
    conf = env.app.conf
    keys = ("task_always_eager", "task_eager_propagates", "task_store_eager_result")
    saved = [conf[key] for key in keys]
    conf.update(dict(zip(keys, (True, True, store))))
    # Tasks copy `store_eager_result` from the config when they are bound, not when run.
    tasks = list(env.app.tasks.values())
    stored = [task.store_eager_result for task in tasks]
    for task in tasks:
        task.store_eager_result = store
    try:
        yield
    finally:
        conf.update(zip(keys, saved))
        for task, value in zip(tasks, stored):
            task.store_eager_result = value


def _oracle(env: Any, task: Any, scenario: dict[str, Any], task_id: str) -> Any:
    """The input's orchestrator run eagerly here, where Celery's guard is off."""
    with _eager(env):
        result = task.apply(
            args=scenario.get("args", []), kwargs=scenario.get("kwargs", {}), task_id=task_id
        )
        return result.get(timeout=TIMEOUT)


def _dispatch(task: Any, scenario: dict[str, Any], task_id: str | None = None) -> Any:
    return task.apply_async(
        args=scenario.get("args", []), kwargs=scenario.get("kwargs", {}), task_id=task_id
    )


def _is_metadata(value: Any) -> bool:
    """Whether `value` is the metadata dict a `metadata` rewrite returns."""
    return isinstance(value, dict) and value.get("status") == "in_progress" and "job_id" in value


def _follow(env: Any, value: Any, task_id: str, eager: bool = False) -> Any:
    """The final value the metadata points to, through the metadata each later step of a
    chain of chords returns (its `job_id` is the callback's own id, the `result_id` before).
    An eager chord keeps no group (`group_id` is None) and eager results keep no
    `parent_id`, so those checks are the worker's only."""
    final = _follow_one(env, value, task_id, eager)
    if _is_metadata(final):
        return _follow(env, final, value["result_id"], eager)
    return final


def _follow_one(env: Any, value: Any, task_id: str, eager: bool = False) -> Any:
    """The value one level of metadata points to."""
    assert isinstance(value, dict), value
    assert value["status"] == "in_progress"
    assert value["job_id"] == task_id
    assert isinstance(value["total"], int) and value["total"] >= 1
    if eager and value.get("group_id", "") is None:
        assert "result_id" in value
        return env.get(AsyncResult(value["result_id"], app=env.app), timeout=TIMEOUT)
    if "group_id" in value:
        restored = GroupResult.restore(value["group_id"], app=env.app)
        assert restored is not None, "GroupResult.restore needs the save() the fix emits"
        assert len(restored.results) == value["total"]
        children = env.get(restored, timeout=TIMEOUT)
        if "result_id" not in value:
            return children
    final = env.get(AsyncResult(value["result_id"], app=env.app), timeout=TIMEOUT)
    if "chain_id" in value and not eager:
        assert _links(env, value["chain_id"], task_id) == value["total"]
    return final


def _links(env: Any, last_id: str, job_id: str) -> int:
    """How many tasks the chain ending with `last_id` ran: each link's `parent_id` is the
    link before it, the first one's is the orchestrator (extended results store it).

    A worker sends a chain's next link *before* it stores the finished link's result
    (celery/app/trace.py: "callback tasks must be applied before the result is stored"), so
    with two pool processes a later link can be done while the earlier one's result is not
    yet stored: wait for each link before reading its meta."""
    count, current = 0, last_id
    while current != job_id and count <= 50:
        count += 1
        env.wait_ready(AsyncResult(current, app=env.app), timeout=TIMEOUT)
        current = env.app.backend.get_task_meta(current, cache=False)["parent_id"]
    return count


@pytest.mark.parametrize("case", _worker_cases(), ids=lambda case: case.name)
def test_rewrite_keeps_the_value_and_avoids_the_guard(celery_worker_env: Any, case: Case) -> None:
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    task_id = f"cel001-{uuid.uuid4()}"
    oracle = _oracle(env, before, scenario, task_id)

    if scenario.get("polls"):
        _stalls(env, before, scenario)
    elif scenario.get("workaround"):
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

    # After a stall the pool replaces the killed processes and runs the killed tasks'
    # leftover subtasks first: on a loaded machine that takes longer than one task.
    settle = TIMEOUT * 4 if scenario.get("polls") else TIMEOUT
    value = env.get(_dispatch(after, scenario, task_id), timeout=settle)
    followed = case.config().strategy == "metadata" and not scenario.get("same_return")
    final = _follow(env, value, task_id) if followed else value
    assert _comparable(final, scenario) == _comparable(oracle, scenario)


def _stalls(env: Any, task: Any, scenario: dict[str, Any]) -> None:
    """A task polling its subtasks (`while not res.ready(): time.sleep(...)`) meets no
    guard: it holds its pool process until they are done. Started three times at once, the
    two that take both pool processes poll for subtasks no process is free to run (one may
    finish first if its subtask got a process before the others started): two never finish.
    The loop has no deadline, so they are then stopped (revoked, their processes killed and
    replaced by the pool) to bound the stall."""
    stuck = [_dispatch(task, scenario) for _ in range(3)]
    try:
        time.sleep(4)
        states = [r.state for r in stuck]
        assert states.count("PENDING") >= 2, states
    finally:
        for result in stuck:
            result.revoke(terminate=True, signal="SIGKILL")
        for result in stuck:
            env.wait_ready(result, timeout=TIMEOUT)


def _fix_message(case: Case) -> str:
    result = engine.process(case.input.read_bytes(), case.input.name, case.config())
    messages = [f.fix.message for f in result.findings if f.fix is not None]
    assert len(messages) == 1, result.findings
    return messages[0]


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return "raises", f"{type(error).__name__}{': guard' if GUARD in str(error) else ''}"


@pytest.mark.parametrize("case", _worker_cases(), ids=lambda case: case.name)
def test_rewrite_runs_eagerly_with_the_same_value(celery_worker_env: Any, case: Case) -> None:
    """Under `task_always_eager` (many Django test settings), `.apply()` of the rewritten
    task gives, followed like on the worker, the value the original gives, and its `.delay()`
    (where eager Celery keeps its guard) works wherever the original's did; or the fix is
    review and its message says what differs under `task_always_eager`."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    # `replace`, and fixes that keep the return (`same_return`), are not followed.
    replace = case.config().strategy == "replace" or bool(scenario.get("same_return"))
    # One id for every run: the subtasks of some cases record their parent's id.
    task_id = f"cel001-{uuid.uuid4()}"
    oracle = _comparable(_oracle(env, before, scenario, task_id), scenario)
    args, kwargs = scenario.get("args", []), scenario.get("kwargs", {})

    def run(task: Any, how: str) -> Any:
        if how == "apply":
            value = task.apply(args=args, kwargs=kwargs, task_id=task_id).get(timeout=TIMEOUT)
        else:
            value = _dispatch(task, scenario, task_id).get(timeout=TIMEOUT)
        if task is before or replace:
            return _comparable(value, scenario)
        return _comparable(_follow(env, value, task_id, eager=True), scenario)

    with _eager(env, store=True):
        outcomes = {
            (which, how): _outcome(lambda task=task, how=how: run(task, how))
            for which, task in (("before", before), ("after", after))
            for how in ("apply", "delay")
        }
    assert outcomes["before", "apply"] == ("value", oracle)
    differs = [
        how
        for how in ("apply", "delay")
        if outcomes["before", how][0] == "value" and outcomes["after", how] != ("value", oracle)
    ]
    if differs:
        message = _fix_message(case)
        assert "under `task_always_eager`" in message, (differs, outcomes, message)


def _kind(case: Case) -> str:
    """What the rewrite dispatches: a chord, a group (no callback) or a chain."""
    text = case.expected.read_text()
    return "chord" if "chord(" in text else "group" if "group(" in text else "chain"


def _failing_kind(case: Case) -> str:
    """What the waits on the failing subtask became: the scenario's `failing` names it
    (`"kind": "chain"`) for a chain of chords whose steps differ, else `_kind`."""
    return str(_declared(case)["failing"].get("kind") or _kind(case))


def _documented_failure(kind: str, strategy: str, own: str) -> str:
    """The exception the rule's "Failure semantics" table says a failing subtask of a `kind`
    rewrite reaches the caller (`replace`) or whoever follows the metadata (`metadata`) as."""
    doc = blocking_subtask_wait.__doc__
    assert doc is not None
    section = doc.split("Failure semantics", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith(f"| a {kind} "))
    cell = row.split("|")[2 if strategy == "replace" else 3]
    if "`ChordError`" in cell:
        return "ChordError"
    assert "own exception" in cell, cell
    return own


def _failing_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"failing":' in case.input.read_text()]


@pytest.mark.parametrize("case", _failing_cases(), ids=lambda case: case.name)
def test_a_failing_subtask_fails_the_rewrite_as_the_docs_say(
    celery_worker_env: Any, case: Case
) -> None:
    """The scenario's `failing` arguments make one subtask raise. The original fails with
    that exception; the rewrite reaches its caller with the exception the docs' table
    names for its shape and strategy, and the metadata strategy's task itself succeeds."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    failing = {**scenario, **scenario["failing"]}
    task_id = f"cel001-{uuid.uuid4()}"
    kind, strategy = _failing_kind(case), case.config().strategy
    original = _outcome(lambda: _oracle(env, before, failing, task_id))
    assert original[0] == "raises", original
    documented = _documented_failure(kind, strategy, own=original[1])

    result = _dispatch(after, failing, task_id)
    if strategy == "replace":
        outcome = _outcome(lambda: env.get(result, timeout=TIMEOUT))
    else:
        value = env.get(result, timeout=TIMEOUT)
        assert value["status"] == "in_progress", value
        # A chain of chords: the steps before the failing one succeed, each returning the
        # next step's metadata (the scenarios make a later step fail: at least one level).
        levels = 0
        while True:
            if "result_id" in value:
                followed = AsyncResult(value["result_id"], app=env.app)
            else:
                followed = GroupResult.restore(value["group_id"], app=env.app)
            outcome = _outcome(lambda followed=followed: env.get(followed, timeout=TIMEOUT))
            if not (outcome[0] == "value" and _is_metadata(outcome[1])):
                break
            value, levels = outcome[1], levels + 1
        if "waits again" in _fix_message(case):
            assert levels >= 1, "the failing subtask must sit in a later step"
    assert outcome == ("raises", documented), (kind, strategy, outcome)


def _poll_failing_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"poll_failing":' in case.input.read_text()]


@pytest.mark.parametrize("case", _poll_failing_cases(), ids=lambda case: case.name)
def test_a_failing_subtask_stops_the_code_after_a_polling_loop(
    celery_worker_env: Any, case: Case
) -> None:
    """A polling loop ends when the subtask fails too, and the original goes on past it (a
    value read from `res.result` is then the exception). The rewrite stops at the failing
    subtask instead: the callback holding that code never runs, and the caller (or whoever
    follows the metadata) gets the exception the docs' table names for the shape: what the
    fix's message (review) says."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    failing = {**scenario, **scenario["poll_failing"]}
    task_id = f"cel001-{uuid.uuid4()}"
    # On the worker (one task: the pool is not saturated) the original got past the loop:
    # its tail ran and returned, or failed on its own (returning `res.result`, the
    # exception, which JSON cannot carry), not with the subtask's ValueError.
    original = _outcome(lambda: env.get(_dispatch(before, failing), timeout=TIMEOUT))
    assert original[0] == "value" or original[1] == "EncodeError", original
    assert "the code after the polling loop no longer runs" in _fix_message(case)
    result = _dispatch(after, failing, task_id)
    if case.config().strategy == "replace":
        outcome = _outcome(lambda: env.get(result, timeout=TIMEOUT))
    else:
        value = env.get(result, timeout=TIMEOUT)
        followed = AsyncResult(value["result_id"], app=env.app)
        outcome = _outcome(lambda: env.get(followed, timeout=TIMEOUT))
    documented = _documented_failure(_kind(case), case.config().strategy, own="ValueError")
    assert outcome == ("raises", documented), outcome


def _other_branch_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"other_branch":' in case.input.read_text()]


@pytest.mark.parametrize("case", _other_branch_cases(), ids=lambda case: case.name)
def test_the_branch_that_does_not_dispatch_runs_as_before(
    celery_worker_env: Any, case: Case
) -> None:
    """A rewrite of one `if` branch leaves the other branches and the code after the `if` in
    place: with the scenario's `other_branch` arguments the original runs on the worker (it
    waits on nothing there) and so does the rewrite, both with the oracle's value."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    other = {**scenario, **scenario["other_branch"]}
    task_id = f"cel001-{uuid.uuid4()}"
    oracle = _comparable(_oracle(env, before, other, task_id), scenario)
    original = env.get(_dispatch(before, other), timeout=TIMEOUT)
    assert _comparable(original, scenario) == oracle
    rewritten = env.get(_dispatch(after, other, task_id), timeout=TIMEOUT)
    assert _comparable(rewritten, scenario) == oracle


def _branch_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"branches":' in case.input.read_text()]


@pytest.mark.parametrize("case", _branch_cases(), ids=lambda case: case.name)
def test_every_dispatching_branch_runs_on_the_worker(celery_worker_env: Any, case: Case) -> None:
    """Waits in several branches of one `if`: each branch is rewritten by a fix of its own
    (the engine applies them in turn). The main scenario runs the first branch; each entry
    of `branches` (arguments, like `other_branch`) runs another one: the original fails
    there with the guard, the rewrite completes with the oracle's value."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    followed = case.config().strategy == "metadata" and not scenario.get("same_return")
    for entry in scenario["branches"]:
        branch = {**scenario, **entry}
        task_id = f"cel001-{uuid.uuid4()}"
        oracle = _comparable(_oracle(env, before, branch, task_id), scenario)
        result = _dispatch(before, branch)
        env.wait_ready(result, timeout=TIMEOUT)
        assert result.failed(), f"{entry}: expected the guard, got {result.state}"
        assert GUARD in str(result.result), entry
        value = env.get(_dispatch(after, branch, task_id), timeout=TIMEOUT)
        final = _follow(env, value, task_id) if followed else value
        assert _comparable(final, scenario) == oracle, entry


def _path_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"paths":' in case.input.read_text()]


@pytest.mark.parametrize("case", _path_cases(), ids=lambda case: case.name)
def test_every_path_of_a_chain_of_chords_runs_on_the_worker(
    celery_worker_env: Any, case: Case
) -> None:
    """A chain of chords whose later step is an `if` rewritten branch by branch: each entry
    of `paths` (arguments) takes another way through the callback's `if`. Every path waits
    in the first step, so the original fails with the guard on each; the rewrite completes
    with the oracle's value (under `metadata`, followed through each step's metadata)."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    followed = case.config().strategy == "metadata" and not scenario.get("same_return")
    for entry in scenario["paths"]:
        path = {**scenario, **entry}
        task_id = f"cel001-{uuid.uuid4()}"
        oracle = _comparable(_oracle(env, before, path, task_id), scenario)
        result = _dispatch(before, path)
        env.wait_ready(result, timeout=TIMEOUT)
        assert result.failed() and GUARD in str(result.result), entry
        value = env.get(_dispatch(after, path, task_id), timeout=TIMEOUT)
        final = _follow(env, value, task_id) if followed else value
        assert _comparable(final, scenario) == oracle, entry


def _waits_reached(env: Any, case: Case, task: Any, arguments: dict[str, Any]) -> set[int]:
    """The lines of the input's waits that the original runs with `arguments` (traced in
    the eager oracle run, in this process)."""
    module = env.module(re.sub(r"[^0-9A-Za-z_]", "_", f"fx_{case.rule}_{case.name}_input"))
    result = engine.process(case.input.read_bytes(), case.input.name, case.config())
    waits = {f.span.line for f in result.findings if f.code == "CEL001"}
    reached: set[int] = set()

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != module.__file__:
            return None
        if event == "line" and frame.f_lineno in waits:
            reached.add(frame.f_lineno)
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        _oracle(env, task, arguments, f"cel001-{uuid.uuid4()}")
    finally:
        sys.settrace(previous)
    return reached


@pytest.mark.parametrize(
    "case",
    sorted({*_branch_cases(), *_other_branch_cases()}, key=lambda c: c.name),
    ids=lambda case: case.name,
)
def test_the_branch_scenarios_reach_every_wait(celery_worker_env: Any, case: Case) -> None:
    """The scenarios of a case that rewrites `if` branches run what they claim: the main
    one and each entry of `branches` reach a wait no scenario before reached, together
    every wait of the input, and `other_branch` (when a path dispatches nothing) none."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    result = engine.process(case.input.read_bytes(), case.input.name, case.config())
    waits = {f.span.line for f in result.findings if f.code == "CEL001"}
    seen: set[int] = set()
    for entry in [{}, *scenario.get("branches", [])]:
        reached = _waits_reached(env, case, before, {**scenario, **entry})
        assert reached - seen, f"{entry or 'the main scenario'} reaches no wait of its own"
        seen |= reached
    assert seen == waits
    if "other_branch" in scenario:
        assert not _waits_reached(env, case, before, {**scenario, **scenario["other_branch"]})


def _declared(case: Case) -> dict[str, Any]:
    """The case's `CELERYMOD_SCENARIO`, read from the input's source."""
    tree = ast.parse(case.input.read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CELERYMOD_SCENARIO" for t in statement.targets
        ):
            declared = ast.literal_eval(statement.value)
            assert isinstance(declared, dict)
            return declared
    return {}


def test_every_branch_rewrite_runs_every_branch_on_the_worker() -> None:
    """A worker case whose fix run rewrites `if` branches declares the arguments of a path
    that dispatches nothing (`other_branch`), unless none is left (the last fix says the
    code after the `if` leaves the task), and, when it rewrites several branches (one fix
    each, applied in turn), the arguments of every dispatching branch besides the main
    scenario's (`branches`)."""
    branch_cases, several = [], 0
    for case in _worker_cases():
        result = engine.process(case.input.read_bytes(), case.input.name, case.config())
        messages = [fix.message for fix in result.applied]
        declared = _declared(case)
        # A chain of chords whose callback's `if` is rewritten: every path waits in the
        # first step, so none dispatches nothing; each other path is run as `paths`.
        chained = any("waits again" in message for message in messages)
        if any("stays in place for the others" in message for message in messages):
            branch_cases.append(case.name)
            if chained:
                assert declared.get("paths"), case.name
            elif not any("no branch reaches any more" in message for message in messages):
                assert "other_branch" in declared, case.name
        # The later steps of a chain of chords are fixes of their own too, not branches.
        branch_fixes = len(messages) - sum("waits again" in message for message in messages)
        if branch_fixes > 1:
            several += 1
            assert len(declared.get("branches", [])) == branch_fixes - 1, case.name
        else:
            assert "branches" not in declared, case.name
    assert branch_cases, "no worker case rewrites an `if` branch"
    assert several, "no worker case rewrites several branches"


def _empty_cases() -> list[Case]:
    return [case for case in _worker_cases() if '"empty":' in case.input.read_text()]


@pytest.mark.parametrize("case", _empty_cases(), ids=lambda case: case.name)
def test_an_empty_fan_out_gives_the_original_value(celery_worker_env: Any, case: Case) -> None:
    """No items: the original waited on an empty group and went on; the rewrite's chord or
    group, with an empty header, gives (followed) the same value."""
    env = celery_worker_env
    before, scenario = _scenario(env, case, "input")
    after, _ = _scenario(env, case, "expected")
    empty = {**scenario, **scenario["empty"]}
    task_id = f"cel001-{uuid.uuid4()}"
    oracle = _comparable(_oracle(env, before, empty, task_id), scenario)
    value = env.get(_dispatch(after, empty, task_id), timeout=TIMEOUT)
    final = value
    # Under `metadata`, through each step's metadata (a chain of chords has several).
    while case.config().strategy != "replace" and _is_metadata(final):
        if "result_id" in final:
            final = env.get(AsyncResult(final["result_id"], app=env.app), timeout=TIMEOUT)
        else:
            restored = GroupResult.restore(final["group_id"], app=env.app)
            final = env.get(restored, timeout=TIMEOUT)
    assert _comparable(final, scenario) == oracle


def test_every_shape_and_strategy_has_a_failing_subtask_case() -> None:
    seen = {(_failing_kind(case), case.config().strategy) for case in _failing_cases()}
    assert seen == {(k, s) for k in ("chord", "group", "chain") for s in ("metadata", "replace")}


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


@pytest.mark.parametrize(
    "name",
    [
        "task_name_fstring_replace",
        "task_name_constant_metadata",
        "task_name_fstring_pipeline_replace",
        "task_name_constant_pipeline_metadata",
    ],
)
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
    before, _ = _scenario(env, case, "input")
    oracle = _oracle(env, before, scenario, f"cel001-{uuid.uuid4()}")
    client.delete(key)  # The oracle ran the original once, in this process.
    value = env.get(_dispatch(after, scenario, task_id), timeout=TIMEOUT)
    final = value if case.config().strategy == "replace" else _follow(env, value, task_id)
    assert final == oracle
    time.sleep(1)  # A looping chord would have started the orchestrator again by now.
    assert int(client.get(key) or 0) == 1


def test_a_set_cannot_reach_a_callback_which_is_why_such_fixes_are_refused(
    celery_worker_env: Any,
) -> None:
    """Defect 6's premise, on the real app: a chord whose callback gets a set fails with
    `EncodeError` when it is sent, so CEL001 offers no fix that would pass one (see
    `callback_value_is_a_set_not_fixed`); a list goes through."""
    from celery import chord, group
    from kombu.exceptions import EncodeError

    env = celery_worker_env
    case = next(c for c in _worker_cases() if c.name == "fan_out_group_get_metadata")
    module = env.module(re.sub(r"[^0-9A-Za-z_]", "_", f"fx_{case.rule}_{case.name}_expected"))
    header = group(module.square.s(n) for n in [1, 2])
    with pytest.raises(EncodeError):
        chord(header)(module.sum_of_squares_finish.s({"express"}, "total"))
    result = chord(group(module.square.s(n) for n in [1, 2]))(
        module.sum_of_squares_finish.s(["express"], "total")
    )
    with pytest.raises(TypeError):  # `sum(...) + ["express"]`: it arrived, as a list.
        env.get(result, timeout=TIMEOUT)
