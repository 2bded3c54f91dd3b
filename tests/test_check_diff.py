"""`check --diff`: the diff is printed *and* the exit code stays check's own (1 / 2).

ruff's `--diff` exits 0 when a file cannot be parsed; here an error always wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import celerymod

SLEEPY = b"import time\n\n\nasync def poll():\n    time.sleep(1)\n"
UNFIXABLE = b"import time\n\n\nasync def poll():\n    return list(time.sleep(i) for i in (1, 2))\n"
# Contains the rule's byte pattern, so it is parsed (and fails to parse).
BROKEN = b"import time\n\nasync def broken(:\n    time.sleep(1)\n"
CLEAN = b"import asyncio\n\n\nasync def poll():\n    await asyncio.sleep(1)\n"


def _write(folder: Path, **files: bytes) -> None:
    for name, data in files.items():
        (folder / f"{name}.py").write_bytes(data)


def test_findings_exit_1_with_the_diff(tmp_path: Path) -> None:
    _write(tmp_path, sleepy=SLEEPY)
    result = celerymod("check", "--diff", ".", cwd=tmp_path)
    assert result.returncode == 1, result
    assert "sleepy.py:5:5: CEL003 [*]" in result.stdout
    assert "--- a/sleepy.py\n+++ b/sleepy.py\n" in result.stdout
    assert "+    await asyncio.sleep(1)\n" in result.stdout
    assert (tmp_path / "sleepy.py").read_bytes() == SLEEPY  # --diff never writes.


def test_unparseable_file_exits_2_and_the_rest_is_still_diffed(tmp_path: Path) -> None:
    _write(tmp_path, sleepy=SLEEPY, broken=BROKEN)
    result = celerymod("check", "--diff", ".", cwd=tmp_path)
    assert result.returncode == 2, result
    assert "+    await asyncio.sleep(1)\n" in result.stdout
    assert "error: broken.py: syntax error" in result.stderr
    assert "All checks passed" not in result.stderr


def test_unparseable_file_alone_exits_2(tmp_path: Path) -> None:
    _write(tmp_path, broken=BROKEN)
    result = celerymod("check", "--diff", "broken.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""


def test_unfixable_finding_exits_1_without_a_diff(tmp_path: Path) -> None:
    _write(tmp_path, unfixable=UNFIXABLE)
    result = celerymod("check", "--diff", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "CEL003" in result.stdout
    assert "---" not in result.stdout


def test_clean_exits_0_without_a_diff(tmp_path: Path) -> None:
    _write(tmp_path, clean=CLEAN)
    result = celerymod("check", "--diff", ".", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_diff_from_stdin_keeps_the_exit_code(tmp_path: Path, quiet: list[str]) -> None:
    result = celerymod(
        "check", "--diff", *quiet, "-", "--stdin-filename", "t.py", cwd=tmp_path, stdin=SLEEPY
    )
    assert result.returncode == 1
    assert "--- a/t.py\n" in result.stdout
    broken = celerymod("check", "--diff", *quiet, "-", cwd=tmp_path, stdin=BROKEN)
    assert broken.returncode == 2
