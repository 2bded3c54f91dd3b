"""Reliability (issue 12): writes that are all or nothing, files that crash or exhaust the
parser, discovery oddities, and messages that say what happened. Through the real command
where it applies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from celerymod import textio, writes
from cli_helpers import FIXTURES, celerymod, copy_case, expected

TWO_FILES = FIXTURES / "nested-task-call" / "absolute_import"


def _two_file_project(folder: Path) -> Path:
    shutil.copytree(TWO_FILES / "input", folder, dirs_exist_ok=True)
    return folder


# -- 1. a change spanning two files is written whole or not at all --------------------------


def test_a_two_file_fix_is_not_written_half_when_the_second_file_is_read_only(
    tmp_path: Path,
) -> None:
    project = _two_file_project(tmp_path)
    batch, scoring = project / "shop" / "batch.py", project / "shop" / "scoring.py"
    before = batch.read_bytes(), scoring.read_bytes()
    scoring.chmod(0o444)

    result = celerymod("fix", "--write", "--no-cache", ".", cwd=project)

    assert result.returncode == 2
    assert (batch.read_bytes(), scoring.read_bytes()) == before
    assert "shop/scoring.py: not written: read-only" in result.stderr
    assert "shop/batch.py: not written" in result.stderr
    assert "shop/scoring.py" in result.stderr.split("shop/batch.py: not written", 1)[1]
    assert "Applied" not in result.stderr  # Not "Applied 1 fix in 0 files."
    assert "2 files with fixes could not be written (see errors above); no fix was applied." in result.stderr


def test_a_later_write_that_fails_restores_the_earlier_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_bytes(b"a = 1\n")
    second.write_bytes(b"b = 1\n")
    real_replace = os.replace
    calls: list[str] = []

    def fail_second(source: str, target: str) -> None:
        calls.append(target)
        if target == str(second):
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(writes.os, "replace", fail_second)
    outcome = writes.write_together(
        [
            writes.WriteItem("a.py", str(first), b"a = 2\n", textio.source_hash(b"a = 1\n")),
            writes.WriteItem("b.py", str(second), b"b = 2\n", textio.source_hash(b"b = 1\n")),
        ]
    )
    assert first.read_bytes() == b"a = 1\n"
    assert second.read_bytes() == b"b = 1\n"
    assert outcome.written == ()
    messages = {error.path: error.message for error in outcome.errors}
    assert "No space left on device" in messages["b.py"]
    assert "restored" in messages["a.py"] and "b.py" in messages["a.py"]
    assert not list(tmp_path.glob(".celerymod-*"))


_KILL_BETWEEN_WRITES = """
import os, signal, sys
from celerymod import textio, writes
real = os.replace
def replace_then_die(source, target):
    real(source, target)
    os.kill(os.getpid(), signal.SIGTERM)  # A kill right after the first file is renamed.
