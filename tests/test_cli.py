"""The `celerymod` command end to end: exit codes, errors, writes, discovery, speed rules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from celerymod import textio, writes
from cli_helpers import celerymod, copy_case, expected, snapshot

CLEAN = b"import time\n\n\ndef wait():\n    time.sleep(1)\n"
BROKEN = b"async def broken(:\n    time.sleep(1)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_case("import_time_attribute", tmp_path, "poller.py")
    copy_case("from_time_import_sleep", tmp_path, "backoff.py")
    (tmp_path / "clean.py").write_bytes(CLEAN)
    return tmp_path


# -- exit codes ---------------------------------------------------------------------------


def test_check_exits_0_when_clean(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_bytes(CLEAN)
    result = celerymod("check", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "All checks passed!" in result.stderr


def test_check_exits_1_on_findings_and_names_them(project: Path) -> None:
    result = celerymod("check", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "backoff.py:5:5: CEL003 [*] `sleep` blocks the event loop inside `async def backoff`",
        "poller.py:6:9: CEL003 [*] `time.sleep` blocks the event loop inside `async def poll`",
    ]
    assert "Found 2 findings (2 fixable with `celerymod fix --write`)." in result.stderr


def test_check_exits_2_on_syntax_error_and_errors_win(project: Path) -> None:
    (project / "broken.py").write_bytes(b"import time\n" + BROKEN)
    result = celerymod("check", ".", cwd=project)
    assert result.returncode == 2
    assert "error: broken.py: syntax error at 2:18: invalid syntax" in result.stderr
    # The other files are still checked.
    assert "poller.py:6:9: CEL003" in result.stdout
    assert "All checks passed" not in result.stderr


def test_check_exits_2_on_undecodable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_bytes(b"import time\nx = '\xff\xfe'\nasync def f():\n    time.sleep(1)\n")
    result = celerymod("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: bad.py: not valid UTF-8: byte 0xff at offset 17 (line 2)" in result.stderr


def test_check_exits_2_on_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "gone.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "present.py").write_bytes(CLEAN)
    result = celerymod("check", "gone.py", "present.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: gone.py: cannot read: broken symbolic link" in result.stderr
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "gone.py").symlink_to(tmp_path / "sub" / "missing.py")
    walked = celerymod("check", "sub", cwd=tmp_path)
    assert walked.returncode == 2
    assert "error: sub/gone.py: cannot read: broken symbolic link" in walked.stderr


def test_check_exits_2_on_missing_path(tmp_path: Path) -> None:
    result = celerymod("check", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: nowhere: no such file or directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--no-such-option"),
        ("check", "--select", "CEL999", "."),
        ("check", "--strategy", "bogus", "."),
        ("check", "--format", "xml", "."),
        ("frobnicate",),
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "clean.py").write_bytes(CLEAN)
    result = celerymod(*args, cwd=tmp_path)
    assert result.returncode == 2, result
    assert result.stderr.strip()


def test_bad_config_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\nselct = ['CEL003']\n")
    (tmp_path / "clean.py").write_bytes(CLEAN)
    result = celerymod("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "tool.celerymod.selct" in result.stderr
    assert str(tmp_path / "pyproject.toml") in result.stderr


def test_fix_dry_run_exits_0_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    result = celerymod("fix", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    assert snapshot(project) == before
    assert "+++ b/poller.py" in result.stdout
    assert "+        await asyncio.sleep(0.5)  # wait a bit" in result.stdout
    assert "Would apply 2 fixes in 2 files; run with --write to apply." in result.stderr


def test_fix_exits_2_on_error_but_fixes_the_rest(project: Path) -> None:
    (project / "broken.py").write_bytes(b"import time\n" + BROKEN)
    result = celerymod("fix", "--write", ".", cwd=project)
    assert result.returncode == 2
    assert "error: broken.py: syntax error" in result.stderr
    assert (project / "poller.py").read_bytes() == expected("import_time_attribute")
    assert (project / "backoff.py").read_bytes() == expected("from_time_import_sleep")
    assert (project / "broken.py").read_bytes() == b"import time\n" + BROKEN


def test_check_flags_exactly_what_fix_changes(project: Path) -> None:
    assert celerymod("fix", "--write", ".", cwd=project).returncode == 0
    again = celerymod("check", ".", cwd=project)
    assert again.returncode == 0, again.stdout
    assert celerymod("fix", ".", cwd=project).stdout == ""


# -- writes keep what the file was ----------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["crlf_line_endings", "latin1_coding_cookie", "utf8_bom", "no_newline_at_end_of_file"]
)
def test_write_keeps_encoding_and_line_endings(tmp_path: Path, case: str) -> None:
    target = copy_case(case, tmp_path)
    result = celerymod("fix", "-w", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == expected(case)


def test_write_keeps_file_mode(tmp_path: Path) -> None:
    target = copy_case("import_time_attribute", tmp_path, "script.py")
    target.chmod(0o755)
    result = celerymod("fix", "--write", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert target.read_bytes() == expected("import_time_attribute")
    assert [p.name for p in tmp_path.iterdir()] == ["script.py"]  # No temp file left over.


def test_write_refuses_a_read_only_file(tmp_path: Path) -> None:
    # Tests run as root, which can open a 0444 file for writing: the refusal must come from the mode.
    target = copy_case("import_time_attribute", tmp_path, "locked.py")
    original = target.read_bytes()
    target.chmod(0o444)
    result = celerymod("fix", "--write", ".", cwd=tmp_path)
    assert result.returncode != 0
    assert "not written: read-only" in result.stdout + result.stderr
    assert target.read_bytes() == original
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


def test_write_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    target = tmp_path / "x.py"
    target.write_bytes(b"old = 1\n")
    stale_hash = textio.source_hash(b"old = 1\n")
    target.write_bytes(b"new = 2\n")
    error = writes.write_atomic(str(target), b"fixed = 3\n", stale_hash)
    assert error is not None and "changed since it was read" in error
    assert target.read_bytes() == b"new = 2\n"


def test_write_refuses_a_file_with_hard_links(tmp_path: Path) -> None:
    target = copy_case("import_time_attribute", tmp_path, "linked.py")
    original = target.read_bytes()
    os.link(target, tmp_path / "other-name.txt")
    result = celerymod("fix", "--write", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "linked.py: not written: the file has 2 hard links" in result.stderr
    assert target.read_bytes() == original
    assert (tmp_path / "other-name.txt").stat().st_ino == target.stat().st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_write_keeps_the_owner_and_group(tmp_path: Path) -> None:
    target = copy_case("import_time_attribute", tmp_path, "owned.py")
    os.chown(target, 65534, 65534)
    target.chmod(0o640)
    result = celerymod("fix", "--write", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == expected("import_time_attribute")
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)


def test_an_edit_landing_during_the_write_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.py"
    target.write_bytes(b"old = 1\n")
    read_hash = textio.source_hash(b"old = 1\n")
    real_fdopen = os.fdopen

    def edit_while_writing(*args: object, **kwargs: object) -> object:
        target.write_bytes(b"edited by the user = 2\n")  # Lands after the first check.
        return real_fdopen(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writes.os, "fdopen", edit_while_writing)
    error = writes.write_atomic(str(target), b"fixed = 3\n", read_hash)
    assert error is not None and "changed since it was read" in error
    assert target.read_bytes() == b"edited by the user = 2\n"
    assert not list(tmp_path.glob(".celerymod-*.tmp"))


def test_a_huge_jobs_value_is_capped(tmp_path: Path) -> None:
    for number in range(10):
        copy_case("import_time_attribute", tmp_path, f"m{number}.py")
    result = celerymod("check", "--no-cache", "--jobs", "100000", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.count("CEL003") == 10


def test_diff_is_plain_text_when_piped(project: Path) -> None:
    result = celerymod("fix", "--color", "auto", ".", cwd=project, env={"NO_COLOR": ""})
    assert "\x1b[" not in result.stdout
    forced = celerymod("fix", "--color", "always", ".", cwd=project, env={"NO_COLOR": ""})
    assert "\x1b[" in forced.stdout


# -- discovery ----------------------------------------------------------------------------


def test_discovery_honours_gitignore_and_skips_virtualenvs(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\nskip_me.py\n")
    for folder in ("generated", "venv_custom", "build", "pkg"):
        (tmp_path / folder).mkdir()
    (tmp_path / "venv_custom" / "pyvenv.cfg").write_text("home = /usr\n")
    for path in ("generated/a.py", "venv_custom/b.py", "build/c.py", "skip_me.py", "pkg/d.py"):
        copy_case("import_time_attribute", tmp_path, path)
    result = celerymod("check", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["pkg/d.py"]


def test_a_named_folder_is_walked_even_if_an_outer_gitignore_ignores_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("vendor/\n")
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "vendor" / "lib" / ".gitignore").write_text("skip.py\n")
    copy_case("import_time_attribute", tmp_path / "vendor" / "lib", "kept.py")
    copy_case("import_time_attribute", tmp_path / "vendor" / "lib", "skip.py")
    assert celerymod("check", ".", cwd=tmp_path).returncode == 0  # Ignored when walked into.
    named = celerymod("check", "vendor", cwd=tmp_path)
    assert named.returncode == 1
    # Ignore files inside the named folder still apply.
    assert [line.split(":")[0] for line in named.stdout.splitlines()] == ["vendor/lib/kept.py"]


def test_exclude_select_and_ignore(project: Path) -> None:
    excluded = celerymod("check", "--exclude", "poller.py", ".", cwd=project)
    assert [line.split(":")[0] for line in excluded.stdout.splitlines()] == ["backoff.py"]
    # poller.py polls a result with `time.sleep`: CEL003's finding. CEL004 (which reports it
    # once CEL003 is off) reads only files that name Celery or a dispatch: not this one...
    assert celerymod("check", "--ignore", "CEL003", ".", cwd=project).returncode == 0
    # ... until it does.
    poller = project / "poller.py"
    poller.write_text("from celery.result import AsyncResult\n" + poller.read_text())
    assert celerymod("check", "--ignore", "CEL003", ".", cwd=project).returncode == 1
    ignored = celerymod("check", "--ignore", "CEL003", "--ignore", "CEL004", ".", cwd=project)
    assert ignored.returncode == 0
    assert celerymod("check", "--select", "CEL003", ".", cwd=project).returncode == 1


def test_config_in_nearest_pyproject_applies(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.celerymod]\nexclude = ["backoff.py"]\n')
    result = celerymod("check", ".", cwd=project)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["poller.py"]


def test_symlinks_are_not_followed_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    inside = tmp_path / "tree"
    outside.mkdir()
    inside.mkdir()
    target = copy_case("import_time_attribute", outside, "real.py")
    (inside / "link.py").symlink_to(target)
    (inside / "linkdir").symlink_to(outside, target_is_directory=True)
    result = celerymod("fix", "--write", ".", cwd=inside)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == (
        Path(__file__).parent / "fixtures/blocking-sleep-in-async/import_time_attribute.input.py"
    ).read_bytes()


def test_paths_are_shown_as_given(project: Path) -> None:
    result = celerymod("check", "--format", "json", str(project.name), cwd=project.parent)
    paths = [finding["path"] for finding in json.loads(result.stdout)["findings"]]
    assert paths == [f"{project.name}/backoff.py", f"{project.name}/poller.py"]


# -- json ---------------------------------------------------------------------------------


def test_json_format_shape(project: Path) -> None:
    (project / "broken.py").write_bytes(BROKEN)
    result = celerymod("check", "--format", "json", ".", cwd=project)
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["summary"] == {"files": 4, "findings": 2, "fixable": 2, "errors": 1}
    assert payload["errors"][0]["path"] == "broken.py"
    assert payload["errors"][0]["message"] == "syntax error at 1:18: invalid syntax"
    assert payload["findings"][0] == {
        "path": "backoff.py",
        "line": 5,
        "column": 5,
        "end_line": 5,
        "end_column": 24,
        "code": "CEL003",
        "name": "blocking-sleep-in-async",
        "message": "`sleep` blocks the event loop inside `async def backoff`",
        "help": None,
        "fix": {
            "available": True,
            "safety": "safe",
            "message": "Replace with `await asyncio.sleep(...)`",
            "edits": [
                {
                    "path": "backoff.py",
                    "start_line": 5,
                    "start_column": 1,
                    "end_line": 5,
                    "end_column": 24,
                    "text": "    await asyncio.sleep(2 ** attempt)",
                },
                {
                    "path": "backoff.py",
                    "start_line": 1,
                    "start_column": 1,
                    "end_line": 1,
                    "end_column": 23,
                    "text": "import asyncio",
                },
            ],
        },
    }


# -- speed rules --------------------------------------------------------------------------


def test_files_no_rule_matches_never_load_libcst(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("x = 1\n")
    result = celerymod("check", ".", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0
    assert "celerymod.cli" in result.stderr  # The import log is there...
    assert "libcst" not in result.stderr  # ...and libcst is not in it.


def test_a_clean_task_module_loads_neither_libcst_nor_unused_rich(tmp_path: Path) -> None:
    """A task module with nothing to report is indexed (by `ast`) but never parsed by
    libcst, and `check` prints no table, Markdown or progress bar: none of them load."""
    (tmp_path / "jobs.py").write_text(
        "from celery import shared_task\n\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
    )
    result = celerymod(
        "check", "--no-cache", "jobs.py", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert "celerymod.analysis.indexing" in result.stderr  # It was indexed...
    for heavy in ("libcst", "rich.markdown", "rich.table", "rich.progress"):
        assert heavy not in result.stderr  # ...with none of these.


def test_pool_gives_the_same_results_as_one_process(tmp_path: Path) -> None:
    for number in range(12):
        copy_case("import_time_attribute", tmp_path, f"m{number:02}.py")
        (tmp_path / f"plain{number:02}.py").write_text("x = 1\n")
    pooled = celerymod("check", "-j", "2", ".", cwd=tmp_path)
    serial = celerymod("check", "-j", "1", ".", cwd=tmp_path)
    assert pooled.returncode == serial.returncode == 1
    assert pooled.stdout == serial.stdout
    assert len(pooled.stdout.splitlines()) == 12


# -- other commands -----------------------------------------------------------------------


def test_rules_and_explain() -> None:
    rules = celerymod("rules")
    assert rules.returncode == 0
    assert "CEL003" in rules.stdout and "blocking-sleep-in-async" in rules.stdout
    explained = celerymod("explain", "CEL003")
    assert explained.returncode == 0
    assert "## Why is this bad?" in explained.stdout
    assert celerymod("explain", "blocking-sleep-in-async").stdout == explained.stdout
    assert celerymod("explain", "CEL999").returncode == 2


def test_version() -> None:
    from celerymod import __version__

    result = celerymod("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"celerymod {__version__}"


def test_help_teaches_the_three_ways() -> None:
    result = celerymod("--help")
    assert result.returncode == 0
    for line in ("celerymod check .", "celerymod fix --write .", "celerymod fix -i ."):
        assert line in result.stdout


def test_interactive_refuses_without_a_terminal(project: Path) -> None:
    before = snapshot(project)
    result = celerymod("fix", "-i", ".", cwd=project, stdin=b"y\ny\n")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr
    assert snapshot(project) == before


def test_no_cache_is_accepted(project: Path) -> None:
    assert celerymod("check", "--no-cache", ".", cwd=project).returncode == 1
    assert os.environ.get("CELERYMOD_CACHE") is None
