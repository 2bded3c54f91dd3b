"""CEL005's fix on a real Django project and a real prefork worker (Redis broker and
backend, one SQLite file shared by this process and the worker).

The project is `tests/django_project/`, copied into a temporary folder with a settings
module written for this run. `cel005_shop/orders.py` is the original code; a copy of it
goes through the real `celerymod fix --write --unsafe-fixes` (never written by hand).
Both versions run here, in this process, against the worker:

- before: the task runs while the transaction is still open and does not find the row
  (its message reached the worker before the commit); when the transaction rolls back,
  the task still runs, for a row that never existed;
- after: nothing is published inside the transaction; the task runs after the commit and
  finds the row (each loop iteration its own row: `partial` bound the value; in a second
  database, once that database commits: `using=` was passed on), and when the transaction
  rolls back nothing is ever published, so the task never runs.

Every wait polls with a deadline; the worker starts once for the module (about 2 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import celery_worker
import pytest

PROJECT = Path(__file__).parent / "django_project"
PACKAGES = ("cel005_site", "cel005_shop")
START_DEADLINE = 60.0  # a cold worker on a busy 2-core machine

pytestmark = pytest.mark.worker

_SETTINGS = """\
SECRET_KEY = "celerymod-cel005-test"
INSTALLED_APPS = ["cel005_shop"]
DATABASES = {{
    alias: {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": f"{folder}/{{alias}}.sqlite3",
        # The worker reads while this process holds a write transaction: wait, do not fail.
        "OPTIONS": {{"timeout": 20}},
    }}
    for alias in ("default", "other")
}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

CELERY_BROKER_URL = {broker!r}
CELERY_RESULT_BACKEND = {broker!r}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CEL005_OBSERVATIONS_URL = {observations!r}
"""


@dataclass(frozen=True)
class Site:
    """The running project: the two versions of the code under test, and what watches."""

    before: ModuleType
    after: ModuleType
    observe: ModuleType
    order_model: Any
    look_up_order: Any


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _redis() -> celery_worker.RedisServer:
    try:
        return celery_worker.RedisServer().start()
    except celery_worker.HarnessUnavailable as exc:
        reason = f"real Celery worker unavailable: {exc}"
        if _on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def _write_project(root: Path, broker: str) -> None:
    for package in PACKAGES:
        shutil.copytree(PROJECT / package, root / package)
    observations = broker.rsplit("/", 1)[0] + "/1"
    settings = _SETTINGS.format(folder=str(root), broker=broker, observations=observations)
    (root / "cel005_site" / "settings.py").write_text(settings, "utf-8")
    # Two modules with the original code: one stays as it is, one is fixed by celerymod.
    original = (root / "cel005_shop" / "orders.py").read_text("utf-8")
    (root / "cel005_shop" / "orders_before.py").write_text(original, "utf-8")
    (root / "cel005_shop" / "orders_after.py").write_text(original, "utf-8")


def _celerymod_fix(root: Path) -> str:
    """Run the real CLI on `orders_after.py`, as a user would; return the fixed text."""
    target = root / "cel005_shop" / "orders_after.py"
    command = [sys.executable, "-m", "celerymod", "fix", "--write", "--unsafe-fixes"]
    command += ["--select", "CEL005", "--no-cache", str(target)]
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target.read_text("utf-8")


def _start_worker(root: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(root), DJANGO_SETTINGS_MODULE="cel005_site.settings")
    command = [sys.executable, "-m", "celery", "-A", "cel005_site", "worker"]
    command += ["--pool=prefork", "--concurrency=1", "--loglevel=INFO", "-n", "cel005@%h"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        # Cold shutdown: every test has waited for its tasks, and a warm one takes seconds.
        worker.send_signal(signal.SIGQUIT)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


def _setup_django(root: Path) -> None:
    """Django in this process, on the same settings and SQLite file as the worker."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    if settings.configured:
        # Settings cannot be swapped once set: a test that configured Django before this
        # one (with other settings) makes this proof impossible; say so, never skip it.
        pytest.fail("Django is already configured in this process", pytrace=False)
    os.environ["DJANGO_SETTINGS_MODULE"] = "cel005_site.settings"
    sys.path.insert(0, str(root))
    django.setup()
    for database in ("default", "other"):
        call_command("migrate", database=database, run_syncdb=True, verbosity=0)