writes.os.replace = replace_then_die
items = [
    writes.WriteItem(p, p, b"new = 1\\n", textio.source_hash(open(p, "rb").read()))
    for p in sys.argv[1:]
]
writes.write_together(items)
"""


def test_a_kill_between_the_writes_of_one_change_does_not_leave_it_half(tmp_path: Path) -> None:
    paths = [tmp_path / "a.py", tmp_path / "b.py"]
    for path in paths:
        path.write_bytes(b"old = 1\n")
    completed = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN_WRITES, *map(str, paths)],
        capture_output=True,
        timeout=60,
    )
    assert completed.returncode == -signal.SIGTERM
    assert [p.read_bytes() for p in paths] == [b"new = 1\n", b"new = 1\n"]


# -- 2, 3, 5. files the parser cannot take: each is its own error, the run goes on ---------

# Each mentions what CEL003 looks for, so that the prefilter lets it reach the parser.
PARSED = "import time\n\n\nasync def f():\n    time.sleep(1)\n\n\n"
LONG_OR = PARSED + "x = " + " or ".join(f"a{i}" for i in range(10_000)) + "\n"
DEEP = {
    "plus.py": "x = " + " + ".join(f"a{i}" for i in range(500)) + "\n",
    "elifs.py": "if a0:\n    pass\n" + "".join(f"elif a{i}:\n    pass\n" for i in range(1, 1000)),
    "chain.py": "x = a" + ".b" * 1000 + "\n",
    "lists.py": "x = " + "[" * 150 + "]" * 150 + "\n",
}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_that_crashed_the_native_parser_is_its_own_error_and_the_run_goes_on(
    tmp_path: Path, jobs: str
) -> None:
    (tmp_path / "generated.py").write_text(LONG_OR)
    for number in range(8):  # Enough files for the process pool with --jobs 2.
        copy_case("import_time_attribute", tmp_path, f"poller{number}.py")

    result = celerymod("check", "--no-cache", "--jobs", jobs, ".", cwd=tmp_path)

    # It no longer kills the run (a segfault before): it is its own clear error, the other
    # files are checked.
    assert result.returncode == 2, result.stderr
    assert "generated.py: too deeply nested for celerymod's parser" in result.stderr
    assert result.stdout.count("CEL003") == 8
    assert "Traceback" not in result.stderr and "BrokenProcessPool" not in result.stderr


def test_deeply_nested_valid_code_is_checked_not_a_traceback(tmp_path: Path) -> None:
    for name, text in DEEP.items():
        (tmp_path / name).write_text(PARSED + text)
    copy_case("import_time_attribute", tmp_path, "poller.py")

    result = celerymod("fix", "--write", "--no-cache", "--jobs", "1", ".", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert f"Applied {len(DEEP) + 1} fixes in {len(DEEP) + 1} files." in result.stderr


def test_valid_code_libcst_cannot_parse_is_not_called_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "strings.py").write_text("x = (" + " ".join('"s"' for _ in range(3001)) + ")\n")
    (tmp_path / "backslash_cr.py").write_bytes(b"x = 1 \\\r\n")
    for path in tmp_path.iterdir():
        compile(path.read_bytes(), str(path), "exec")  # Both are valid Python.
    # A task that waits, so that the files are parsed at all.
    for path in tmp_path.iterdir():
        path.write_bytes(PARSED.encode() + path.read_bytes())

    result = celerymod("check", "--no-cache", ".", cwd=tmp_path)

    assert result.returncode == 2
    assert "syntax error" not in result.stderr
    assert result.stderr.count("celerymod's parser cannot read this file") == 2, result.stderr


# -- 4. discovery: loops, FIFOs, patterns pathspec rejects --------------------------------


def test_a_symlink_loop_a_fifo_and_bad_patterns_are_clear_errors_not_crashes(
    tmp_path: Path,
) -> None:
    copy_case("import_time_attribute", tmp_path, "poller.py")
    os.symlink("loop.py", tmp_path / "loop.py")
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / ".gitignore").write_text("[z-a]\nfoo\\\n")

    result = celerymod("check", "--no-cache", "--exclude", "[z-a]", ".", cwd=tmp_path)

    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stdout.count("CEL003") == 1
    assert "loop.py: cannot read: symbolic link loop" in result.stderr
    assert "broken" not in result.stderr
    assert "pipe.py: skipped: not a regular file or folder" in result.stderr
    assert "exclude: pattern '[z-a]' ignored" in result.stderr
    assert ".gitignore: pattern 'foo\\\\' ignored" in result.stderr


def test_a_named_symlink_loop_is_called_a_loop(tmp_path: Path) -> None:
    os.symlink("x.py", tmp_path / "x.py")
    result = celerymod("check", "--no-cache", "x.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "x.py: cannot read: symbolic link loop" in result.stderr


# -- 6. messages that say what happened --------------------------------------------------


def test_invalid_utf8_is_called_invalid_utf8_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"import time\nname = '\xe9t\xe9'\nasync def f():\n    time.sleep(1)\n")
    result = celerymod("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "latin.py: not valid UTF-8: byte 0xe9 at offset 20 (line 2)" in result.stderr
    assert "encoding declaration" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("select = []", "selects no rule"),
        ('select = [""]', "selects no rule"),
        ('strategy = ""', "must be one of metadata, replace, not ''"),
    ],
)
def test_a_config_that_would_check_nothing_or_is_empty_is_an_error(
    tmp_path: Path, setting: str, said: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.celerymod]\n{setting}\n")
    copy_case("import_time_attribute", tmp_path, "poller.py")
    result = celerymod("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "All checks passed" not in result.stderr


# -- messages: excludes that leave nothing to check -------------------------------------------


@pytest.mark.parametrize(
    ("config", "args"),
    [
        ('exclude = ["*"]', []),
        ('extend-exclude = ["*.py"]', []),
        ("", ["--exclude", "*"]),
    ],
)
@pytest.mark.parametrize("command", ["check", "fix"])
def test_excluding_every_file_warns_that_nothing_was_checked(
    tmp_path: Path, config: str, args: list[str], command: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.celerymod]\n{config}\n")
    copy_case("import_time_attribute", tmp_path, "poller.py")
    (tmp_path / "pkg").mkdir()
    copy_case("import_time_attribute", tmp_path / "pkg", "more.py")
    result = celerymod(command, "--no-cache", *args, ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: nothing was checked: exclude patterns or .gitignore leave out every Python "
        "file in . (2 files)." in result.stderr
    )
    assert "All checks passed" not in result.stderr
    assert result.stdout == ""


def test_excluding_every_file_warns_beside_a_valid_json_document(tmp_path: Path) -> None:
    copy_case("import_time_attribute", tmp_path, "poller.py")
    result = celerymod("check", "--no-cache", "--format", "json", "--exclude", "*", ".", cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["summary"]["files"] == 0
    assert "nothing was checked" in result.stderr


def test_gitignore_that_ignores_everything_warns_too(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("*.py\n")
    copy_case("import_time_attribute", tmp_path, "poller.py")
    result = celerymod("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 0
    assert "leave out every Python file in . (1 file)." in result.stderr


# -- temp files: an interrupted or failed write leaves none behind ---------------------------

TEMPS = f"{writes.TEMP_PREFIX}*{writes.TEMP_SUFFIX}"


@pytest.mark.parametrize("where", ["fsync", "chmod", "replace"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: BaseException
) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(b"a = 1\n")

    def fail(*args: object, **kwargs: object) -> None:
        assert list(tmp_path.glob(TEMPS)), "the temp file exists at this point"
        raise error

    monkeypatch.setattr(writes.os, where, fail)
    if isinstance(error, OSError):
        problem = writes.write_atomic(str(target), b"a = 2\n", textio.source_hash(b"a = 1\n"))
        assert problem is not None and "No space left on device" in problem
    else:
        with pytest.raises(KeyboardInterrupt):
            writes.write_atomic(str(target), b"a = 2\n", textio.source_hash(b"a = 1\n"))
    monkeypatch.undo()
    assert target.read_bytes() == b"a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_a_change_interrupted_while_its_second_file_is_prepared_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_bytes(b"a = 1\n")
    second.write_bytes(b"b = 1\n")
    real_fsync = os.fsync
    calls: list[int] = []

    def interrupt_second(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(writes.os, "fsync", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        writes.write_together(
            [
                writes.WriteItem("a.py", str(first), b"a = 2\n", textio.source_hash(b"a = 1\n")),
                writes.WriteItem("b.py", str(second), b"b = 2\n", textio.source_hash(b"b = 1\n")),
            ]
        )
    assert (first.read_bytes(), second.read_bytes()) == (b"a = 1\n", b"b = 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]


# A real Ctrl-C (SIGINT sent to the process) during the real `fix --write`, at the nth call
# of one step of the writes: right after a temp file is created, while it is synced, or just
# before it is renamed into place.
_SIGINT_DURING_WRITES = """
import os, signal, sys, tempfile
from celerymod import cli, writes
where, nth = sys.argv[1], int(sys.argv[2])
calls = []
def interrupt():
    calls.append(1)
    if len(calls) == nth:
        os.kill(os.getpid(), signal.SIGINT)
