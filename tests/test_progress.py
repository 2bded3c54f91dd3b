"""The progress bar (issue 11): on a terminal, once a run has taken over a second, `check`
shows how many files are done; without a terminal (CI logs, pipes) it never does.

The run is made long by giving it real work, not by a hook: enough generated task modules
that each needs a full parse and analysis.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from cli_helpers import celerymod

FILES = 150
# rich's MofNCompleteColumn: "12/60" after the bar.
COUNTER = re.compile(rf"\b(\d+)/{FILES}\b")


@pytest.fixture(scope="module")
def slow_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FILES modules, each a task waiting on another task: every one is parsed and analysed."""
    root = tmp_path_factory.mktemp("progress")
    for i in range(FILES):
        (root / f"tasks_{i:03}.py").write_text(
            "from celery import shared_task\n\n\n"
            f"@shared_task\ndef child_{i}(x):\n    return x\n\n\n"
            f"@shared_task\ndef parent_{i}(x):\n    return child_{i}.delay(x).get()\n"
        )
    return root


def _spawn(project: Path) -> pexpect.spawn:
    # One process and no cache: the run cannot get short by luck. PYTHONPATH passes on, so
    # the code under test runs (not whichever celerymod the interpreter has installed).
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "NO_COLOR": "1"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return pexpect.spawn(
        sys.executable,
        ["-m", "celerymod", "check", "--no-cache", "-j", "1", "."],
        cwd=str(project),
        env=env,
        encoding="utf-8",
        timeout=600,
        dimensions=(50, 200),
    )


def test_a_long_run_on_a_terminal_shows_the_bar(slow_project: Path) -> None:
    started = time.monotonic()
    child = _spawn(slow_project)
    child.expect(pexpect.EOF)
    child.close()
    elapsed = time.monotonic() - started
    transcript = child.before
    assert child.exitstatus == 1  # The findings are there too.
    assert elapsed > 1.5, "the run was too short to test the bar"
    counts = [int(done) for done in COUNTER.findall(transcript)]
    assert counts, transcript[-2000:]
    assert "celerymod" in transcript and "━" in transcript  # The bar itself, not only counts.
    # Shown only after the first second, and it moved while the run went on.
    assert min(counts) > 0 and max(counts) > min(counts), counts
    assert f"Found {FILES} findings" in transcript


def test_without_a_terminal_no_bar_appears(slow_project: Path) -> None:
    started = time.monotonic()
    result = celerymod("check", "--no-cache", "-j", "1", ".", cwd=slow_project)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed > 1.5, "the run was too short for the bar to matter"
    assert not COUNTER.search(result.stderr + result.stdout)
    assert "━" not in result.stderr + result.stdout
    assert result.stderr.startswith(f"Found {FILES} findings"), result.stderr[:500]
