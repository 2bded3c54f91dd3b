"""`-` as the path: editors pipe a buffer in and read findings, or the fixed source, back out.

`fix -` prints the whole fixed source (or the input, unchanged) and must be byte-exact: an
editor replaces its buffer with what comes out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import celerymod

SLEEPY = (
    b"import time\n\n\nasync def poll(result):\n"
    b"    while not result.ready():\n        time.sleep(0.5)\n"
)
SLEEPY_FIXED = (
    b"import asyncio\n\n\nasync def poll(result):\n"
    b"    while not result.ready():\n        await asyncio.sleep(0.5)\n"
)


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _run_bytes(*args: str, stdin: bytes, cwd: Path) -> tuple[int, bytes, str]:
    """Like cli_helpers.celerymod, but keeps stdout as bytes (the round trip is byte-exact)."""
    completed = subprocess.run(
        [sys.executable, "-m", "celerymod", *args],
        check=False,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
    )
    return completed.returncode, completed.stdout, completed.stderr.decode("utf-8", "replace")


def test_check_reports_under_the_stdin_filename(tmp_path: Path) -> None:
    result = celerymod("check", "-", "--stdin-filename", "app/tasks.py", cwd=tmp_path, stdin=SLEEPY)
    assert result.returncode == 1
    assert result.stdout.startswith("app/tasks.py:6:9: CEL003 ")
    result = celerymod(
        "check",
        "--format",
        "json",
        "-",
        "--stdin-filename",
        "app/tasks.py",
        cwd=tmp_path,
        stdin=SLEEPY,
    )
    assert [f["path"] for f in json.loads(result.stdout)["findings"]] == ["app/tasks.py"]
    assert not (tmp_path / "app").exists()  # Named, never read or written.


def test_check_without_stdin_filename_reports_as_dash(tmp_path: Path) -> None:
    result = celerymod("check", "-", cwd=tmp_path, stdin=SLEEPY)
    assert result.returncode == 1
    assert result.stdout.startswith("-:6:9: CEL003 ")


def test_check_stdin_clean_and_broken(tmp_path: Path) -> None:
    assert celerymod("check", "-", cwd=tmp_path, stdin=SLEEPY_FIXED).returncode == 0
    broken = celerymod(
        "check",
        "-",
        "--stdin-filename",
        "x.py",
        cwd=tmp_path,
        stdin=b"import time\nasync def (:\n    time.sleep(1)\n",
    )
    assert broken.returncode == 2
    assert "x.py: syntax error" in broken.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SLEEPY, SLEEPY_FIXED),
        (_crlf(SLEEPY), _crlf(SLEEPY_FIXED)),
        (b"\xef\xbb\xbf" + _crlf(SLEEPY), b"\xef\xbb\xbf" + _crlf(SLEEPY_FIXED)),
        # No newline at the end of the file, and a Latin-1 file: kept as they are.
        (SLEEPY.rstrip(b"\n"), SLEEPY_FIXED.rstrip(b"\n")),
        (
            b"# -*- coding: latin-1 -*-\n" + SLEEPY.replace(b"(0.5)", b"(0.5)  # caf\xe9"),
            b"# -*- coding: latin-1 -*-\n" + SLEEPY_FIXED.replace(b"(0.5)", b"(0.5)  # caf\xe9"),
        ),
    ],
    ids=["lf", "crlf", "bom-crlf", "no-final-newline", "latin-1"],
)
def test_fix_stdin_prints_the_fixed_source_byte_exact(
    tmp_path: Path, source: bytes, expected: bytes
) -> None:
    code, out, err = _run_bytes("fix", "-", "--stdin-filename", "x.py", stdin=source, cwd=tmp_path)
    assert code == 0, err
    assert out == expected
    # Round trip: the output is a fixpoint, and check agrees.
    code, again, _ = _run_bytes("fix", "-", "--stdin-filename", "x.py", stdin=out, cwd=tmp_path)
    assert (code, again) == (0, out)
    code, _, _ = _run_bytes("check", "-", "--stdin-filename", "x.py", stdin=out, cwd=tmp_path)
    assert code == 0
    assert list(tmp_path.iterdir()) == []  # Nothing written anywhere.


@pytest.mark.parametrize(
    "source",
    [
        SLEEPY_FIXED,
        _crlf(SLEEPY_FIXED),
        b"",
        b"x = 1",
        # Unfixable: a sleep inside a generator expression is reported, not rewritten.
        b"import time\r\n\r\nasync def f():\r\n    return list(time.sleep(i) for i in (1, 2))\r\n",
    ],
    ids=["clean", "clean-crlf", "empty", "no-newline", "unfixable-crlf"],
)
def test_fix_stdin_gives_back_the_input_when_there_is_nothing_to_fix(
    tmp_path: Path, source: bytes
) -> None:
    code, out, err = _run_bytes("fix", "-", stdin=source, cwd=tmp_path)
    assert code == 0, err
    assert out == source


def test_fix_stdin_with_a_syntax_error_gives_back_the_input_and_exits_2(tmp_path: Path) -> None:
    source = b"import time\r\nasync def (:\r\n    time.sleep(1)\r\n"
    code, out, err = _run_bytes("fix", "-", "--stdin-filename", "x.py", stdin=source, cwd=tmp_path)
    assert code == 2
    assert out == source  # An editor that replaces its buffer loses nothing.
    assert "x.py: syntax error" in err


@pytest.mark.parametrize("flag", ["--write", "--interactive"])
def test_fix_stdin_refuses_write_and_interactive(tmp_path: Path, flag: str) -> None:
    result = celerymod("fix", flag, "-", cwd=tmp_path, stdin=SLEEPY)
    assert result.returncode == 2
    assert result.stdout == ""