real_mkstemp, real_fsync, real_replace = tempfile.mkstemp, os.fsync, os.replace
def mkstemp(*args, **kwargs):
    made = real_mkstemp(*args, **kwargs)
    if where == "mkstemp":
        interrupt()
    return made
def fsync(fd):
    if where == "fsync":
        interrupt()
    real_fsync(fd)
def replace(source, target):
    if where == "replace":
        interrupt()
    real_replace(source, target)
writes.tempfile.mkstemp, writes.os.fsync, writes.os.replace = mkstemp, fsync, replace
sys.argv = ["celerymod", "fix", "--write", "--no-cache", "-j", "1", "."]
cli.main()
"""


@pytest.mark.parametrize("where", ["mkstemp", "fsync", "replace"])
def test_ctrl_c_during_fix_write_leaves_no_temp_file_and_says_what_was_written(
    tmp_path: Path, where: str
) -> None:
    for i in range(10):
        copy_case("import_time_attribute", tmp_path, f"poller_{i}.py")
    original = (tmp_path / "poller_0.py").read_bytes()
    completed = subprocess.run(
        [sys.executable, "-c", _SIGINT_DURING_WRITES, where, "4"],
        cwd=tmp_path,
        capture_output=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    stderr = completed.stderr.decode()
    assert completed.returncode == 130, stderr
    assert not list(tmp_path.rglob(TEMPS))
    # The change being written when the signal came is finished; nothing after it starts.
    assert "Interrupted: 4 files written, 6 not written" in stderr
    contents = [(tmp_path / f"poller_{i}.py").read_bytes() for i in range(10)]
    assert contents[4:] == [original] * 6
    assert contents[:4] == [expected("import_time_attribute")] * 4
    assert "Traceback" not in stderr


# -- 8. an unreadable subfolder during discovery -----------------------------------------------


def _without_read_override(locked: Path) -> list[str]:
    """What to run the command under so that `chmod 000` on `locked` stops its reads.

    As root, chmod does not stop reads (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): run root
    without those two capabilities, still as root (the interpreter and the checkout stay
    reachable, which an unprivileged user could not be given here). Skipped only when that
    cannot be done."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, where chmod 000 does not stop reads, and no setpriv")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import os, sys; os.listdir(sys.argv[1])", str(locked)],
        capture_output=True,
        timeout=60,
    )
    if probe.returncode == 0:
        pytest.skip("running as root, and dropping the capabilities did not stop reads")
    return prefix