def _wait_until_ready(site: Site, worker: subprocess.Popen[bytes], log: Path) -> None:
    """A first task round trip: the worker is up and has the task registered."""
    site.look_up_order.delay(0, "ready")
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            break
        if site.observe.reports("ready"):
            return
        time.sleep(0.05)
    pytest.fail(f"the Django worker did not answer:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from celery import _state

    root = tmp_path_factory.mktemp("cel005_django")
    redis_server = _redis()
    saved_path, saved_env = list(sys.path), os.environ.get("DJANGO_SETTINGS_MODULE")
    saved_apps = (_state.default_app, _state._tls.current_app)
    worker: subprocess.Popen[bytes] | None = None
    try:
        _write_project(root, redis_server.url)
        fixed = _celerymod_fix(root)
        assert "on_commit(functools.partial(look_up_order.delay, order.pk, token))" in fixed, fixed
        _setup_django(root)
        import cel005_shop.orders_after as after
        import cel005_shop.orders_before as before
        from cel005_shop import observe
        from cel005_shop.models import Order
        from cel005_shop.tasks import look_up_order

        loaded = Site(before, after, observe, Order, look_up_order)
        log = root / "worker.log"
        worker = _start_worker(root, log)
        _wait_until_ready(loaded, worker, log)
        yield loaded
    finally:
        if worker is not None:
            _stop(worker)
        _forget(saved_path, saved_env, saved_apps)
        redis_server.stop()


def _forget(path: list[str], env: str | None, apps: tuple[Any, Any]) -> None:
    """Leave the process as the other tests expect it: no project modules, no project app
    as Celery's current or default app. (Django stays configured: it cannot be undone.)"""
    from celery import _state
    from django.db import connections

    connections.close_all()
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[name]
    sys.path[:] = path
    if env is None:
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = env
    _state.default_app, _state._tls.current_app = apps


def _token() -> str:
    return f"cel005-{uuid.uuid4().hex}"


def _exists(site: Site, pk: int) -> bool:
    return bool(site.order_model.objects.filter(pk=pk).exists())


def test_the_fix_is_what_celerymod_wrote(site: Site) -> None:
    source = Path(site.after.__file__).read_text("utf-8")
    assert "import functools" in source
    assert "transaction.on_commit(functools.partial(look_up_order.delay, order.pk, token))" in source
    assert (
        "transaction.on_commit(functools.partial(look_up_order.apply_async, "
        "args=[order.pk, token], countdown=0))"
    ) in source
    assert (
        "transaction.on_commit(functools.partial(look_up_order_in.delay, "
        '"other", order.pk, token), using="other")'
    ) in source
    assert Path(site.before.__file__).read_text("utf-8").count(".on_commit(") == 0
    # The Django fixup is on (it makes the app's tasks `DjangoTask`s), as in a real project.
    from celery.contrib.django.task import DjangoTask

    assert isinstance(site.look_up_order, DjangoTask)


def test_before_the_task_runs_before_the_commit_and_misses_the_row(site: Site) -> None:
    token = _token()
    pk = site.before.place_order("before", token)
    inside = site.observe.INSIDE[token]
    assert inside["published"] == 1  # sent while the transaction was open
    assert inside["reports"] == [{"pk": pk, "found": False, "name": None}]
    assert _exists(site, pk)  # committed, but the task is done and never saw it


def test_after_the_task_runs_after_the_commit_and_finds_the_row(site: Site) -> None:
    token = _token()
    pk = site.after.place_order("after", token)
    assert site.observe.INSIDE[token] == {"published": 0, "reports": []}
    assert len(site.observe.published(token)) == 1  # sent by the commit
    assert site.observe.wait_for_reports(token, 1) == [{"pk": pk, "found": True, "name": "after"}]


def test_after_each_loop_iteration_sends_its_own_row(site: Site) -> None:
    names = ["first", "second", "third"]
    token = _token()
    site.before.place_orders(names, token)
    assert [r["found"] for r in site.observe.INSIDE[token]["reports"]] == [False] * 3

    token = _token()
    site.after.place_orders(names, token)
    assert site.observe.INSIDE[token] == {"published": 0, "reports": []}
    reports = site.observe.wait_for_reports(token, 3)
    # `partial` bound each iteration's order: three rows, each found, none twice.
    assert sorted(r["name"] for r in reports) == sorted(names)
    assert all(r["found"] for r in reports)
    assert len({r["pk"] for r in reports}) == 3


def test_in_another_database_the_fix_waits_for_that_databases_commit(site: Site) -> None:
    """`atomic(using="other")`: the fix passes `using="other"` to `on_commit`; without it
    the callback would hook the default database, which has no transaction open, and run
    at once, before the order is committed."""
    token = _token()
    pk = site.before.place_order_in_other_database("elsewhere", token)
    assert site.observe.INSIDE[token]["reports"] == [{"pk": pk, "found": False, "name": None}]

    token = _token()
    pk = site.after.place_order_in_other_database("elsewhere", token)
    assert site.observe.INSIDE[token] == {"published": 0, "reports": []}
    found = site.observe.wait_for_reports(token, 1)
    assert found == [{"pk": pk, "found": True, "name": "elsewhere"}]


def test_on_rollback_the_original_runs_for_a_row_that_never_existed(site: Site) -> None:
    token = _token()
    with pytest.raises(site.observe.PaymentDeclined) as declined:
        site.before.place_declined_order("declined", token)
    pk = declined.value.args[0]
    assert site.observe.INSIDE[token]["reports"] == [{"pk": pk, "found": False, "name": None}]
    assert not _exists(site, pk)


def test_on_rollback_the_fixed_code_never_sends_the_task(site: Site) -> None:
    token = _token()
    with pytest.raises(site.observe.PaymentDeclined) as declined:
        site.after.place_declined_order("declined", token)
    assert not _exists(site, declined.value.args[0])
    assert site.observe.INSIDE[token] == {"published": 0, "reports": []}
    # Nothing was ever published for it, so nothing can run. And the worker is alive and
    # draining the queue: a task sent now (after any message the rollback could have sent)
    # runs and reports, while the rolled-back order's token stays silent.
    sentinel = _token()
    site.look_up_order.delay(0, sentinel)
    assert len(site.observe.wait_for_reports(sentinel, 1)) == 1
    assert site.observe.published(token) == []
    assert site.observe.reports(token) == []
