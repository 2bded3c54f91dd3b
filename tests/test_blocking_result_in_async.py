"""CEL004 beyond the fixtures: waits in coroutines are CEL004's, never also CEL006's."""

from __future__ import annotations

from celerymod import engine
from celerymod.model import RunConfig

_BOTH = RunConfig(select=frozenset({"CEL004", "CEL006"}), result_timeout=30.0)

_MIXED = b"""import asyncio
import time

from shop.tasks import render


def view(x):
    return render.delay(x).get()


async def endpoint(x):
    return render.delay(x).get()


async def endpoint_with_timeout(x):
    return render.delay(x).get(timeout=5)


async def sleeping_poll(x):
    res = render.delay(x)
    while not res.ready():
        time.sleep(1)


async def awaiting_poll(x):
    res = render.delay(x)
    while not res.ready():
        await asyncio.sleep(1)
"""


def _codes(source: bytes, config: RunConfig = _BOTH) -> list[tuple[str, int]]:
    result = engine.process(source, "views.py", config)
    assert not result.errors, result.errors
    return [(f.code, f.span.line) for f in result.findings]


def test_coroutine_waits_are_cel004s_and_sync_ones_cel006s() -> None:
    assert _codes(_MIXED) == [
        ("CEL006", 8),  # sync view: no timeout
        ("CEL004", 12),  # coroutine: CEL004 only, although it has no timeout either
        ("CEL004", 16),
        ("CEL004", 21),  # a poll that never awaits freezes the loop: CEL004 only
        ("CEL006", 27),  # a poll that awaits is CEL006's (no deadline)
    ]


def test_cel006_alone_still_leaves_coroutine_waits_alone() -> None:
    only = RunConfig(select=frozenset({"CEL006"}))
    assert _codes(_MIXED, only) == [("CEL006", 8), ("CEL006", 27)]


def test_the_fix_is_review_and_keeps_every_argument() -> None:
    source = b"""from shop.tasks import render


async def endpoint(x):
    return render.delay(x).get(5, propagate=False, interval=0.1, **{"no_ack": True})
"""
    result = engine.process(source, "views.py", RunConfig(select=frozenset({"CEL004"})))
    (finding,) = result.findings
    assert finding.fix is not None and finding.fix.safety.value == "review"
    unsafe = RunConfig(select=frozenset({"CEL004"}), unsafe_fixes=True)
    fixed = engine.process(source, "views.py", unsafe).new_source
    assert fixed is not None
    assert (
        b'await asyncio.to_thread(render.delay(x).get, 5, propagate=False, interval=0.1, **{"no_ack": True})'
        in fixed
    )
    assert fixed.startswith(b"import asyncio\n")


def test_a_time_sleep_poll_is_cel003s_when_it_runs() -> None:
    spin = (
        _MIXED
        + b"""

async def spinning_poll(x):
    res = render.delay(x)
    while not res.ready():
        pass
"""
    )
    every = RunConfig(select=frozenset({"CEL003", "CEL004", "CEL006"}))
    codes = _codes(spin, every)
    # CEL003 fixes the sleep (the loop then awaits); the spinning loop stays CEL004's.
    assert ("CEL003", 22) in codes and ("CEL004", 21) not in codes
    assert ("CEL004", 33) in codes
    fixed = engine.process(spin, "views.py", RunConfig(select=every.select, unsafe_fixes=True))
    assert fixed.new_source is not None
    again = engine.process(fixed.new_source, "views.py", every).findings
    # Now awaiting, with no deadline: CEL006's.
    assert [f.code for f in again if "sleeping_poll" in f.message] == ["CEL006"]