def test_an_unreadable_subfolder_is_a_clear_error_and_the_rest_is_checked(tmp_path: Path) -> None:
    copy_case("import_time_attribute", tmp_path, "poller.py")
    locked = tmp_path / "locked"
    (locked / "deeper").mkdir(parents=True)
    copy_case("import_time_attribute", locked, "hidden.py")
    copy_case("import_time_attribute", locked / "deeper", "deep.py")
    locked.chmod(0)
    try:
        prefix = _without_read_override(locked)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, sys.executable, "-m", "celerymod", *args, "--no-cache"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env={**os.environ, "NO_COLOR": "1"},
                timeout=300,
            )

        walked = run("check", ".")
        assert "Traceback" not in walked.stderr, walked.stderr
        assert walked.returncode == 2
        assert (
            "error: locked: cannot read folder: Permission denied; the files in it were not "
            "checked" in walked.stderr
        )
        assert [line.split(":")[0] for line in walked.stdout.splitlines()] == ["poller.py"]
        named = run("check", "locked")
        assert named.returncode == 2 and "error: locked: cannot read folder" in named.stderr
        inside = run("check", "locked/hidden.py", "poller.py")
        assert inside.returncode == 2, inside.stderr
        assert "error: locked/hidden.py: cannot read: Permission denied" in inside.stderr
        assert inside.stdout.startswith("poller.py:")
        fixed = run("fix", "--write", ".")
        assert fixed.returncode == 2 and "Traceback" not in fixed.stderr
        assert (tmp_path / "poller.py").read_bytes() == expected("import_time_attribute")
    finally:
        locked.chmod(0o755)
