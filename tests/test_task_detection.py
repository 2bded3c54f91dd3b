"""What counts as a task, a result and a wait (celerymod.analysis), across modules.

The single-file fixtures (test_fixtures.py) run without a project index; here small projects
are written to a temporary folder and run through the real discovery, index pass and runner,
so apps, tasks and task classes defined in another module are seen the way a user's run sees
them. The analysis API the CEL001 rewrites build on (shapes, origins, arguments) is pinned
here too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from fixture_cases import FIXTURES

from celerymod import runner
from celerymod.analysis.arguments import call_arguments
from celerymod.analysis.index import ProjectIndex
from celerymod.analysis.indexing import index_file
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.shapes import ShapeKind, classify
from celerymod.analysis.syntax import source_text
from celerymod.analysis.vocabulary import METADATA, CallForm, Canvas, OriginKind
from celerymod.discovery import discover
from celerymod.model import FileResult, RunConfig

CONFIG = RunConfig(select=frozenset({"CEL001"}), jobs=1)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _run(paths: list[Path], config: RunConfig = CONFIG) -> tuple[list[FileResult], ProjectIndex]:
    files, errors = discover([str(p) for p in paths], ())
    assert not errors
    index = runner.build_index(files, config)
    assert index is not None, "CEL001 needs the index: build_index must run"
    results = runner.run(files, config, index)
    for result in results:
        assert not result.errors, result.errors
    return results, index


def _findings(results: list[FileResult]) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for result in results:
        for finding in result.findings:
            found.setdefault(Path(result.path).name, []).append(
                (finding.span.line, finding.message)
            )
    return found


# An app whose name and module say nothing about Celery, and a look-alike object with a
# `.task` decorator: only the index can tell them apart.
CORE = """
from celery import Celery

from scheduling import Scheduler

broker = Celery("proj")
scheduler = Scheduler()
"""

JOBS = """
from celery.result import AsyncResult

from proj.core import broker, scheduler


@broker.task
def resize(image_id):
    return image_id


@broker.task(bind=True, max_retries=5)
def gallery(self, image_ids):
    return [resize.delay(image_id).get() for image_id in image_ids]


@scheduler.task
def nightly(image_ids):
    return resize.delay(image_ids[0]).get()
