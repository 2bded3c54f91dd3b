"""CEL006 beyond the fixtures: no double report with CEL001, the `result-timeout` setting,
and the fix's effect on a real Redis backend with no worker running."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import celerymod

from celerymod import config, engine
from celerymod.model import RunConfig

_BOTH = RunConfig(select=frozenset({"CEL001", "CEL006"}), result_timeout=30.0)
_FIXTURES = Path(__file__).parent / "fixtures" / "unbounded-result-wait"

_MIXED = b"""from celery import shared_task

from shop.tasks import render


@shared_task
def orchestrate(x):
    return render.delay(x).get()


def view(request, x):
    return render.delay(x).get()
"""


def test_waits_in_tasks_are_cel001s_and_the_rest_cel006s() -> None:
    result = engine.process(_MIXED, "views.py", _BOTH)
    assert [(f.code, f.span.line) for f in result.findings] == [("CEL001", 8), ("CEL006", 12)]
    inside = (_FIXTURES / "inside_tasks_left_to_cel001.input.py").read_bytes()
    codes = {f.code for f in engine.process(inside, "tasks.py", _BOTH).findings}
    assert codes == {"CEL001"}


def test_cel006_is_opt_in_on_the_command_line(tmp_path: Path) -> None:
    """Not run by default (it reports every view and test that waits, and looks at every
    function); `--extend-select CEL006`, `ALL` or the config turn it on."""
    (tmp_path / "views.py").write_bytes(_MIXED)
    default = celerymod("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    codes = sorted(f["code"] for f in json.loads(default.stdout)["findings"])
    assert codes == ["CEL001"], default.stdout
    for extra in (["--extend-select", "CEL006"], ["--select", "ALL"]):
        chosen = celerymod(
            "check", "--no-cache", "--output-format", "json", *extra, ".", cwd=tmp_path
        )
        found = sorted(f["code"] for f in json.loads(chosen.stdout)["findings"])
        assert found == ["CEL001", "CEL006"], (extra, chosen.stdout)
    (tmp_path / "pyproject.toml").write_text('[tool.celerymod]\nextend-select = ["CEL006"]\n')
    configured = celerymod("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    found = sorted(f["code"] for f in json.loads(configured.stdout)["findings"])
    assert found == ["CEL001", "CEL006"], configured.stdout


def test_the_fix_message_names_the_timeout_and_what_it_changes() -> None:
    only = RunConfig(select=frozenset({"CEL006"}), result_timeout=30.0)
    result = engine.process(_MIXED, "views.py", only)
    [finding] = result.findings
    assert finding.fix is not None and finding.fix.safety.value == "review"
    assert finding.fix.message.startswith("Add `timeout=30` (`result-timeout`): the wait raises")
    unset = engine.process(_MIXED, "views.py", RunConfig(select=frozenset({"CEL006"})))
    assert unset.findings[0].fix is None
    assert "result-timeout" in unset.findings[0].help


def test_a_file_with_no_dispatch_or_result_is_not_parsed() -> None:
    source = b"def view(request):\n    return request.GET.get('x')\n"
    assert not engine.process(source, "views.py", RunConfig(select=frozenset({"CEL006"}))).parsed


def test_result_timeout_is_read_validated_and_shown(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.celerymod]\nresult-timeout = 45\n")
    assert config.load([str(tmp_path)], config.Options()).result_timeout == 45.0
    shown = celerymod("check", "--show-settings", ".", cwd=tmp_path)
    assert shown.returncode == 0, shown
    line = next(x for x in shown.stdout.splitlines() if x.startswith("result-timeout"))
    assert "= 45" in line and "`result-timeout` in" in line
    for bad in ("0", "-1", '"30"', "true"):
        pyproject.write_text(f"[tool.celerymod]\nresult-timeout = {bad}\n")
        with pytest.raises(config.ConfigError, match="result-timeout"):
            config.load([str(tmp_path)], config.Options())
    pyproject.write_text("[tool.celerymod]\n")
    unset = celerymod("check", "--show-settings", ".", cwd=tmp_path).stdout
    assert "none (CEL006 only reports)" in unset


# -- the fix on a real Redis backend with no worker: before blocks, after raises ----------

_VIEW = b"""from celery.result import AsyncResult


def status(app, task_id):
    return AsyncResult(task_id, app=app).get()
"""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    import celery_worker

    server = celery_worker.RedisServer()
    try:
        server.start()
    except celery_worker.HarnessUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


def _function(source: bytes) -> object:
    namespace: dict[str, object] = {}
    exec(compile(source, "views.py", "exec"), namespace)  # noqa: S102 (fixture code)
    return namespace["status"]


def test_fixed_wait_raises_timeout_where_the_original_blocks(redis_url: str) -> None:
    from celery import Celery
    from celery.exceptions import TimeoutError as CeleryTimeout

    only = RunConfig(select=frozenset({"CEL006"}), result_timeout=0.5, unsafe_fixes=True)
    fixed = engine.process(_VIEW, "views.py", only)
    assert fixed.new_source is not None and b".get(timeout=0.5)" in fixed.new_source
    app = Celery("cel006_proof", broker=redis_url, backend=redis_url, set_as_current=False)
    task_id = "never-run-by-any-worker"

    before = _function(_VIEW)
    finished = threading.Event()

    def wait() -> None:
        before(app, task_id)  # type: ignore[operator]
        finished.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(2)
    assert thread.is_alive() and not finished.is_set()  # still waiting, with no end in sight

    after = _function(fixed.new_source)
    started = time.monotonic()
    with pytest.raises(CeleryTimeout):
        after(app, task_id)  # type: ignore[operator]
    assert time.monotonic() - started < 5
