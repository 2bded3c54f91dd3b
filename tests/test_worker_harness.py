"""The worker harness reproduces DESIGN.md section 1 on a real prefork worker + Redis."""

from __future__ import annotations

import pytest
from celery.result import AsyncResult, GroupResult

pytestmark = pytest.mark.worker

MOD = "wc_guard_demo"
GUARD = "Never call result.get() within a task!"
TIMEOUT = 20


def _assert_guard(env, result):
    outcome = env.get(result, timeout=TIMEOUT, propagate=False)
    assert result.failed(), f"expected FAILURE, got {result.state}: {outcome!r}"
    assert isinstance(result.result, RuntimeError), repr(result.result)
    assert GUARD in str(result.result)


def test_plain_task_roundtrip(celery_worker_env):
    env = celery_worker_env
    assert env.get(env.task(MOD, "double").delay(21)) == 42
    assert env.module(MOD).double.name == f"{MOD}.double"


def test_delay_get_inside_task_raises_guard(celery_worker_env):
    env = celery_worker_env
    _assert_guard(env, env.task(MOD, "wait_on_delay").delay(3))


def test_apply_get_inside_task_raises_guard(celery_worker_env):
    # An EagerResult is guarded too: .apply().get() is no rewrite.
    env = celery_worker_env
    _assert_guard(env, env.task(MOD, "wait_on_apply").delay(3))


def test_chain_of_si_dispatched_from_task(celery_worker_env):
    env = celery_worker_env
    meta = env.get(env.task(MOD, "dispatch_chain").delay(5, 7))
    assert env.get(AsyncResult(meta["chain_id"], app=env.app)) == 14  # add(7, 7), not add(10, ...)
    assert env.get(AsyncResult(meta["first_id"], app=env.app)) == 10


def test_group_restore_needs_save(celery_worker_env):
    env = celery_worker_env
    meta = env.get(env.task(MOD, "dispatch_group").delay([1, 2, 3]))
    restored = GroupResult.restore(meta["group_id"], app=env.app)
    assert restored is not None
    assert env.get(restored) == [2, 4, 6]

    meta = env.get(env.task(MOD, "dispatch_group").delay([1, 2, 3], save=False))
    assert GroupResult.restore(meta["group_id"], app=env.app) is None


def test_replace_with_chord_keeps_the_caller_contract(celery_worker_env):
    env = celery_worker_env
    result = env.task(MOD, "replace_with_chord").delay([1, 2, 3])
    assert env.get(result) == 12