"""


def test_app_defined_in_another_scanned_module(tmp_path: Path) -> None:
    _write(tmp_path, {"proj/__init__.py": "", "proj/core.py": CORE, "proj/jobs.py": JOBS})
    results, index = _run([tmp_path / "proj"])

    findings = _findings(results)
    assert [line for line, _ in findings["jobs.py"]] == [13]
    assert "inside task `gallery`" in findings["jobs.py"][0][1]
    # The index recorded the app, and knows `scheduler` is something else.
    assert index.is_app("proj.core.broker") is True
    assert index.is_app("proj.core.scheduler") is False
    gallery = index.task("proj.jobs.gallery")
    assert gallery is not None
    assert gallery.bind is True
    assert gallery.option("max_retries") == "5"
    assert gallery.decorator == "broker.task(bind=True, max_retries=5)"


def test_look_alike_app_is_a_task_when_its_module_is_not_scanned(tmp_path: Path) -> None:
    """Without `proj/core.py` in the run, the unscanned-module heuristic decides: `jobs.py`
    imports from `celery`, so both imported `.task` decorators count."""
    _write(tmp_path, {"proj/__init__.py": "", "proj/core.py": CORE, "proj/jobs.py": JOBS})
    results, _ = _run([tmp_path / "proj" / "jobs.py"])
    assert [line for line, _ in _findings(results)["jobs.py"]] == [13, 18]


def test_app_imported_from_unscanned_module(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "reports/__init__.py": "",
            "reports/queries.py": """
                from myproj.worker.celery_start import queries_app


                @queries_app.task
                def run_query(query_id):
                    return query_id


                @queries_app.task(bind=True)
                def run_report(self, query_ids):
                    return [run_query.delay(q).get() for q in query_ids]
            """,
            "reports/indexing.py": """
                from myproj import celery
                from myproj.search import client


                @celery.task(bind=True)
                def reindex(self, ids):
                    return client.delay(ids).get()
            """,
            "reports/fabfile.py": """
                from invoke import task

                from reports.queries import run_query


                @task
                def warm(c):
                    run_query.delay(1).get()
            """,
        },
    )
    results, index = _run([tmp_path / "reports"])
    findings = _findings(results)
    assert [line for line, _ in findings["queries.py"]] == [11]
    assert [line for line, _ in findings["indexing.py"]] == [7]
    assert "fabfile.py" not in findings
    assert index.task("reports.queries.run_report") is not None
    assert index.task("reports.fabfile.warm") is None


def test_reexported_app_and_relative_imports(tmp_path: Path) -> None:
    """The Django layout: `proj/__init__.py` re-exports the app of `proj/celery.py`."""
    _write(
        tmp_path,
        {
            "proj/__init__.py": "from .celery import app as celery_app\n",
            "proj/celery.py": """
                from celery import Celery

                app = Celery("proj")
            """,
            "proj/orders/__init__.py": "",
            "proj/orders/tasks.py": """
                from proj import celery_app

                from ..celery import app


                @celery_app.task
                def pack(order_id):
                    return order_id


                @app.task
                def ship(order_id):
                    box = pack.delay(order_id)
                    return box.get()
            """,
        },
    )
    results, index = _run([tmp_path / "proj"])
    assert [line for line, _ in _findings(results)["tasks.py"]] == [14]
    assert index.resolve("proj.celery_app") == "proj.celery.app"
    assert index.is_app("proj.celery_app") is True
    assert index.task("proj.orders.tasks.pack") is not None


def test_relative_app_import_in_a_namespace_package(tmp_path: Path) -> None:
    """`from .celery import app` in a folder without `__init__.py` (a namespace package) is
    the folder's own `celery` module, never the `celery` library: the tasks are seen."""
    tasks = """
    from celery import group

    from .celery import app


    @app.task
    def part(i):
        return i


    @app.task
    def total(n):
        parts = group(part.s(i) for i in range(n)).apply_async().get()
        return sum(parts)
    """
    celery_module = """
    from celery import Celery

    app = Celery("worker")
    """
    _write(tmp_path, {"worker/tasks.py": tasks, "worker/celery.py": celery_module})
    results, _ = _run([tmp_path / "worker"])
    findings = _findings(results)
    assert [line for line, _ in findings["tasks.py"]] == [13]
    assert "inside task `total`" in findings["tasks.py"][0][1]


def test_task_class_from_another_module(tmp_path: Path) -> None:
    files = {
        "shop/__init__.py": "",
        "shop/base.py": """
            import celery


            class ShopTask(celery.Task):
                abstract = True
        """,
        "shop/checkout.py": """
            from shop.base import ShopTask
            from shop.stock import reserve


            class Checkout(ShopTask):
                def run(self, skus):
                    return [reserve.delay(sku).get() for sku in skus]
        """,
    }
    _write(tmp_path, files)
    results, index = _run([tmp_path / "shop"])
    assert [line for line, _ in _findings(results)["checkout.py"]] == [7]
    assert index.is_task_class("shop.base.ShopTask") is True

    # Alone, `checkout.py` does not say that ShopTask is a Celery task class.
    results, _ = _run([tmp_path / "shop" / "checkout.py"])
    assert _findings(results) == {}


def test_waited_task_resolves_to_its_definition_in_another_module(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "media/__init__.py": "",
            "media/tasks.py": """
                from celery import shared_task


                @shared_task(name="media.transcode", time_limit=600)
                def transcode(video_id, codec="h264"):
                    return video_id
            """,
            "media/publish.py": """
                from celery import shared_task

                from media import tasks
                from media.tasks import transcode


                @shared_task
                def publish(video_id):
                    first = transcode.apply_async(args=[video_id], kwargs={"codec": "av1"}, countdown=3).get()
                    second = tasks.transcode.delay(video_id).get()
                    return first, second
            """,
        },
    )
    files, _ = discover([str(tmp_path / "media")], ())
    index = runner.build_index(files, CONFIG)
    source = (tmp_path / "media" / "publish.py").read_text()
    celery = _analyse(source, "media/publish.py", "media.publish", index)
    (task,) = celery.tasks
    first, second = celery.waits(task)
    assert first.origin.task is not None
    assert first.origin.task.qualified_name == "media.tasks.transcode"
    assert first.origin.task.registered_name == "media.transcode"
    assert first.origin.task.option("time_limit") == "600"
    assert second.origin.task == first.origin.task
    arguments = first.origin.arguments()
    assert arguments is not None
    assert [source_text(a) for a in arguments.args] == ["video_id"]
    assert [(k, source_text(v)) for k, v in arguments.kwargs] == [("codec", '"av1"')]
    assert [(k, source_text(v)) for k, v in arguments.options] == [("countdown", "3")]


