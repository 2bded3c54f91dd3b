"""The `ast` index pass (analysis/indexing.py) records exactly what the libcst analysis
records (`CeleryModule.index_entry`, built by tests/index_reference.py): over every fixture
and worker case, and over hand-written shapes that are easy to get wrong when source text is
cut out of the file rather than printed by libcst."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from index_reference import reference_entry

from celerymod import discovery
from celerymod.analysis.indexing import index_file

TESTS = Path(__file__).parent
SOURCES = sorted(
    path for folder in (TESTS / "fixtures", TESTS / "worker_cases") for path in folder.rglob("*.py")
)


def _module_name(path: Path) -> str:
    return discovery.module_name(path) or path.stem


def test_there_are_sources_to_compare() -> None:
    assert len(SOURCES) > 300


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_ast_index_equals_libcst_index(path: Path) -> None:
    source = path.read_bytes()
    name = _module_name(path)
    assert index_file(source, str(path), name) == reference_entry(source, str(path), name)


SHAPES = {
    "nested_multiline_options": """
        from celery import Celery

        app = Celery("p")


        class Jobs:
            @app.task(
                bind=True,  # why
                autoretry_for=(
                    IOError,
                    OSError,
                ),
                name=(
                    "jobs.run"
                ),
                description=\"\"\"one
                    two\"\"\",
            )
            def run(self, x):
                return self.request.id


        def factory():
            @app.task(rate_limit = ( "1/s" ) , **extra)
            async def inner(x):
                return x
            return inner
        """,
    "class_task_and_aliases": """
        import celery
        from celery import Task as Base
        from .celery import app as celery_app

        try:
            from .settings import broker
        except ImportError:
            broker = None

        if broker:
            worker = celery.Celery("w")
        elif celery_app:
            other = celery_app
        elif broker:
            hidden = 1
        else:
            shown = 2


        class Root(Base):
            name = "root"
            max_retries = (3)

            def run(self):
                return 1


        class Child(Root):
            def run(self):
                return 2


        @worker.task
        def on_worker():
            pass


        @celery_app.task()
        def on_reexported(self):
            return self
        """,
    "factory_parameter_app": """
        from celery import Celery, shared_task


        def register(app: Celery):
            @app.task
            def registered():
                pass

            @shared_task(bind=True)
            def shared(task, x=1):
                def task(): ...
                return x
        """,
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_ast_index_equals_libcst_index_on_shapes(name: str, newline: str) -> None:
    source = textwrap.dedent(SHAPES[name]).replace("\n", newline).encode()
    path = f"proj/{name}.py"
    expected = reference_entry(source, path, f"proj.{name}")
    assert expected is not None and (expected.tasks or expected.apps)
    assert index_file(source, path, f"proj.{name}") == expected
