"""Real-worker test harness: private Redis + one Celery app + one prefork worker.

Why this exists (DESIGN.md sections 1 and 6): the "Never call result.get() within a
task!" guard is only active inside *prefork* pool children.  The solo/threads pools
that ``celery.contrib.testing`` / ``celery.contrib.pytest`` default to switch the
guard off process-wide, and the memory/filesystem transports break under prefork.
So behaviour tests need a real Redis broker/backend and a prefork worker.

This is a plain module (no pytest imports); ``tests/conftest.py`` wraps it in a
session fixture.  Pieces:

``RedisServer``
    Starts ``redis-server`` on ``127.0.0.1:<free port>`` with persistence off and a
    temporary ``--dir``, waits (bounded) until it answers PING, stops it on exit.
    Raises :class:`HarnessUnavailable` when redis-server is missing or won't start.

``make_app(redis_url)``
    The ONE Celery app (broker = backend = that Redis, JSON only), finalized and made
    current + default so ``@shared_task`` in fixture files binds to it.  The result
    backend is Celery's Redis backend with ``SET .. EX`` in place of redis-py 8's
    deprecated ``setex`` (``HarnessRedisBackend``), so ``-W error`` cannot break the
    worker thread; ``plain_redis_backend=True`` restores Celery's own class.

``install_app_shim(app)``
    Puts a module ``celery_fixture_app`` exposing ``app`` into ``sys.modules`` so a
    fixture file can write ``from celery_fixture_app import app`` + ``@app.task``.

``load_task_modules(app, [(module_name, file_path), ...])``
    Imports each file under the given (distinct) module name with
    ``importlib.util.spec_from_file_location``.  Task names are
    ``<module_name>.<function>`` both for ``@shared_task`` and for ``@app.task``, so
    the input and expected versions of one fixture never collide as long as their
    module names differ (conftest uses ``fx_<rule>_<case>_<input|expected>``).
    A fixture file must NOT create its own ``Celery(...)`` app: its tasks would be
    invisible to the worker.  That is detected and reported as an error.

``WorkerSession``
    Ties it together: start Redis, build the app, load ALL task modules, then start
    the prefork worker with ``celery.contrib.testing.worker.start_worker`` (modules
    must be registered before billiard forks the pool; DESIGN section 6).
    ``start()`` / ``stop()`` (or ``with``) so a session fixture can enter/exit it.
    Exposes ``.app``, ``.module(name)``, ``.task(name)``, ``.get(result)``.

Every wait is bounded; ``ensure_started`` of the stock test worker waits forever, so
we pass a subclass whose wait has a timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Iterable, Sequence

# redis-py 8 deprecates ``setex`` which Celery's Redis result backend still calls.
SETEX_WARNING_MESSAGE = r"Call to deprecated setex"
SETEX_WARNING_FILTER = f"ignore:{SETEX_WARNING_MESSAGE}:DeprecationWarning"
warnings.filterwarnings("ignore", message=SETEX_WARNING_MESSAGE, category=DeprecationWarning)

APP_SHIM_MODULE = "celery_fixture_app"
DEFAULT_TIMEOUT = 20.0  # seconds; default bound for waits in tests
POLL_INTERVAL = 0.01


class HarnessUnavailable(RuntimeError):
    """The environment cannot run the harness (redis-server missing or won't start)."""


# --------------------------------------------------------------------------- Redis


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a currently free TCP port on ``host`` (small race: caller retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_redis_server() -> str | None:
    """Path of redis-server: $REDIS_SERVER, then PATH, then Debian's location."""
    env = os.environ.get("REDIS_SERVER")
    if env and os.access(env, os.X_OK):
        return env
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class RedisServer:
    """A throw-away redis-server on 127.0.0.1:<free port>, persistence disabled."""

    def __init__(self, host: str = "127.0.0.1", start_timeout: float = 10.0, attempts: int = 3):
        self.host = host
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._log_path: Path | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("RedisServer not started")
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = find_redis_server()
        if binary is None:
            raise HarnessUnavailable(
                "redis-server not found on PATH (run scripts/ensure-redis.sh "
                "or set $REDIS_SERVER)"
            )
        self._tmpdir = tempfile.TemporaryDirectory(prefix="celerymod-redis-")
        errors = []
        for _ in range(self.attempts):
            port = find_free_port(self.host)
            try:
                self._start_once(binary, port)
                return self
            except HarnessUnavailable as exc:  # e.g. port grabbed in between
                errors.append(str(exc))
                self._kill()
        self._cleanup_tmpdir()
        raise HarnessUnavailable("could not start redis-server: " + " | ".join(errors))

    def _start_once(self, binary: str, port: int) -> None:
        assert self._tmpdir is not None
        self._log_path = Path(self._tmpdir.name) / f"redis-{port}.log"
        cmd = [
            binary,
            "--port", str(port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self._tmpdir.name,
        ]
        with open(self._log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            except OSError as exc:
                raise HarnessUnavailable(f"cannot execute {binary}: {exc}") from exc
        self.port = port
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessUnavailable(
                    f"redis-server exited with {self.proc.returncode} on port {port}: "
                    + self._log_tail()
                )
            try:
                if self._ping():
                    return
            except Exception as exc:  # connection refused while starting
                last_error = exc
            time.sleep(0.05)
        raise HarnessUnavailable(
            f"redis-server on port {port} did not answer PING within "
            f"{self.start_timeout:.0f}s ({last_error}): " + self._log_tail()
        )

    def _ping(self) -> bool:
        import redis  # imported lazily: only needed once a server runs

        client = redis.Redis(
            host=self.host, port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-limit:].strip()  # type: ignore[union-attr]
        except OSError:
            return "<no log>"

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _cleanup_tmpdir(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def stop(self) -> None:
        self._kill()
        self._cleanup_tmpdir()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- app


def _harness_backend_class():
    from celery.backends.redis import RedisBackend

    class HarnessRedisBackend(RedisBackend):
        """Celery's Redis backend storing with ``SET .. EX`` instead of ``SETEX``.

        Same Redis semantics; avoids redis-py 8's ``setex`` DeprecationWarning, which
        is raised inside the worker's own thread and would break the worker when a
        test run turns warnings into errors (``-W error``), whatever the filters say.
        """

        def _set(self, key, value, expires=None):
            if expires is None:
                expires = self.expires
            with self.client.pipeline() as pipe:
                if expires:
                    if isinstance(expires, float):
                        pipe.set(key, value, px=int(expires * 1000))
                    else:  # int or timedelta, as setex accepted
                        pipe.set(key, value, ex=expires)
                else:
                    pipe.set(key, value)
                pipe.publish(key, value)
                pipe.execute()

    return HarnessRedisBackend


HarnessRedisBackend = _harness_backend_class()


def make_app(redis_url: str, *, result_extended: bool = True, plain_redis_backend: bool = False, **conf):
    """Create the one Celery app, finalize it and make it current + default.

    The result backend is :class:`HarnessRedisBackend` (Celery's Redis backend, SET EX
    instead of the deprecated SETEX); ``plain_redis_backend=True`` uses Celery's own.

    Also imports ``celery.contrib.testing.tasks`` so ``celery.ping`` exists
    (``start_worker(perform_ping_check=True)`` asserts it is registered).
    """
    from celery import Celery
    import celery.contrib.testing.tasks  # noqa: F401  (registers celery.ping)

    app = Celery("celerymod_harness", set_as_current=True)
    app.conf.update(
        broker_url=redis_url,
        result_backend=(
            redis_url if plain_redis_backend else f"{__name__}:HarnessRedisBackend+{redis_url}"
        ),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_extended=result_extended,
        task_default_queue="celerymod-harness",
        worker_hijack_root_logger=False,  # leave pytest's logging alone
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 5},
        redis_socket_connect_timeout=5,
        result_expires=600,
        enable_utc=True,
    )
    app.conf.update(conf)
    app.set_current()
    app.set_default()
    app.finalize(auto=True)
    return app


def install_app_shim(app, name: str = APP_SHIM_MODULE) -> types.ModuleType:
    """Register ``sys.modules[name]`` exposing ``app`` (``from celery_fixture_app import app``)."""
    shim = types.ModuleType(name, "Celery app of the celerymod test harness.")
    shim.app = app
    shim.celery_app = app
    shim.__file__ = __file__
    sys.modules[name] = shim
    return shim


def load_task_modules(app, modules: Iterable[tuple[str, str | os.PathLike]]) -> dict[str, types.ModuleType]:
    """Import each ``(module_name, file_path)`` as a module under that distinct name.

    Must run before the worker starts.  ``@shared_task`` binds to the finalized,
    current app; ``from celery_fixture_app import app`` is provided by the shim.
    Returns ``{module_name: module}``.
    """
    from celery import Celery
    from celery.local import Proxy

    if sys.modules.get(APP_SHIM_MODULE) is None or sys.modules[APP_SHIM_MODULE].app is not app:
        install_app_shim(app)
    app.set_current()
    app.set_default()
    loaded: dict[str, types.ModuleType] = {}
    for name, path in modules:
        if name in loaded:
            raise ValueError(f"duplicate worker module name {name!r} ({path})")
        path = Path(path).resolve()
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot build an import spec for {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # tasks/exceptions must be importable by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        foreign = [
            attr for attr, value in vars(module).items()
            # `current_app` is a proxy of the shim's app, not an app of its own.
            if isinstance(value, Celery) and value is not app
            and not issubclass(type(value), Proxy)
        ]
        if foreign:
            sys.modules.pop(name, None)
            raise ValueError(
                f"{path}: creates its own Celery app ({', '.join(foreign)}); worker fixtures "
                f"must use '@shared_task' or 'from {APP_SHIM_MODULE} import app'"
            )
        loaded[name] = module
    return loaded


# --------------------------------------------------------------------------- worker


def _bounded_work_controller(start_timeout: float):
    from celery.contrib.testing.worker import TestWorkController

    class BoundedTestWorkController(TestWorkController):
        __test__ = False

        def ensure_started(self):
            if not self._on_started.wait(start_timeout):
                raise RuntimeError(
                    f"Celery test worker did not become ready within {start_timeout:.0f}s"
                )

    return BoundedTestWorkController


class WorkerSession:
    """Redis + app + task modules + one prefork worker, started once.

    ``WorkerSession(modules).start()`` ... ``.stop()``; or use it as a context manager.
    """

    def __init__(
        self,
        modules: Sequence[tuple[str, str | os.PathLike]] = (),
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        loglevel: str = "WARNING",
        perform_ping_check: bool = True,
        start_timeout: float = 30.0,
        shutdown_timeout: float = 15.0,
        app_conf: dict | None = None,
    ):
        self.module_specs = list(modules)
        self.concurrency = concurrency
        self.pool = pool
        self.loglevel = loglevel
        self.perform_ping_check = perform_ping_check
        self.start_timeout = start_timeout
        self.shutdown_timeout = shutdown_timeout
        self.app_conf = dict(app_conf or {})
        self.redis: RedisServer | None = None
        self.app = None
        self.worker = None
        self.modules: dict[str, types.ModuleType] = {}
        self.startup_seconds: float | None = None
        self._stack: contextlib.ExitStack | None = None

    # -- lifecycle
    def start(self) -> "WorkerSession":
        from celery.contrib.testing.worker import start_worker

        began = time.monotonic()
        stack = contextlib.ExitStack()
        try:
            self.redis = stack.enter_context(RedisServer())  # raises HarnessUnavailable
            self.app = make_app(self.redis.url, **self.app_conf)
            stack.callback(self._forget_modules)
            install_app_shim(self.app)
            self.modules = load_task_modules(self.app, self.module_specs)
            # Modules are registered: now billiard may fork the pool.
            self.worker = stack.enter_context(
                start_worker(
                    self.app,
                    pool=self.pool,
                    concurrency=self.concurrency,
                    loglevel=self.loglevel,
                    perform_ping_check=self.perform_ping_check,
                    shutdown_timeout=self.shutdown_timeout,
                    WorkController=_bounded_work_controller(self.start_timeout),
                )
            )
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()  # worker first, then module cleanup, then Redis
        self.worker = None

    def _forget_modules(self) -> None:
        for name in list(self.modules):
            sys.modules.pop(name, None)
        shim = sys.modules.get(APP_SHIM_MODULE)
        if shim is not None and getattr(shim, "app", None) is self.app:
            del sys.modules[APP_SHIM_MODULE]

    def __enter__(self) -> "WorkerSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- access
    def module(self, name: str) -> types.ModuleType:
        """The loaded task module registered under ``name``."""
        try:
            return self.modules[name]
        except KeyError:
            raise KeyError(
                f"worker module {name!r} not registered; known: {sorted(self.modules)}"
            ) from None

    def task(self, name: str, func: str | None = None):
        """Registered task by full name (``task('mod.func')``) or ``task('mod', 'func')``."""
        full = f"{name}.{func}" if func else name
        try:
            return self.app.tasks[full]
        except KeyError:
            known = sorted(t for t in self.app.tasks if not t.startswith("celery."))
            raise KeyError(f"task {full!r} not registered; known: {known}") from None

    def get(self, result, timeout: float = DEFAULT_TIMEOUT, **kwargs):
        """``result.get`` with a bound and a short poll interval."""
        kwargs.setdefault("interval", POLL_INTERVAL)
        return result.get(timeout=timeout, **kwargs)

    def wait_ready(self, result, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait (bounded) until ``result`` reaches a ready state without propagating."""
        result.get(timeout=timeout, interval=POLL_INTERVAL, propagate=False)