def test_index_file_records_apps_tasks_and_aliases() -> None:
    source = textwrap.dedent(
        """
        from celery import Celery, shared_task
        from .settings import BROKER as broker_url

        app = Celery("proj", broker=broker_url)


        @shared_task(bind=True, autoretry_for=(IOError,), rate_limit="1/s")
        def sync(self):
            return 1


        def helper():
            return 2
        """
    ).encode()
    entry = index_file(source, "proj/worker.py", "proj.worker")
    assert entry is not None
    assert entry.apps == ("app",)
    assert ("broker_url", "proj.settings.BROKER") in entry.aliases
    assert "helper" in entry.defined
    (sync,) = entry.tasks
    assert (sync.name, sync.qualified_name, sync.bind) == ("sync", "proj.worker.sync", True)
    assert sync.options == (
        ("bind", "True"),
        ("autoretry_for", "(IOError,)"),
        ("rate_limit", '"1/s"'),
    )
    assert (sync.line, sync.column) == (9, 5)  # The source starts with a blank line.
    assert index_file(b"x = 1\n", "loose.py", None) is None


# --- The analysis API for rewrites ------------------------------------------------------------


def _analyse(
    source: str,
    path: str = "case.py",
    module_name: str | None = None,
    index: ProjectIndex | None = None,
) -> CeleryModule:
    wrapper = cst.MetadataWrapper(cst.parse_module(source))
    metadata = wrapper.resolve_many(METADATA)
    return CeleryModule(wrapper.module, metadata, path=path, module_name=module_name, index=index)


def _fixture(name: str) -> CeleryModule:
    path = FIXTURES / "blocking-subtask-wait" / f"{name}.input.py"
    return _analyse(path.read_text("utf-8"), path.name)


def _shapes(name: str, task_name: str) -> list[tuple[ShapeKind, int, int, tuple[bool, ...]]]:
    celery = _fixture(name)
    task = next(t for t in celery.tasks if t.name == task_name)
    return [
        (s.kind, s.first_statement, s.last_statement, s.feeds_next)
        for s in classify(celery.waits(task))
    ]


@pytest.mark.parametrize(
    ("fixture", "task", "expected"),
    [
        # job = group(...) / result = job.apply_async() / device_results = result.get()
        ("seed000_topology_discovery", "discover_topology_task", [(ShapeKind.FAN_OUT, 1, 3, ())]),
        ("group_join", "ping_all", [(ShapeKind.FAN_OUT, 0, 1, ())]),
        ("chord_get", "average_sensors", [(ShapeKind.FAN_OUT, 0, 1, ())]),
        ("collect_results", "crawl_site", [(ShapeKind.FAN_OUT, 1, 2, ())]),
        ("result_set_of_collected_results", "fetch_all", [(ShapeKind.FAN_OUT, 0, 1, ())]),
        ("loop_of_waits", "resize_gallery", [(ShapeKind.LOOP_OF_WAITS, 1, 1, ())]),
        (
            "comprehension_of_waits",
            "resize_gallery",
            [(ShapeKind.LOOP_OF_WAITS, 0, 0, ()), (ShapeKind.LOOP_OF_WAITS, 1, 1, ())],
        ),
        (
            "results_list_built_in_loop_then_waited",
            "fetch_all",
            [(ShapeKind.LOOP_OF_WAITS, 0, 2, ())],
        ),
        (
            "seed001_registry_population",
            "populate_registry_task",
            [(ShapeKind.SEQUENCE, 0, 5, (False, False))],
        ),
        # Seed 001 chained these with `.s()`: the second call does not take the first result.
        (
            "seed001_collection_sync",
            "sync_single_collection_task",
            [(ShapeKind.SEQUENCE, 0, 1, (False,))],
        ),
        ("sequence_of_waits", "populate", [(ShapeKind.SEQUENCE, 0, 1, (False,))]),
        ("pipeline_of_waits", "install", [(ShapeKind.PIPELINE, 0, 1, (True,))]),
        ("chain_get", "install", [(ShapeKind.SEQUENCE, 0, 0, ())]),
        ("wait_inside_try", "fetch_or_default", [(ShapeKind.OTHER, 0, 0, ())]),
        (
            "result_received_as_argument",
            "finish_one",
            [(ShapeKind.OTHER, 0, 0, ())],
        ),
        ("group_result_restore_join", "summarize", [(ShapeKind.OTHER, 0, 1, ())]),
    ],
)
def test_shapes(
    fixture: str, task: str, expected: list[tuple[ShapeKind, int, int, tuple[bool, ...]]]
) -> None:
    assert _shapes(fixture, task) == expected


