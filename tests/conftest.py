"""Shared pytest configuration for celerymod.

# ---------------------------------------------------------------------------
# Real Celery worker harness (section owned by the worker harness; keep it
# self-contained -- other sections may be added below it).
# ---------------------------------------------------------------------------

Fixture ``celery_worker_env`` (session scope): a private ``redis-server`` on
127.0.0.1:<free port>, ONE Celery app (Redis broker + backend, JSON) and ONE
prefork worker (concurrency 2), started on first use and torn down at session end.
It yields a ``celery_worker.WorkerSession`` with:

* ``env.app``                   -- the Celery app (``AsyncResult``, ``GroupResult``...)
* ``env.module(name)``          -- a loaded task module
* ``env.task("mod.func")``      -- a registered task (``env.task("mod", "func")`` too)
* ``env.get(result, timeout=20)`` -- bounded ``result.get(interval=0.01)``

Tests using it are marked ``worker`` automatically (``-m "not worker"`` skips them).
If redis-server is missing or won't start, they are skipped -- or fail when the
environment variable ``CI`` is ``true`` (case-insensitive).  Run
``scripts/ensure-redis.sh`` to install it.

Which task modules are loaded (all before the pool forks; no registration calls):

1. every ``tests/worker_cases/**/*.py`` (except ``__init__.py``), under module name
   ``wc_<path relative to worker_cases, '/' -> '_', without .py>``,
   e.g. ``tests/worker_cases/guard_demo.py`` -> ``wc_guard_demo``;
2. every fixture ``tests/fixtures/<rule>/<case>.input.py`` / ``<case>.expected.py``
   that has the marker comment ``# celerymod-test: worker`` in its first 5 lines,
   under ``fx_<rule>_<case>_<input|expected>`` with every character that is not a
   letter, digit or ``_`` (dashes, dots...) replaced by ``_``;
   e.g. ``tests/fixtures/get-in-task/fan-out.input.py`` -> ``fx_get_in_task_fan_out_input``.
   ``celery_worker_fixture_module(rule, case, kind)`` computes that name.

Fixture files are plain Celery code: ``from celery import shared_task`` + ``@shared_task``,
or ``from celery_fixture_app import app`` + ``@app.task``; they must not build their
own ``Celery()`` app.  Task names are ``<module name>.<function>``, so a case's input and
expected versions never collide: ``env.task("fx_get_in_task_fan_out_input.report")``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:  # works with any --import-mode / tests package layout
    sys.path.insert(0, str(_TESTS_DIR))

import celery_worker  # noqa: E402

WORKER_MARKER = "celerymod-test: worker"
_WORKER_MARKER_RE = re.compile(r"#\s*celerymod-test:\s*worker\b")
WORKER_CASES_DIR = _TESTS_DIR / "worker_cases"
FIXTURES_DIR = _TESTS_DIR / "fixtures"
_FIXTURE_KINDS = ("input", "expected")


def _sanitize(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", text)


def celery_worker_fixture_module(rule: str, case: str, kind: str) -> str:
    """Module name of a worker fixture file: ``fx_<rule>_<case>_<input|expected>``."""
    if kind not in _FIXTURE_KINDS:
        raise ValueError(f"kind must be one of {_FIXTURE_KINDS}, not {kind!r}")
    return f"fx_{_sanitize(rule)}_{_sanitize(case)}_{kind}"


def _has_worker_marker(path: Path, lines: int = 5) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for _, line in zip(range(lines), fh):
                if _WORKER_MARKER_RE.search(line):
                    return True
    except OSError:
        return False
    return False


def worker_modules() -> list[tuple[str, Path]]:
    """Every (module_name, path) the worker session loads (see module docstring)."""
    found: list[tuple[str, Path]] = []
    if WORKER_CASES_DIR.is_dir():
        for path in sorted(WORKER_CASES_DIR.rglob("*.py")):
            if path.name == "__init__.py" or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(WORKER_CASES_DIR).with_suffix("")
            found.append(("wc_" + _sanitize("_".join(rel.parts)), path))
    if FIXTURES_DIR.is_dir():
        for kind in _FIXTURE_KINDS:
            suffix = f".{kind}.py"
            for path in sorted(FIXTURES_DIR.glob(f"*/*{suffix}")):
                if _has_worker_marker(path):
                    case = path.name[: -len(suffix)]
                    found.append((celery_worker_fixture_module(path.parent.name, case, kind), path))
    seen: dict[str, Path] = {}
    for name, path in found:
        if name in seen:
            raise pytest.UsageError(
                f"worker module name collision: {name!r} for {seen[name]} and {path}"
            )
        seen[name] = path
    return found


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "worker: needs the real Redis + prefork Celery worker (celery_worker_env)"
    )
    # Celery's Redis backend calls setex, deprecated in redis-py 8 (DESIGN section 6).
    config.addinivalue_line("filterwarnings", celery_worker.SETEX_WARNING_FILTER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "celery_worker_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)


@pytest.fixture(scope="session")
def celery_worker_env():
    """Redis + Celery app + prefork worker, shared by the whole session."""
    session = celery_worker.WorkerSession(worker_modules(), concurrency=2)
    try:
        session.start()
    except celery_worker.HarnessUnavailable as exc:
        reason = f"real Celery worker unavailable: {exc}"
        if _on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield session
    finally:
        session.stop()


# ------------------------------------------------------- end of worker harness


# ---------------------------------------------------------------------------
# Folder fixture cases in the real worker (section owned by the folder cases,
# CEL002; independent of the harness section above, which it only relies on
# to start the worker after this has run).
# ---------------------------------------------------------------------------
#
# A folder case (``tests/fixtures/<rule>/<case>/input/<tree>``, contract in
# ``fixture_cases.py``) with the marker ``# celerymod-test: worker`` in the first
# five lines of one of its input files is loaded into the worker twice: its input
# tree, and its input tree overlaid with ``expected/``. Each top-level package of
# the tree is copied to a session temporary folder under a distinct name,
# ``celery_worker_folder_package(rule, case, kind)`` =
# ``fx_<rule>_<case>_<input|expected>`` (with ``_<package>`` appended when a tree
# has several top-level packages), absolute imports of it (``from shop.x import``,
# ``import shop.x``) are rewritten to that name, the folder goes on ``sys.path``,
# and every module of the package is imported, once collection is finished and
# only when some collected test uses ``celery_worker_env``: always before the
# worker starts (and forks its pool). Task names follow the modules:
# ``fx_nested_task_call_same_module_expected.tasks.total``.

import atexit  # noqa: E402
import importlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

_FOLDER_PACKAGES: dict[tuple[str, str, str], str] = {}


def celery_worker_folder_package(rule: str, case: str, kind: str, package: str = "") -> str:
    """The package name a folder case's tree is loaded under in the worker."""
    base = celery_worker_fixture_module(rule, case, kind)
    return f"{base}_{_sanitize(package)}" if package else base


