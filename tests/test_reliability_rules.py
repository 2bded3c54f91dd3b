"""Issue 12 (rules and the fix loop), through the real command on real files: no false finding that ends in an internal
error, no fix that writes code Python refuses, one `fix` reaches the fixpoint, and reasons
that name what the code does."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from cli_helpers import SLEEP_FIXTURES, celerymod

from celerymod import engine
from celerymod.await_placement import misplaced_awaits


def _copy(name: str, folder: Path) -> Path:
    target = folder / f"{name}.py"
    target.write_bytes((SLEEP_FIXTURES / f"{name}.input.py").read_bytes())
    return target


def test_sleep_in_a_coroutines_decorator_defaults_or_annotations_is_not_a_finding(
    tmp_path: Path,
) -> None:
    # Those run when the coroutine is defined, outside it; they used to be reported as
    # fixable, then refused as "internal error: 'await' outside function".
    target = _copy("definition_time_code_of_async_def_untouched", tmp_path)
    before = target.read_bytes()
    checked = celerymod("check", str(target))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "CEL003" not in checked.stdout
    fixed = celerymod("fix", "--write", str(target))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "internal error" not in fixed.stdout + fixed.stderr
    assert target.read_bytes() == before


def test_definition_time_code_inside_a_coroutine_is_fixed_and_compiles(tmp_path: Path) -> None:
    # A nested def's decorator and defaults, a lambda's defaults and a class's bases run in
    # the coroutine (fixed); their bodies and local annotations do not (left alone).
    target = _copy("definition_time_code_inside_coroutine", tmp_path)
    fixed = celerymod("fix", "--write", str(target))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "internal error" not in fixed.stdout + fixed.stderr
    new = target.read_text("utf-8")
    compile(new, str(target), "exec", dont_inherit=True)
    assert new.count("await asyncio.sleep(") == 4
    assert new.count("time.sleep(") == 4
    again = celerymod("check", str(target))
    assert again.returncode == 0, again.stdout


def test_type_alias_and_generic_bounds_in_a_coroutine_are_never_fixed(tmp_path: Path) -> None:
    # Python 3.12 syntax: the running 3.11 cannot compile it, so only libcst checked the
    # output, which took `type Pause = await asyncio.sleep(1)` and wrote it.
    target = _copy("type_statements_and_generics_in_coroutine", tmp_path)
    before = target.read_bytes()
    fixed = celerymod("fix", "--write", str(target))
    assert "internal error" not in fixed.stdout + fixed.stderr
    assert target.read_bytes() == before
    checked = celerymod("check", str(target))
    assert "[*]" not in checked.stdout
    assert "generic class's bases" in checked.stdout


# Each snippet, with whether some `await` in it is one Python refuses. Those without 3.12
# syntax are also compiled below, so the table cannot drift from what Python does.
AWAIT_PLACES = [
    ("async def f():\n    await g()\n", False),
    ("def f():\n    await g()\n", True),
    ("await g()\n", True),
    ("async def f():\n    x = [await g(i) for i in y]\n", False),
    ("def f():\n    x = [await g(i) for i in y]\n", True),
    ("def f():\n    x = (await g(i) for i in y)\n", False),
    ("def f():\n    x = (i for i in await y)\n", True),
    ("async def f():\n    h = lambda: await g()\n", True),
    ("async def f():\n    h = lambda x=await g(): x\n", False),
    ("async def f():\n    class A:\n        x = await g()\n", True),
    ("async def f():\n    class A(await g()):\n        pass\n", False),
    ("async def f():\n    @(await g())\n    def h(x=await g()):\n        pass\n", False),
    ("@(await g())\nasync def f():\n    pass\n", True),
    ("async def f(x=await g()):\n    pass\n", True),
    ("async def f():\n    def h():\n        await g()\n", True),
    ("async def f():\n    type X = await g()\n", True),
    ("async def f[T: await g()]():\n    pass\n", True),
    ("async def f():\n    class A[T](await g()):\n        pass\n", True),
    ("async def f():\n    def h[T](x=await g()):\n        pass\n", False),
    # Conservative: Python 3.11 evaluates this one in the coroutine, but the `annotations`
    # future import and Python 3.14 refuse `await` in any annotation.
    ("async def f():\n    def h(x: await g()):\n        pass\n", True),
]


@pytest.mark.parametrize(("code", "refused"), AWAIT_PLACES)
def test_misplaced_awaits_match_where_python_refuses_await(code: str, refused: bool) -> None:
    assert bool(misplaced_awaits(cst.parse_module(code))) == refused
    if "type " in code or "[T" in code or "x: await" in code:
        return
    try:
        compile(code, "x.py", "exec", dont_inherit=True)
    except SyntaxError:
        assert refused
    else:
        assert not refused


def test_validation_refuses_await_in_a_type_alias_when_python_cannot_compile_the_original() -> None:
    original = "import time\n\nasync def f():\n    type X = int\n    time.sleep(1)\n"
    broken = "import asyncio\n\nasync def f():\n    type X = await asyncio.sleep(1)\n"
    with pytest.raises(engine.InternalError, match="type alias"):
        engine._validate(original, broken, "x.py")
    fine = "import asyncio\n\nasync def f():\n    type X = int\n    await asyncio.sleep(1)\n"
    engine._validate(original, fine, "x.py")
    # An original that already holds such an await is not the fix's doing.
    engine._validate(broken, broken + "\n\nasync def g():\n    await f()\n", "x.py")


# The CEL001 chord rewrite moves the later wait into `report_finish`, where it is a CEL002
# nested call that only the next run used to fix.
TWO_ROUNDS = """\
from celery import group, shared_task


@shared_task
def score(item):
    return item * 2


@shared_task
def publish(total):
    return total + 1


@shared_task
def report(items):
    results = group(score.s(i) for i in items).apply_async().get()
    total = sum(results)
    return publish.delay(total).get()
"""


def test_one_fix_run_reaches_the_fixpoint(tmp_path: Path) -> None:
    target = tmp_path / "tasks.py"
    target.write_text(TWO_ROUNDS, "utf-8")
    dry = celerymod("fix", "--unsafe-fixes", str(target))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Would apply 2 fixes in 1 file" in dry.stderr
    # The diff is the combined one, from the file as it is.
    assert "-    return publish.delay(total).get()" in dry.stdout
    assert dry.stdout.count("--- a/") == 1
    fixed = celerymod("fix", "--write", "--unsafe-fixes", str(target))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Applied 2 fixes in 1 file" in fixed.stderr
    after = target.read_text("utf-8")
    assert ".get()" not in after
    compile(after, str(target), "exec", dont_inherit=True)
    checked = celerymod("check", "--unsafe-fixes", str(target))
    assert "[*]" not in checked.stdout, checked.stdout
    again = celerymod("fix", "--write", "--unsafe-fixes", str(target))
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.read_text("utf-8") == after