def test_other_shapes_say_why() -> None:
    celery = _fixture("wait_inside_try")
    task = next(t for t in celery.tasks if t.name == "fetch_or_default")
    (shape,) = classify(celery.waits(task))
    assert shape.reason == (
        "the wait sits inside `try`, whose `except` handles the subtask's failure (after a "
        "rewrite, only an error callback would see it: `link_error=`)"
    )
    celery = _fixture("result_received_as_argument")
    task = next(t for t in celery.tasks if t.name == "finish_upload")
    (shape,) = classify(celery.waits(task))
    assert shape.reason == "it waits on a result the task received as an argument"


def test_fan_out_origin_names_the_group_and_the_statements() -> None:
    celery = _fixture("seed000_topology_discovery")
    task = next(t for t in celery.tasks if t.name == "discover_topology_task")
    (site,) = celery.waits(task)
    origin = site.origin
    assert (origin.kind, origin.form, origin.canvas) == (
        OriginKind.DISPATCH,
        CallForm.APPLY_ASYNC,
        Canvas.GROUP,
    )
    assert origin.names == ("job", "result")
    assert origin.signature is not None and source_text(origin.signature).startswith("group(")
    assert site.statement_indices == (1, 2, 3)
    assert site.value_target is not None and source_text(site.value_target) == "device_results"
    assert task.definition.bind is True
    assert task.definition.registered_name == "discover_topology"


def test_loop_of_waits_knows_its_collection() -> None:
    celery = _fixture("results_list_built_in_loop_then_waited")
    task = next(t for t in celery.tasks if t.name == "fetch_all")
    (site,) = celery.waits(task)
    collection = site.origin.collection
    assert collection is not None
    assert collection.name == "pending"
    assert isinstance(collection.builder, cst.For)
    assert isinstance(site.loop, cst.ListComp)
    assert site.origin.task is not None and site.origin.task.name == "fetch"


def test_workarounds_are_attached_to_waits() -> None:
    celery = _fixture("allow_join_result_workaround")
    task = next(t for t in celery.tasks if t.name == "album_cover")
    (site,) = celery.waits(task)
    assert site.workaround is not None and site.workaround.kind == "allow_join_result"
    # The statement a rewrite works on is the one inside the `with`.
    assert source_text(site.statement).strip() == "cover = thumbnail.delay(photo_ids[0]).get()"
    assert isinstance(task.function.body.body[site.statement_index], cst.With)
    assert celery.bare_workarounds(task) == ()

    celery = _fixture("disable_sync_subtasks_via_kwargs")
    task = next(t for t in celery.tasks if t.name == "geocode_all")
    kinds = [s.workaround.kind if s.workaround else None for s in celery.waits(task)]
    assert kinds == ["disable_sync_subtasks", "disable_sync_subtasks", None]