def _folder_cases_for_worker() -> list[tuple[str, str, Path]]:
    found = []
    for root in sorted(FIXTURES_DIR.glob("*/*/input")):
        case_dir = root.parent
        if any(_has_worker_marker(path) for path in sorted(root.rglob("*.py"))):
            found.append((case_dir.parent.name, case_dir.name, case_dir))
    return found


def _copy_folder_tree(case_dir: Path, kind: str, rule: str, case: str, target: Path) -> list[str]:
    source = case_dir / "input"
    packages = sorted(p.name for p in source.iterdir() if (p / "__init__.py").is_file())
    names = {
        package: celery_worker_folder_package(rule, case, kind, package if len(packages) > 1 else "")
        for package in packages
    }
    for package, name in names.items():
        shutil.copytree(source / package, target / name)
        overlay = case_dir / "expected" / package
        if kind == "expected" and overlay.is_dir():
            shutil.copytree(overlay, target / name, dirs_exist_ok=True)
        for path in (target / name).rglob("*.py"):
            text = path.read_text("utf-8")
            for old, new in names.items():
                text = re.sub(rf"(?m)^(\s*(?:from|import)\s+){re.escape(old)}\b", rf"\g<1>{new}", text)
            path.write_text(text, "utf-8")
    return list(names.values())


def load_folder_cases_for_worker() -> dict[tuple[str, str, str], str]:
    """Copy and import every marked folder case (idempotent); returns
    ``{(rule, case, kind): package}``."""
    if _FOLDER_PACKAGES:
        return _FOLDER_PACKAGES
    cases = _folder_cases_for_worker()
    if not cases:
        return _FOLDER_PACKAGES
    target = Path(tempfile.mkdtemp(prefix="celerymod-folder-cases-"))
    atexit.register(shutil.rmtree, target, True)
    sys.path.insert(0, str(target))
    for rule, case, case_dir in cases:
        for kind in _FIXTURE_KINDS:
            packages = _copy_folder_tree(case_dir, kind, rule, case, target)
            for package in packages:
                for path in sorted((target / package).rglob("*.py")):
                    parts = path.relative_to(target).with_suffix("").parts
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    importlib.import_module(".".join(parts))
            _FOLDER_PACKAGES[(rule, case, kind)] = packages[0]
    return _FOLDER_PACKAGES


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("celery_worker_env" in getattr(item, "fixturenames", ()) for item in session.items):
        load_folder_cases_for_worker()


# ------------------------------------------------- end of folder cases in the worker


# ---------------------------------------------------------------------------
# Results cache: every `celerymod` the tests start shares one cache folder outside the
# projects they create, so "writes nothing" stays checkable and the cache is exercised by
# the whole suite (tests/test_cache.py sets its own folders).
# ---------------------------------------------------------------------------
os.environ.setdefault("CELERYMOD_CACHE_DIR", tempfile.mkdtemp(prefix="celerymod-test-cache-"))
