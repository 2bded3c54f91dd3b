"""The scope-free gate in front of task detection (`AppsAndTasks._may_define_tasks`) never
hides a task: wherever it says a module defines none, the full analysis (scope and
qualified-name metadata, the project index of the module's folder) finds none either, over
every fixture and worker case and the shapes it reasons about."""

from __future__ import annotations

import functools
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper

from celerymod import discovery, textio
from celerymod.analysis.index import ProjectIndex
from celerymod.analysis.indexing import index_file
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.vocabulary import METADATA

TESTS = Path(__file__).parent
SOURCES = sorted(
    path for folder in (TESTS / "fixtures", TESTS / "worker_cases") for path in folder.rglob("*.py")
)


def gate_and_tasks(source: str, module_name: str, path: str = "m.py", index=None):
    wrapper = MetadataWrapper(cst.parse_module(source))
    celery = CeleryModule(
        wrapper.module,
        wrapper.resolve_many(METADATA),
        path=path,
        module_name=module_name,
        index=index,
    )
    full = tuple(task.definition.qualified_name for task in celery.tasks)
    return celery._may_define_tasks, full


@functools.cache
def _index(folder: Path) -> ProjectIndex:
    entries = []
    for other in folder.glob("*.py"):
        entry = index_file(other.read_bytes(), str(other), discovery.module_name(other))
        if entry is not None:
            entries.append(entry)
    return ProjectIndex.from_entries(entries)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_gate_never_hides_a_task(path: Path) -> None:
    name = discovery.module_name(path) or path.stem
    text = textio.decode(path.read_bytes()).text
    may, tasks = gate_and_tasks(text, name, str(path), _index(path.parent))
    assert may or not tasks


SHAPES = {
    "aliased_import": ("from celery import shared_task as st\n@st\ndef t(): pass\n", True),
    "nested_import": (
        (
            "def make():\n    from celery import shared_task\n    @shared_task\n"
            "    def t(): pass\n    return t\n"
        ),
        True,
    ),
    "parameter_app": (
        "import celery\ndef register(app):\n    @app.task\n    def t(): pass\n",
        True,
    ),
    "class_task": ("from celery import Task\nclass T(Task):\n    def run(self): pass\n", True),
    "self_app_task": (
        (
            "import celery\nclass Test:\n    def test(self):\n        @self.app.task\n"
            "        def t(): pass\n"
        ),
        False,
    ),
    "plain_decorators": (
        (
            "import pytest, functools\n@pytest.mark.parametrize('x', [1])\n@functools.cache\n"
            "def test(x): pass\n"
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_gate_on_shapes(name: str) -> None:
    source, gate = SHAPES[name]
    may, tasks = gate_and_tasks(source, "proj.mod", "proj/mod.py")
    assert may is gate
    assert may or not tasks
