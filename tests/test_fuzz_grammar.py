"""Fuzz with hypothesmith (issue 12): arbitrary Python from the language grammar, placed
after a Celery module whose task waits on a subtask, through the whole fix pipeline.

`from_grammar()` writes code no project would (deep nesting, odd literals, every statement
form), which is the point: whatever the input, celerymod reports no internal error, writes
only code that compiles, and one `fix` reaches the fixpoint (a second changes nothing).
Seeded (`derandomize`) and bounded so CI stays fast; CELERYMOD_FUZZ_GRAMMAR_EXAMPLES raises
the count for a long run outside CI.
"""

from __future__ import annotations

import os

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, given, settings

from celerymod import engine
from celerymod.model import RunConfig, Strategy

EXAMPLES = int(os.environ.get("CELERYMOD_FUZZ_GRAMMAR_EXAMPLES", "15"))

HEADER = """\
import time

from celery import group, shared_task


@shared_task
def step(*args):
    return args


@shared_task
def fan(ids):
    values = group(step.s(i) for i in ids).apply_async().get()
    return sorted(values)


async def pause():
    time.sleep(1)


"""


def _compiles(code: str) -> bool:
    try:
        compile(code, "fuzz.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


@pytest.mark.parametrize("strategy", list(Strategy))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(code=hypothesmith.from_grammar())
def test_grammar_fuzzed_modules_fix_to_a_fixpoint_that_compiles(
    strategy: Strategy, code: str
) -> None:
    source = HEADER + code
    assume(_compiles(source))
    config = RunConfig(unsafe_fixes=True, strategy=strategy)
    result = engine.process(source.encode(), "fuzz.py", config)
    internal = [e for e in result.errors if "internal error" in str(e)]
    assert not internal, (internal, source)
    if result.new_source is None:
        return
    fixed = result.new_source.decode()
    assert _compiles(fixed), fixed
    again = engine.process(result.new_source, "fuzz.py", config)
    assert again.new_source is None, (source, again.diff)
    assert not any(f.fix is not None and config.applies(f.fix) for f in again.findings), fixed
