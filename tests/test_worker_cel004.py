"""CEL004's fix on the real prefork worker and Redis backend: while the rewritten wait
(`await asyncio.to_thread(res.get, ...)`) runs, a heartbeat coroutine keeps ticking, where
the original `res.get(...)` froze the event loop; the value and the raised exception are
the ones the original gave."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest

from celerymod import engine
from celerymod.model import RunConfig

SECONDS = 1.0  # how long each task runs
BEAT = 0.05  # the heartbeat's interval

_SOURCE = b"""from wc_async_waits import slow_double, slow_failure


async def doubled(x, seconds):
    result = slow_double.delay(x, seconds)
    return result.get(timeout=20, interval=0.01)


async def failing(seconds):
    return slow_failure.delay(seconds).get(timeout=20, propagate=True, interval=0.01)


async def swallowed(seconds):
    res = slow_failure.delay(seconds)
    value = res.get(timeout=20, propagate=False, interval=0.01)
    return type(value).__name__, str(value)
"""


def _load(source: bytes, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)  # noqa: S102 - the code under test
    return module


def _fixed() -> bytes:
    config = RunConfig(select=frozenset({"CEL004"}), unsafe_fixes=True)
    result = engine.process(_SOURCE, "views.py", config)
    assert not result.errors, result.errors
    assert [f.code for f in result.findings] == ["CEL004"] * 3
    assert result.new_source is not None
    return result.new_source


async def _with_heartbeat(coroutine: Any) -> tuple[tuple[Any, ...], int]:
    """What `coroutine` returned or raised, and how often a heartbeat ticked meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(BEAT)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)  # The heartbeat is waiting on its first sleep.
    try:
        outcome: tuple[Any, ...] = ("returned", await coroutine)
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        outcome = ("raised", type(exc).__name__, str(exc))
    finally:
        done.set()
        await beating
    return outcome, ticks


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        ("doubled", (21, SECONDS), ("returned", 42)),
        ("failing", (SECONDS,), ("raised", "ValueError", f"failed after {SECONDS}")),
        (
            "swallowed",
            (SECONDS,),
            ("returned", ("ValueError", f"failed after {SECONDS}")),
        ),
    ],
)
def test_the_loop_keeps_ticking_and_the_outcome_is_the_same(
    celery_worker_env: Any, function: str, args: tuple[Any, ...], expected: tuple[Any, ...]
) -> None:
    fixed_source = _fixed()
    assert b"await asyncio.to_thread(" in fixed_source
    original = getattr(_load(_SOURCE, "cel004_original"), function)
    fixed = getattr(_load(fixed_source, "cel004_fixed"), function)

    before, frozen_ticks = asyncio.run(_with_heartbeat(original(*args)))
    after, ticks = asyncio.run(_with_heartbeat(fixed(*args)))

    assert before == expected
    assert after == before
    # The original blocks the loop for the whole task: the heartbeat gets at most the
    # turn it was already waiting for once the wait returns.
    assert frozen_ticks <= 2, frozen_ticks
    # The rewritten wait leaves the loop free for (nearly) all of the task's run.
    assert ticks >= int(SECONDS / BEAT) // 2, ticks
