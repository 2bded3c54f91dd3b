"""`celerymod fix --interactive` driven through a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pexpect
import pytest
from cli_helpers import cache_env

PROMPT = r"Apply this change\? \[y,n,a,d,q,\?\] "

A = b"import time\n\n\nasync def first():\n    time.sleep(1)\n\n\nasync def second():\n    time.sleep(2)\n"
A_FIRST_ONLY = (
    b"import asyncio\nimport time\n\n\nasync def first():\n    await asyncio.sleep(1)\n\n\n"
    b"async def second():\n    time.sleep(2)\n"
)
A_SECOND_ONLY = (
    b"import asyncio\nimport time\n\n\nasync def first():\n    time.sleep(1)\n\n\n"
    b"async def second():\n    await asyncio.sleep(2)\n"
)
A_BOTH = (
    b"import asyncio\n\n\nasync def first():\n    await asyncio.sleep(1)\n\n\n"
    b"async def second():\n    await asyncio.sleep(2)\n"
)
B = b"import time\n\n\nasync def third():\n    time.sleep(3)\n"
B_FIXED = b"import asyncio\n\n\nasync def third():\n    await asyncio.sleep(3)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_bytes(A)
    (tmp_path / "b.py").write_bytes(B)
    return tmp_path


def _spawn(project: Path) -> pexpect.spawn:
    """`celerymod fix -i .` in a real pseudo-terminal."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "celerymod", "fix", "-i", "."],
        cwd=str(project),
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "NO_COLOR": "1", **cache_env()},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )


def _session(project: Path, answers: list[str]) -> tuple[str, int]:
    """Answer each prompt in turn; return the transcript and the exit status."""
    child = _spawn(project)
    transcript = io.StringIO()
    child.logfile_read = transcript
    for answer in answers:
        child.expect(PROMPT)
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    return transcript.getvalue(), child.exitstatus if child.exitstatus is not None else -1


def test_y_n_then_y_applies_exactly_the_accepted_changes(project: Path) -> None:
    transcript, status = _session(project, ["y", "n", "y"])
    assert status == 0
    assert "Applied 2 of 3 changes in 2 files." in transcript
    assert (project / "a.py").read_bytes() == A_FIRST_ONLY
    assert (project / "b.py").read_bytes() == B_FIXED


def test_n_then_y_applies_only_the_second(project: Path) -> None:
    _, status = _session(project, ["n", "y", "n"])
    assert status == 0
    assert (project / "a.py").read_bytes() == A_SECOND_ONLY
    assert (project / "b.py").read_bytes() == B


def test_a_applies_this_and_all_the_rest(project: Path) -> None:
    _, status = _session(project, ["a"])  # No further prompt: the rest is applied.
    assert status == 0
    assert (project / "a.py").read_bytes() == A_BOTH
    assert (project / "b.py").read_bytes() == B_FIXED


def test_d_skips_the_rest_of_the_file(project: Path) -> None:
    _, status = _session(project, ["d", "y"])
    assert status == 0
    assert (project / "a.py").read_bytes() == A
    assert (project / "b.py").read_bytes() == B_FIXED


def test_q_stops_and_keeps_what_was_accepted(project: Path) -> None:
    _, status = _session(project, ["y", "q"])
    assert status == 0
    assert (project / "a.py").read_bytes() == A_FIRST_ONLY
    assert (project / "b.py").read_bytes() == B


def test_question_mark_shows_help_and_asks_again(project: Path) -> None:
    transcript, status = _session(project, ["?", "n", "n", "n"])
    assert status == 0
    assert "a - apply this change and all the rest of the safe ones (review fixes are still asked)" in transcript
    assert len(transcript.split("Apply this change?")) == 5  # Asked again after the help.
    assert "Applied 0 of 3 changes." in transcript
    assert (project / "a.py").read_bytes() == A
    assert (project / "b.py").read_bytes() == B


def test_each_prompt_shows_rule_message_and_only_its_change(project: Path) -> None:
    child = _spawn(project)
    child.expect(PROMPT)
    first = child.before
    child.sendline("y")
    child.expect(PROMPT)
    second = child.before
    child.sendline("q")
    child.expect(pexpect.EOF)
    assert "a.py:5:5 CEL003 blocking-sleep-in-async" in first
    assert "`time.sleep` blocks the event loop inside `async def first`" in first
    assert "+    await asyncio.sleep(1)" in first and "asyncio.sleep(2)" not in first
    # The second diff is relative to the first change: `import asyncio` is already there.
    assert "+    await asyncio.sleep(2)" in second
    assert "+import asyncio" not in second
    assert "-import time" in second  # Now unused, so this change removes it.


def test_ctrl_c_at_a_prompt_writes_nothing_says_so_and_exits_130(project: Path) -> None:
    child = _spawn(project)
    transcript = io.StringIO()
    child.logfile_read = transcript
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(PROMPT)
    child.sendintr()  # Ctrl-C, through the terminal's line discipline
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, transcript.getvalue()
    assert "Interrupted: nothing was written (the 1 accepted so far are discarded)." in (
        transcript.getvalue()
    )
    assert "Traceback" not in transcript.getvalue()
    assert (project / "a.py").read_bytes() == A
    assert (project / "b.py").read_bytes() == B
