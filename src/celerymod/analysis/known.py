"""Celery's own dotted names: what makes an app, a task, a task class, and the packages whose
lookalikes are not Celery's. Plain data with no libcst, so that the `ast` index pass
(indexing.py), the `ast` gates (ast_gates.py) and the libcst analysis read the same lists.
"""

from __future__ import annotations

# The methods that wait on a Celery result (`AsyncResult`, `GroupResult`, `ResultSet`).
WAIT_METHODS = frozenset({"get", "wait", "join", "join_native", "collect"})
# What the condition of a loop polling a result reads (`CeleryModule.polls`): methods of a
# result that say whether it is finished, and its state fields.
POLL_METHODS = frozenset({"ready", "successful", "failed"})
POLL_FIELDS = frozenset({"state", "status"})

APP_CLASSES = frozenset({"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"})


# Objects that are an app without being constructed here: `@current_app.task` is a task.
APP_OBJECTS = frozenset(
    {"celery.current_app", "celery.app.current_app", "celery._state.current_app"}
)


TASK_DECORATORS = frozenset(
    {
        "celery.shared_task",
        "celery.app.shared_task",
        # Celery 3/4 spellings, still found in old code.
        "celery.task",
        "celery.task.task",
        "celery.task.periodic_task",
        "celery.decorators.task",
        "celery.decorators.periodic_task",
    }
)


TASK_CLASSES = frozenset(
    {
        "celery.Task",
        "celery.app.task.Task",
        "celery.task.Task",
        "celery.task.base.Task",
        "celery.contrib.abortable.AbortableTask",
    }
)


# Top-level packages whose `x.task`, `.apply_async()` or `.get()` are not Celery's. An object
# imported from one of these is never taken for a Celery app or task.
NON_CELERY_PACKAGES = frozenset(
    {
        "invoke",
        "fabric",
        "prefect",
        "airflow",
        "huey",
        "dramatiq",
        "rq",
        "django_rq",
        "arq",
        "taskiq",
        "procrastinate",
        "luigi",
        "dask",
        "distributed",
        "ray",
        "dagster",
        "multiprocessing",
        "concurrent",
        "billiard",
        "threading",
        "asyncio",
        "queue",
        "trio",
        "anyio",
        "pandas",
        "numpy",
        "kombu",
    }
)


def unscanned_task_class(dotted: str) -> bool:
    """Whether a base class imported from a module outside the scanned paths is taken for a
    `celery.Task` subclass (in a module that imports from `celery`, like an unscanned app):
    its name ends in `Task` (`SystemTask`, `BaseSyncTask`), and it comes neither from Celery
    (whose task classes are listed) nor from a known non-Celery package."""
    return (
        dotted.rpartition(".")[2].endswith("Task")
        and not dotted.startswith("celery.")
        and dotted.partition(".")[0] not in NON_CELERY_PACKAGES
    )


# What a task's code reads of the running task other than through `self` (which `bind=True`
# gives): Celery's `current_task` (`celery.current_task`, `app.current_task`), or the
# task object by its own name (`sync.request.id`, `sync.update_state(...)`). Moved into
# another task (a callback) or called in-process (a helper), these read another request.
OWN_TASK_ATTRIBUTES = frozenset({"request", "update_state", "retry", "replace", "send_event"})
CURRENT_TASK = "current_task"
