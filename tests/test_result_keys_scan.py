"""CEL007 beyond the fixtures: the fix's message, the prefilter, and the fixed fixtures run
against a real redis-server, where they return the same keys as the originals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from celerymod import engine
from celerymod.model import RunConfig
from celerymod.transforms.result_keys_scan import covers_results

_ONLY = RunConfig(select=frozenset({"CEL007"}), unsafe_fixes=True)
_FIXTURES = Path(__file__).parent / "fixtures" / "result-keys-scan"


def test_fix_message_names_the_shape_and_what_scan_changes() -> None:
    source = b'import redis\nr = redis.Redis()\nA = r.keys("celery-task-meta-*")\n'
    result = engine.process(source, "keys.py", _ONLY)
    [finding] = result.findings
    assert finding.fix is not None and finding.fix.safety.value == "review"
    assert finding.fix.message == (
        "Replace with `list(scan_iter(...))`: SCAN may return a key twice and may miss keys "
        "created or deleted during the scan"
    )


def test_a_file_that_never_says_celery_is_not_parsed() -> None:
    source = b'import redis\nr = redis.Redis()\nA = r.keys("session:*")\n'
    assert not engine.process(source, "keys.py", _ONLY).parsed


@pytest.mark.parametrize(
    ("pattern", "covered"),
    [
        ("celery-task-meta-*", True),
        ("celery-taskset-meta-*", True),
        ("*celery-task-meta-*", True),
        ("celery*", True),
        ("celery-task*", True),
        ("celery", False),  # one exact key: the default queue
        ("celery-task-meta-abc", True),
        ("cel*", False),
        ("*", False),
        ("celeryx*", False),
        ("_kombu.binding.*", False),
    ],
)
def test_patterns_that_cover_the_result_keys(pattern: str, covered: bool) -> None:
    assert covers_results(pattern) is covered


@pytest.fixture(scope="module")
def redis_client() -> Iterator[object]:
    import celery_worker
    import redis

    server = celery_worker.RedisServer()
    try:
        server.start()
    except celery_worker.HarnessUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        yield redis.Redis.from_url(server.url)
    finally:
        server.stop()


def _load(path: Path, **client: object) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text("utf-8"), str(path), "exec"), namespace)  # noqa: S102 (fixture code)
    namespace.update(client)  # the functions read the module's client at call time
    return namespace


def _seed(r: object) -> None:
    r.flushdb()  # type: ignore[attr-defined]
    for i in range(1500):  # more than one SCAN step of `count=1000`
        r.set(f"celery-task-meta-{i}", "{}")  # type: ignore[attr-defined]
    for i in range(20):
        r.set(f"celery-taskset-meta-{i}", "{}")  # type: ignore[attr-defined]
    r.set("session:1", "x")  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", ["client_from_url", "iterated_shapes"])
def test_fixed_functions_return_what_the_originals_did(case: str, redis_client: object) -> None:
    before = _load(_FIXTURES / f"{case}.input.py", r=redis_client, client=redis_client)
    after = _load(_FIXTURES / f"{case}.expected.py", r=redis_client, client=redis_client)
    # The module's own functions (not the imported classes).
    names = [n for n in before if n in after and hasattr(before[n], "__code__")]
    assert names
    for name in names:
        _seed(redis_client)
        old = before[name]()  # type: ignore[operator]
        left = sorted(redis_client.keys("*"))  # type: ignore[attr-defined]
        _seed(redis_client)
        new = after[name]()  # type: ignore[operator]
        # Without writes during the scan, SCAN returns each key once: same values.
        if isinstance(old, list) and isinstance(new, list):
            old, new = sorted(old), sorted(new)
        assert new == old, name
        assert sorted(redis_client.keys("*")) == left, name  # the same keys deleted
