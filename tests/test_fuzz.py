"""A seeded, bounded fuzz of the fix pipeline (issue 12): modules built at random from Celery
task shapes (waits in sequence, loops, comprehensions, fan-outs, tails) and coroutines that
sleep in their bodies, defaults, decorators, lambdas and generator expressions.

For each module: no internal error, fixed code compiles, a second `fix` changes nothing and
offers no fix, and `fix` changes the file iff `check` offered an applicable fix. Trees of two
modules (one defining tasks, one calling them) fuzz the cross-module index through the real
command. CELERYMOD_FUZZ_EXAMPLES raises the number of modules (default: a few seconds' worth).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from cli_helpers import celerymod

from celerymod import engine
from celerymod.model import RunConfig, Strategy

EXAMPLES = int(os.environ.get("CELERYMOD_FUZZ_EXAMPLES", "20"))
TREES = max(2, EXAMPLES // 30)
SEED = int(os.environ.get("CELERYMOD_FUZZ_SEED", "12"))

HEADER = """\
import time

from celery import group, shared_task


@shared_task
def t1(*args):
    return 1


@shared_task(max_retries=3)
def t2(*args):
    return 2


def deco(x):
    return lambda f: f
"""

WAITS = [
    "{v} = {t}.delay({a}).get()",
    "{v} = {t}.apply_async(args=[{a}]).get()",
    "{v} = [{t}.delay(i).get() for i in items]",
    "{v} = group({t}.s(i) for i in items).apply_async().get()",
    "{v} = []\n    for i in items:\n        {v}.append({t}.delay(i).get())",
    "{v} = {t}.s({a}).delay().get()",
]
PLAIN = [
    "{v} = len(items)",
    "print({a})",
    "{v} = sum([1, 2])",
    "if {a}:\n        print({a})",
]
SLEEPS = [
    "time.sleep(0)",
    "x = [time.sleep(0) for _ in items]",
    "y = sum(time.sleep(0) or 1 for _ in items)",
    "f = lambda d=time.sleep(0): time.sleep(0)",
    "def inner(p=time.sleep(0)):\n        time.sleep(0)",
    "@deco(time.sleep(0))\n    def decorated():\n        pass",
    "z: time.sleep(0) = 1",
]


def _task(rng: random.Random, name: str) -> str:
    lines: list[str] = []
    names = ["items"]
    for _ in range(rng.randint(1, 4)):
        v = f"v{len(names)}"
        template = rng.choice(WAITS if rng.random() < 0.6 else PLAIN)
        lines.append(template.format(v=v, t=rng.choice(["t1", "t2"]), a=rng.choice(names)))
        if "{v}" in template:
            names.append(v)
    lines.append(f"return {rng.choice(names)}")
    body = "\n    ".join(lines)
    decorator = rng.choice(["@shared_task", "@shared_task(bind=True)"])
    params = "self, items" if "bind" in decorator else "items"
    return f"\n\n{decorator}\ndef {name}({params}):\n    {body}\n"


def _coroutine(rng: random.Random, name: str) -> str:
    body = "\n    ".join(rng.choice(SLEEPS) for _ in range(rng.randint(1, 3)))
    default = rng.choice(["", ", p=time.sleep(0)"])
    decorator = rng.choice(["", "@deco(time.sleep(0))\n"])
    return f"\n\n{decorator}async def {name}(items{default}):\n    {body}\n"


def module(rng: random.Random) -> str:
    parts = [HEADER]
    for number in range(rng.randint(1, 3)):
        maker = _task if rng.random() < 0.7 else _coroutine
        parts.append(maker(rng, f"job{number}"))
    return "".join(parts)


def _config(rng: random.Random) -> RunConfig:
    return RunConfig(unsafe_fixes=True, strategy=rng.choice(list(Strategy)))


def test_fuzzed_modules_fix_to_a_fixpoint_that_compiles() -> None:
    rng = random.Random(SEED)
    problems: list[str] = []
    for _ in range(EXAMPLES):
        source = module(rng)
        config = _config(rng)
        result = engine.process(source.encode(), "fuzz.py", config)
        fixable = any(f.fix is not None and config.applies(f.fix) for f in result.findings)
        if result.errors:
            problems.append(f"errors {result.errors}:\n{source}")
            continue
        if (result.new_source is not None) != fixable:
            problems.append(f"check and fix disagree:\n{source}")
            continue
        if result.new_source is None:
            continue
        fixed = result.new_source.decode()
        try:
            compile(fixed, "fuzz.py", "exec", dont_inherit=True)
        except SyntaxError as error:
            problems.append(f"does not compile ({error}):\n{fixed}")
            continue
        again = engine.process(result.new_source, "fuzz.py", config)
        if again.errors or again.new_source is not None:
            problems.append(f"second fix changes it {again.errors}:\n{source}\n{again.diff}")
        elif any(f.fix is not None for f in again.findings):
            problems.append(f"fixable after fix:\n{fixed}")
    assert not problems, f"{len(problems)} of {EXAMPLES}:\n\n" + "\n\n".join(problems[:3])


CALLER = """\
from celery import shared_task

from tasks import t1, t2
"""


@pytest.mark.parametrize("number", range(TREES))
def test_fuzzed_two_module_trees_fix_to_a_fixpoint(tmp_path: Path, number: int) -> None:
    rng = random.Random(SEED * 1000 + number)
    (tmp_path / "tasks.py").write_text(HEADER, "utf-8")
    parts = [CALLER, "\n\ndef deco(x):\n    return lambda f: f\n", "\nimport time\n"]
    parts += [_task(rng, f"job{i}") for i in range(rng.randint(1, 3))]
    caller = tmp_path / "caller.py"
    caller.write_text("".join(parts), "utf-8")
    fixed = celerymod("fix", "--write", "--unsafe-fixes", ".", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    for path in (tmp_path / "tasks.py", caller):
        compile(path.read_text("utf-8"), str(path), "exec", dont_inherit=True)
    checked = celerymod("check", "--unsafe-fixes", ".", cwd=tmp_path)
    assert "[*]" not in checked.stdout, caller.read_text("utf-8") + checked.stdout