@pytest.mark.parametrize(
    ("call", "form", "args", "kwargs", "star_args", "star_kwargs", "options"),
    [
        ("t.delay(1, x, key=2)", CallForm.DELAY, ["1", "x"], [("key", "2")], [], [], []),
        ("t.delay(*xs, **kw)", CallForm.DELAY, [], [], ["xs"], ["kw"], []),
        (
            't.apply_async(args=[a], kwargs={"k": b}, countdown=3, queue="q")',
            CallForm.APPLY_ASYNC,
            ["a"],
            [("k", "b")],
            [],
            [],
            [("countdown", "3"), ("queue", '"q"')],
        ),
        ("t.apply_async((a, b), None)", CallForm.APPLY_ASYNC, ["a", "b"], [], [], [], []),
        ("t.apply_async(args=xs, kwargs=kw)", CallForm.APPLY_ASYNC, [], [], ["xs"], ["kw"], []),
        ("t.apply(args=[a], kwargs=dict(k=b))", CallForm.APPLY, ["a"], [("k", "b")], [], [], []),
        (
            'app.send_task("n", args=[a], kwargs={"k": 1}, queue="q")',
            CallForm.SEND_TASK,
            ["a"],
            [("k", "1")],
            [],
            [],
            [("queue", '"q"')],
        ),
    ],
)
def test_call_arguments(
    call: str,
    form: CallForm,
    args: list[str],
    kwargs: list[tuple[str, str]],
    star_args: list[str],
    star_kwargs: list[str],
    options: list[tuple[str, str]],
) -> None:
    node = cst.parse_expression(call)
    assert isinstance(node, cst.Call)
    split = call_arguments(node, form)
    assert [source_text(a) for a in split.args] == args
    assert [(k, source_text(v)) for k, v in split.kwargs] == kwargs
    assert [source_text(a) for a in split.star_args] == star_args
    assert [source_text(a) for a in split.star_kwargs] == star_kwargs
    assert [(k, source_text(v)) for k, v in split.options] == options
    assert split.spelled_out == (not star_args and not star_kwargs)


# Fixtures whose point is that nothing is reported although the code sits in a real task:
# the task must be found, or the fixture would pass for the wrong reason.
LOOKALIKES_IN_TASKS = [
    ("dict_get_lookalike", "configure"),
    ("thread_join_lookalike", "crawl_all"),
    ("event_wait_lookalike", "wait_for_ready"),
    ("queue_get_lookalike", "drain"),
    ("multiprocessing_pool_lookalike", "squares"),
    ("str_join_lookalike", "render"),
    ("django_model_poll_lookalike", "wait_for_import"),
    ("result_named_parameter_dict_lookalike", "store_scan"),
    ("nested_function_in_task_not_reported", "score_all"),
]


@pytest.mark.parametrize(("fixture", "task_name"), LOOKALIKES_IN_TASKS)
def test_lookalikes_sit_in_detected_tasks(fixture: str, task_name: str) -> None:
    celery = _fixture(fixture)
    task = next((t for t in celery.tasks if t.name == task_name), None)
    assert task is not None, f"{task_name} is not detected as a task"
    assert celery.waits(task) == ()


@pytest.mark.parametrize(
    ("fixture", "not_tasks"),
    [
        ("invoke_task_is_not_celery", {"deploy", "restart"}),
        ("non_celery_app_task_decorator", {"nightly"}),
        ("wait_outside_task_not_reported", {"export_view", "export_helper", "handle"}),
        ("custom_task_decorator", {"refresh_feeds", "fetch_feed", "not_a_task"}),
    ],
)
def test_not_tasks(fixture: str, not_tasks: set[str]) -> None:
    """(`custom_task_decorator` without its configured decorator has no task at all.)"""
    celery = _fixture(fixture)
    assert not {t.name for t in celery.tasks} & not_tasks


def test_an_app_imported_relatively_from_an_unplaced_module_is_an_app() -> None:
    """Without a module name (the library API, a fixture), `from .celery import app` cannot
    be resolved to a module: it is some unscanned module's app, as it is when the module
    is known, never the `celery` library."""
    from celerymod import engine
    from celerymod.model import RunConfig

    source = (
        b"from celery.result import AsyncResult\nfrom .celery import app\n\n\n"
        b"@app.task\ndef parent(x):\n    return AsyncResult(x).get(propagate=False)\n"
    )
    result = engine.process(source, "tasks.py", RunConfig(select=frozenset({"CEL001"})))
    assert [f.span.line for f in result.findings] == [7]
