"""CEL008 beyond the fixtures: the byte prefilter that decides which files are parsed."""

from __future__ import annotations

from celerymod import engine
from celerymod.model import RunConfig

_ONLY = RunConfig(select=frozenset({"CEL008"}))

_PERIODIC = b"""from myproj.jobs import periodic


@periodic
def nightly():
    try:
        rebuild()
    except Exception:
        return "skipped"
"""


def test_a_file_that_mentions_no_task_is_never_parsed() -> None:
    source = b"def f():\n    try:\n        g()\n    except Exception:\n        return 1\n"
    result = engine.process(source, "plain.py", _ONLY)
    assert not result.parsed
    assert result.findings == ()


def test_a_configured_decorator_is_enough_to_parse_the_file() -> None:
    assert b"task" not in _PERIODIC.lower()
    config = RunConfig(select=frozenset({"CEL008"}), task_decorators=("myproj.jobs.periodic",))
    result = engine.process(_PERIODIC, "jobs.py", config)
    assert [(f.code, f.span.line) for f in result.findings] == [("CEL008", 8)]
    assert not engine.process(_PERIODIC, "jobs.py", _ONLY).parsed


def test_a_task_without_any_wait_is_still_looked_into() -> None:
    # CEL001's wait filter (`ast_gates`) must not hide CEL008's findings.
    source = (
        b"from celery import shared_task\n\n\n@shared_task\ndef t():\n    try:\n"
        b"        g()\n    except Exception:\n        pass\n"
    )
    result = engine.process(source, "tasks.py", _ONLY)
    assert [f.code for f in result.findings] == ["CEL008"]
    assert result.findings[0].help.startswith("re-raise after the cleanup")


def test_a_task_module_whose_tasks_handle_no_exception_is_never_parsed() -> None:
    # The `ast` gate (`ast_gates_checklist.catches_in_tasks`): a test module full of tasks, with
    # `except` only in plain functions, gives CEL008 nothing; libcst never sees it.
    source = (
        b"from celery import shared_task\n\n\n@shared_task\ndef t():\n    return 1\n\n\n"
        b"def test_t():\n    try:\n        t()\n    except Exception:\n        return 0\n"
    )
    result = engine.process(source, "test_tasks.py", _ONLY)
    assert not result.parsed
    assert result.findings == ()
    # The same `except` moved into a task (or a task class's `run`) is parsed and reported.
    inside = source.replace(
        b"    return 1\n", b"    try:\n        g()\n    except Exception:\n        return 1\n"
    )
    assert [f.code for f in engine.process(inside, "tasks.py", _ONLY).findings] == ["CEL008"]
    task_class = (
        b"from celery import Task\n\n\nclass Sync(Task):\n    def run(self):\n        try:\n"
        b"            g()\n        except Exception:\n            return None\n"
    )
    assert engine.process(task_class, "tasks.py", _ONLY).parsed
