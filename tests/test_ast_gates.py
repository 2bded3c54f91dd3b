"""The `ast` gates (`celerymod.ast_gates`) never hide a finding.

Wherever a gate says a rule has nothing to look at in a file, the rule run without the gate
reports nothing there either: over every fixture input (single files and folder projects,
with the project index) and the worker cases, with every rule selected. Then the shapes the
gates reason about by name, one by one, each against the gate's answer and the rule's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from celerymod import ast_gates, discovery, engine, registry, runner, textio
from celerymod.analysis.index import ProjectIndex
from celerymod.model import RunConfig

TESTS = Path(__file__).parent
ALL = frozenset(rule.code for rule in registry.RULES)
GATED = {rule.code: rule.gate for rule in registry.RULES if rule.gate}


def _gated_out(
    source: bytes, path: str, module_name: str | None, index: ProjectIndex | None
) -> set[str]:
    """The rules whose byte patterns match `source` but whose gate rules the file out."""
    config = RunConfig(select=ALL)
    helpers = bool(index.reached_in(module_name)) if index is not None else False
    matching = registry.matching_rules(source, config, helpers)
    gates = ast_gates.Gates(textio.decode(source).text, path, module_name, (), index)
    return {rule.code for rule in matching if rule.gate and not gates.passes(rule.gate)}


def _ungated_findings(
    monkeypatch: pytest.MonkeyPatch,
    source: bytes,
    path: str,
    codes: set[str],
    module_name: str | None = None,
    index: ProjectIndex | None = None,
) -> list[str]:
    with monkeypatch.context() as patch:
        patch.setattr(ast_gates.Gates, "passes", lambda self, gate: True)
        result = runner.deep(
            lambda: engine.process(
                source,
                path,
                RunConfig(select=frozenset(codes)),
                index=index,
                module_name=module_name,
            )
        )
    return [f"{f.code} {f.span.line}:{f.span.column} {f.message}" for f in result.findings]


def _single_files() -> list[Path]:
    folders = [TESTS / "fixtures", TESTS / "worker_cases"]
    return sorted(
        path
        for folder in folders
        for path in folder.rglob("*.py")
        if "/input/" not in path.as_posix() and "/expected/" not in path.as_posix()
    )


def _projects() -> list[Path]:
    return sorted(path.parent for path in (TESTS / "fixtures").rglob("input") if path.is_dir())


def test_the_fixtures_give_the_gates_something_to_rule_out() -> None:
    """The soundness tests below look at something: the fixtures' lookalikes are ruled out
    by the gates of the rules with the most of them (`SHAPES` below has a ruled-out case
    for every gate)."""
    ruled_out: set[str] = set()
    for path in _single_files():
        ruled_out |= _gated_out(path.read_bytes(), path.name, None, None)
    gates = {GATED[code] for code in ruled_out}
    assert gates >= {"waits-in-tasks", "catches-in-tasks", "sleep-in-coroutines"}, gates


@pytest.mark.parametrize("path", _single_files(), ids=lambda p: str(p.relative_to(TESTS)))
def test_a_gate_never_hides_a_finding_in_a_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = path.read_bytes()
    codes = _gated_out(source, path.name, None, None)
    if codes:
        assert _ungated_findings(monkeypatch, source, path.name, codes) == []


@pytest.mark.parametrize("project", _projects(), ids=lambda p: str(p.relative_to(TESTS)))
def test_a_gate_never_hides_a_finding_in_a_project(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project / "input"
    files, _ = discovery.discover([str(root)], (), base=str(root))
    index = runner.build_index(files, RunConfig(select=ALL, jobs=1))
    for file in files:
        source = Path(file.absolute).read_bytes()
        codes = _gated_out(source, file.path, file.module_name, index)
        if codes:
            found = _ungated_findings(
                monkeypatch, source, file.path, codes, file.module_name, index
            )
            assert found == [], file.path


# Each: (source, the gate, what it must answer). Every "True" case is one the rule reports
# (checked below), written the way the gate cannot see by the name alone.
SHAPES = [
    pytest.param(
        "from celery import shared_task\n\n"
        "def settle(res):\n    return res.get()\n\n"
        "def fetch_and_settle(t, x):\n    return settle(t.delay(x))\n\n"
        "@shared_task\ndef work(x):\n    return fetch_and_settle(work, x)\n",
        "waits-in-tasks",
        True,
        id="wait-two-helpers-below-the-task",
    ),
    pytest.param(
        "from celery import shared_task\n\n"
        "def settle(res):\n    return res.get()\n\n"
        "@shared_task\ndef work(x):\n    return {'x': x}\n",
        "waits-in-tasks",
        False,
        id="waiting-function-no-task-calls",
    ),
    pytest.param(
        "from celery import shared_task\n\n"
        "@shared_task\ndef work(x):\n    try:\n        return x\n"
        "    except (KeyError, Exception):\n        return None\n",
        "catches-in-tasks",
        True,
        id="catch-all-in-a-tuple",
    ),
    pytest.param(
        "from celery import shared_task\n\n"
        "@shared_task\ndef work(x):\n    try:\n        return x\n"
        "    except KeyError:\n        return None\n",
        "catches-in-tasks",
        False,
        id="specific-handler",
    ),
    pytest.param(
        "from django.db.transaction import atomic as in_transaction\n"
        "from shop.tasks import send\n\n"
        "def save(order):\n    with in_transaction():\n        send.delay(order.pk)\n",
        "dispatch-in-atomic",
        True,
        id="atomic-imported-under-another-name",
    ),
    pytest.param(
        "from shop.tasks import send\n\n"
        "def save(order, lock):\n    with lock:\n        send.delay(order.pk)\n",
        "dispatch-in-atomic",
        False,
        id="another-context-manager",
    ),
    pytest.param(
        "from django.db import transaction\nfrom shop.tasks import send\n\n"
        "def save(order):\n    with transaction.atomic():\n        order.save()\n"
        "        print(order.pk)\n    send.delay(order.pk)\n",
        "dispatch-in-atomic",
        False,
        id="atomic-block-without-a-send",
    ),
    pytest.param(
        "from celery import group\nfrom django.db import transaction\nfrom shop.tasks import send\n\n"
        "def save(orders):\n    job = group(send.s(o.pk) for o in orders)\n"
        "    with transaction.atomic():\n        job()\n",
        "dispatch-in-atomic",
        True,
        id="canvas-called-in-atomic",
    ),
    pytest.param(
        "import redis\n\nPATTERN = 'celery-task-meta-*'\nr = redis.Redis()\n"
        "keys = r.keys(PATTERN)\n",
        "keys-over-results",
        True,
        id="keys-pattern-from-a-name",
    ),
    pytest.param(
        "import redis\n\nr = redis.Redis()\nkeys = r.keys('session:*')\nd = {}.keys()\n",
        "keys-over-results",
        False,
        id="keys-of-other-patterns",
    ),
    pytest.param(
        "import queue\nimport threading\n\n\nclass Pump(threading.Thread):\n"
        "    def run(self):\n        self.inbox.get(timeout=5).join()\n",
        "waits-in-tasks",
        False,
        id="thread-run-is-no-task",
    ),
    pytest.param(
        "from celery import Task as T\nfrom proj.tasks import step\n\n\nclass Base(T):\n"
        "    pass\n\n\nclass Job(Base):\n    def run(self):\n        return step.delay().get()\n",
        "waits-in-tasks",
        True,
        id="task-class-through-an-alias-and-a-local-base",
    ),
    pytest.param(
        "from celery.schedules import crontab as cron\n\nschedule = cron(hour=7)\n",
        "crontab-calls",
        True,
        id="crontab-imported-under-another-name",
    ),
    pytest.param(
        "from celery.schedules import crontab\n\nschedule = crontab()\n",
        "crontab-calls",
        False,
        id="crontab-without-fields",
    ),
    pytest.param(
        "from celery.schedules import crontab\n\n"
        "a = crontab(minute=0, hour=7)\nb = crontab(0, 0, day_of_week=1)\n"
        "c = crontab(hour='*', day_of_week=1, **{'minute': 5})\nd = crontab(minute=5)\n",
        "crontab-calls",
        False,
        id="crontab-every-needed-field-given",
    ),
    pytest.param(
        "from celery.schedules import crontab\n\nschedule = crontab(minute=0, **dict(day_of_week=1))\n",
        "crontab-calls",
        True,
        id="crontab-larger-field-from-a-dict-call",
    ),
    pytest.param(
        "from time import sleep as nap\n\nasync def poll():\n    nap(1)\n",
        "sleep-in-coroutines",
        True,
        id="sleep-imported-under-another-name",
    ),
    pytest.param(
        "import time\n\ndef poll():\n    time.sleep(1)\n\nasync def later():\n    return 1\n",
        "sleep-in-coroutines",
        False,
        id="sleep-outside-coroutines",
    ),
    pytest.param(
        "import asyncio\nimport time\n\nasync def poll():\n    await asyncio.sleep(1)\n"
        "    return time.time()\n",
        "sleep-in-coroutines",
        False,
        id="asyncio-sleep-beside-import-time",
    ),
    pytest.param(
        "import time as t\n\nasync def poll():\n    t.sleep(1)\n",
        "sleep-in-coroutines",
        True,
        id="time-imported-under-another-name",
    ),
    pytest.param(
        "from shop.tasks import render\n\nasync def view(x):\n    return render.delay(x).get()\n",
        "waits-in-coroutines",
        True,
        id="wait-in-a-coroutine",
    ),
    pytest.param(
        "from shop.tasks import render\n\ndef view(x):\n    return render.delay(x).get()\n\n"
        "async def other():\n    return 1\n",
        "waits-in-coroutines",
        False,
        id="wait-outside-coroutines",
    ),
]


@pytest.mark.parametrize(("source", "gate", "passes"), SHAPES)
def test_gate_answers(
    source: str, gate: str, passes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ast_gates.Gates(source, "m.py", "m").passes(gate) is passes
    codes = {code for code, name in GATED.items() if name == gate}
    found = _ungated_findings(monkeypatch, source.encode(), "m.py", codes, "m")
    # A shape the gate lets through is one its rules report; one it rules out, they do not.
    assert bool(found) is passes, found


def test_a_name_re_exported_by_another_module_is_followed() -> None:
    """`from .db import in_transaction`, where `db` imports Django's `atomic` under that
    name: the project index resolves it, and the gate follows the index."""
    from celerymod.analysis.indexing import index_file

    db = "from django.db.transaction import atomic as in_transaction\nfrom celery import shared_task\n"
    views = (
        "from .db import in_transaction\nfrom .tasks import send\n\n"
        "def save(order):\n    with in_transaction():\n        send.delay(order.pk)\n"
    )
    index = ProjectIndex.from_entries(
        [
            entry
            for entry in (
                index_file(db.encode(), "shop/db.py", "shop.db"),
                index_file(views.encode(), "shop/views.py", "shop.views"),
            )
            if entry is not None
        ]
    )
    assert not ast_gates.Gates(views, "shop/views.py", "shop.views").passes("dispatch-in-atomic")
    gates = ast_gates.Gates(views, "shop/views.py", "shop.views", (), index)
    assert gates.passes("dispatch-in-atomic")


def test_a_file_ast_cannot_read_passes_every_gate() -> None:
    gates = ast_gates.Gates("def f(:\n    pass\n")
    assert all(gates.passes(gate) for gate in ast_gates.GATES)
