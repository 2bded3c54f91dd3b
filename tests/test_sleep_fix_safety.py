"""CEL003's fix inside a plain `with` is review, and why: run, the rewrite can deadlock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli_helpers import SLEEP_FIXTURES, celerymod

CASE = "sleep_inside_with_block_is_review"


def _run(path: Path, timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run a module as a script; None when it did not finish in time (a deadlock)."""
    try:
        return subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None


def test_safe_fixes_leave_a_sleep_under_a_threading_lock(tmp_path: Path) -> None:
    target = tmp_path / "locks.py"
    target.write_bytes((SLEEP_FIXTURES / f"{CASE}.input.py").read_bytes())
    written = celerymod("fix", "--write", "--no-cache", "--select", "CEL003", str(target))
    assert written.returncode == 0, written.stderr
    text = target.read_text()
    # `async with asyncio.Lock()` is fixed; `with threading.Lock()` is left for review.
    assert text.count("await asyncio.sleep(0.01)") == 1
    assert text.count("time.sleep(0.01)") == 1
    assert "1 review fix" in written.stderr
    shown = celerymod("fix", "--no-cache", "--select", "CEL003", str(target))
    assert "CEL003 fix [review]" in shown.stdout
    assert "the coroutine now pauses inside `with _state_lock:`" in shown.stdout


def test_the_review_rewrite_deadlocks_where_the_original_finished(tmp_path: Path) -> None:
    original = tmp_path / "original.py"
    original.write_bytes((SLEEP_FIXTURES / f"{CASE}.input.py").read_bytes())
    rewritten = tmp_path / "rewritten.py"
    rewritten.write_bytes((SLEEP_FIXTURES / f"{CASE}.expected.py").read_bytes())
    before = _run(original, timeout=60)
    assert before is not None and before.returncode == 0, before
    assert before.stdout.strip() == "4"
    # Two coroutines share one thread: the second blocks the loop on the lock the first
    # holds while it awaits, and the first can never resume to release it.
    assert _run(rewritten, timeout=5) is None
