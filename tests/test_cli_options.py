"""The ruff-like options of issue 11, each through the real command on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import celerymod

SLEEPY = "import time\n\n\nasync def poll():\n    time.sleep(1)\n"


def _paths(stdout: str) -> list[str]:
    """The reported path of every finding line (help lines left out)."""
    return [line.split(":")[0] for line in stdout.splitlines() if line and not line[0].isspace()]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A project: pyproject.toml, app/views.py, app/migrations/0001_initial.py, all sleepy."""
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\n")
    (tmp_path / "app" / "migrations").mkdir(parents=True)
    for name in ("app/views.py", "app/models.py", "app/migrations/0001_initial.py"):
        (tmp_path / name).write_text(SLEEPY)
    return tmp_path


# -- 1. exclude and --force-exclude --------------------------------------------------------


def test_exclude_with_a_folder_matches_from_the_project_root(app: Path) -> None:
    result = celerymod("check", "--exclude", "app/views.py", ".", cwd=app)
    assert _paths(result.stdout) == ["app/migrations/0001_initial.py", "app/models.py"]
    # Also when the run starts in a subfolder: the pattern is relative to the project root.
    inner = celerymod("check", "--exclude", "app/views.py", ".", cwd=app / "app")
    assert _paths(inner.stdout) == ["migrations/0001_initial.py", "models.py"]


def test_a_folder_pattern_matches_at_any_depth(app: Path) -> None:
    result = celerymod("check", "--exclude", "migrations/", ".", cwd=app)
    assert _paths(result.stdout) == ["app/models.py", "app/views.py"]


def test_a_named_file_is_checked_unless_force_exclude(app: Path) -> None:
    (app / "pyproject.toml").write_text('[tool.celerymod]\nexclude = ["migrations/"]\n')
    named = "app/migrations/0001_initial.py"
    plain = celerymod("check", named, cwd=app)
    assert plain.returncode == 1  # Named on purpose: checked, as ruff does.
    forced = celerymod("check", "--force-exclude", named, "app/views.py", cwd=app)
    assert forced.returncode == 1
    assert _paths(forced.stdout) == ["app/views.py"]
    only = celerymod("fix", "--write", "--force-exclude", named, cwd=app)
    assert only.returncode == 0
    assert (app / named).read_text() == SLEEPY


def test_force_exclude_from_config_and_for_a_named_folder(app: Path) -> None:
    (app / "pyproject.toml").write_text(
        '[tool.celerymod]\nexclude = ["app/migrations"]\nforce-exclude = true\n'
    )
    result = celerymod("check", "app/migrations", "app/migrations/0001_initial.py", cwd=app)
    assert result.returncode == 0, result.stdout
    assert celerymod("check", "--no-force-exclude", "app/migrations", cwd=app).returncode == 1


# -- noqa, --statistics, --exit-zero, --output-format ---------------------------------------


@pytest.mark.parametrize(
    ("comment", "silenced"),
    [
        ("  # noqa", True),
        ("  # noqa: CEL003", True),
        ("  # NOQA:E501,CEL003", True),
        ("  # noqa: E501", False),
        ("  # celerymod: ignore[CEL003]", True),
        ("  # celerymod: ignore[CEL001]", False),
    ],
)
def test_noqa_is_honoured_like_celerymod_ignore(
    tmp_path: Path, comment: str, silenced: bool
) -> None:
    (tmp_path / "poll.py").write_text(SLEEPY.replace("time.sleep(1)", f"time.sleep(1){comment}"))
    result = celerymod("check", "--select", "CEL003", ".", cwd=tmp_path)
    assert result.returncode == (0 if silenced else 1), result.stdout
    assert ("CEL003" in result.stdout) is not silenced


def test_statistics_counts_findings_per_rule(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "b.py").write_text(SLEEPY + "\n\nasync def again():\n    time.sleep(2)\n")
    result = celerymod("check", "--statistics", ".", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.split() == ["3", "CEL003", "[*]", "blocking-sleep-in-async", "(3", "fixable)"]


def test_exit_zero_keeps_findings_but_exits_0_and_errors_still_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    result = celerymod("check", "--exit-zero", ".", cwd=tmp_path)
    assert result.returncode == 0 and "CEL003" in result.stdout
    (tmp_path / "broken.py").write_bytes(b"async def f(:\n    time.sleep(1)\n")
    assert celerymod("check", "--exit-zero", ".", cwd=tmp_path).returncode == 2


def test_output_format_is_the_ruff_spelling_of_format(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    new = celerymod("check", "--output-format", "json", ".", cwd=tmp_path)
    old = celerymod("check", "--format", "json", ".", cwd=tmp_path)
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["findings"][0]["code"] == "CEL003"


# -- selectors: prefixes, ALL, --extend-select, per-file-ignores ------------------------------

WAITS = (  # A CEL001 finding with no fix (the subtask is named by string).
    "from celery import current_app, shared_task\n\n\n"
    "@shared_task\ndef parent(x):\n"
    '    return current_app.send_task("other.child", args=[x]).get()\n'
)


def _codes(stdout: str) -> list[str]:
    return sorted(line.split(" ")[1] for line in stdout.splitlines() if line and not line[0].isspace())


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """One CEL003 finding in sleepy.py, one CEL001 finding in tasks.py."""
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\n")
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    (tmp_path / "tasks.py").write_text(WAITS)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (["--select", "CEL"], ["CEL001", "CEL003"]),
        (["--select", "cel00"], ["CEL001", "CEL003"]),
        (["--select", "ALL", "--ignore", "CEL001"], ["CEL003"]),
        (["--ignore", "ALL"], []),
        (["--select", "CEL003", "--extend-select", "CEL001"], ["CEL001", "CEL003"]),
        (["--select", "CEL0001"], None),  # Not a prefix of any code: an error.
    ],
)
def test_selectors_take_prefixes_and_all(mixed: Path, args: list[str], codes: list[str] | None) -> None:
    result = celerymod("check", *args, ".", cwd=mixed)
    if codes is None:
        assert result.returncode == 2
        assert "unknown rule code 'CEL0001'" in result.stderr
        return
    assert _codes(result.stdout) == codes, result
    assert result.returncode == (1 if codes else 0)


def test_config_selection_then_command_line_as_in_ruff(mixed: Path) -> None:
    (mixed / "pyproject.toml").write_text(
        '[tool.celerymod]\nselect = ["CEL003"]\nextend-select = ["CEL001"]\nignore = ["CEL003"]\n'
    )
    assert _codes(celerymod("check", ".", cwd=mixed).stdout) == ["CEL001"]
    # --ignore adds to the config's; --select starts over (and drops the config's ignore).
    assert _codes(celerymod("check", "--ignore", "CEL001", ".", cwd=mixed).stdout) == []
    assert _codes(celerymod("check", "--select", "CEL003", ".", cwd=mixed).stdout) == ["CEL003"]


def test_per_file_ignores_skip_rules_in_matching_files_only(mixed: Path) -> None:
    (mixed / "pyproject.toml").write_text(
        # gitignore-style: a leading / anchors at the project root; without it a name
        # matches at any depth.
        '[tool.celerymod.per-file-ignores]\n"/sleepy.py" = ["CEL003"]\n"other/*.py" = ["CEL001"]\n'
    )
    (mixed / "other").mkdir()
    (mixed / "other" / "tasks.py").write_text(WAITS)
    (mixed / "other" / "sleepy.py").write_text(SLEEPY)
    result = celerymod("check", ".", cwd=mixed)
    assert _paths(result.stdout) == ["other/sleepy.py", "tasks.py"], result
    # Relative to the project root also when run from a subfolder, and for fix --write.
    inner = celerymod("check", ".", cwd=mixed / "other")
    assert _paths(inner.stdout) == ["sleepy.py"], inner
    celerymod("fix", "--write", ".", cwd=mixed)
    assert (mixed / "sleepy.py").read_text() == SLEEPY
    assert (mixed / "other" / "tasks.py").read_text() == WAITS
    assert (mixed / "other" / "sleepy.py").read_text() != SLEEPY


def test_extend_exclude_adds_to_exclude(mixed: Path) -> None:
    (mixed / "pyproject.toml").write_text(
        '[tool.celerymod]\nexclude = ["tasks.py"]\nextend-exclude = ["sleepy.py"]\n'
    )
    result = celerymod("check", ".", cwd=mixed)
    assert result.returncode == 0
    assert "leave out every Python file in . (2 files)" in result.stderr


# -- --config, --show-settings ---------------------------------------------------------------


def test_config_option_reads_that_file(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("conf")
    (elsewhere / "celerymod.toml").write_text('select = ["CEL001"]\n')
    (elsewhere / "pyproject.toml").write_text('[tool.celerymod]\nselect = ["CEL003"]\n')
    top = celerymod("check", "--config", str(elsewhere / "celerymod.toml"), ".", cwd=mixed)
    assert _codes(top.stdout) == ["CEL001"], top
    tool = celerymod("check", "--config", str(elsewhere / "pyproject.toml"), ".", cwd=mixed)
    assert _codes(tool.stdout) == ["CEL003"], tool
    missing = celerymod("check", "--config", str(elsewhere / "nope.toml"), ".", cwd=mixed)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    bad = elsewhere / "bad.toml"
    bad.write_text('selct = ["CEL001"]\n')
    typo = celerymod("check", "--config", str(bad), ".", cwd=mixed)
    assert typo.returncode == 2
    assert "unknown key `tool.celerymod.selct`" in typo.stderr


def test_show_settings_prints_values_and_their_origin(mixed: Path) -> None:
    (mixed / "pyproject.toml").write_text('[tool.celerymod]\nstrategy = "replace"\nignore = ["CEL002"]\n')
    result = celerymod("check", "--show-settings", "--ignore", "CEL008", "-j", "1", ".", cwd=mixed)
    assert result.returncode == 0, result
    lines = {line.split("=")[0].strip(): line for line in result.stdout.splitlines()}
    assert lines["strategy"].endswith(f"# `strategy` in {(mixed / 'pyproject.toml').resolve()}")
    assert '"CEL001", "CEL003"' in lines["rules"] and "CEL002" not in lines["rules"]
    assert "--ignore, `ignore` in" in lines["rules"]
    chosen = celerymod("check", "--show-settings", "--select", "CEL00", ".", cwd=mixed).stdout
    # A --select starts over: the config's ignore no longer applies, nor is it named.
    assert '["CEL001", "CEL002", "CEL003", "CEL004", "CEL005", "CEL006", "CEL007", "CEL008", "CEL009"]    # --select\n' in chosen
    assert lines["jobs"].startswith("jobs") and "= 1" in lines["jobs"] and "# --jobs" in lines["jobs"]
    assert lines["unsafe-fixes"].endswith("false    # default")
    assert "CEL001" not in result.stdout.split("rules")[0]  # Nothing was checked.
    fix = celerymod("fix", "--show-settings", ".", cwd=mixed)
    assert fix.returncode == 0 and "strategy" in fix.stdout


# -- --output-file, output-format in config, --exit-non-zero-on-fix, no files ----------------


def test_output_file_receives_what_stdout_would(mixed: Path) -> None:
    result = celerymod("check", "--output-format", "json", "-o", "out.json", ".", cwd=mixed)
    assert result.returncode == 1
    assert result.stdout == ""
    document = json.loads((mixed / "out.json").read_text())
    assert sorted(f["code"] for f in document["findings"]) == ["CEL001", "CEL003"]
    text = celerymod("check", "--output-file", "out.txt", ".", cwd=mixed)
    assert _codes((mixed / "out.txt").read_text()) == ["CEL001", "CEL003"]
    assert "Found 2 findings" in text.stderr  # The summary stays on the terminal.
    unwritable = celerymod("check", "-o", "missing/dir/out.txt", ".", cwd=mixed)
    assert unwritable.returncode == 2
    assert "cannot write --output-file" in unwritable.stderr


def test_output_format_from_config_and_json_on_config_error(mixed: Path) -> None:
    (mixed / "pyproject.toml").write_text('[tool.celerymod]\noutput-format = "json"\n')
    result = celerymod("check", ".", cwd=mixed)
    assert json.loads(result.stdout)["summary"]["findings"] == 2
    assert "CEL003" in celerymod("check", "--output-format", "text", ".", cwd=mixed).stdout.split()
    (mixed / "pyproject.toml").write_text('[tool.celerymod]\nselect = ["NOPE"]\n')
    broken = celerymod("check", "--output-format", "json", ".", cwd=mixed)
    assert broken.returncode == 2
    document = json.loads(broken.stdout)
    assert document["findings"] == [] and "NOPE" in document["errors"][0]["message"]


def test_exit_non_zero_on_fix(mixed: Path) -> None:
    plain = celerymod("fix", "--write", "--select", "CEL003", ".", cwd=mixed)
    assert plain.returncode == 0
    (mixed / "sleepy.py").write_text(SLEEPY)
    strict = celerymod("fix", "--write", "--exit-non-zero-on-fix", "--select", "CEL003", ".", cwd=mixed)
    assert strict.returncode == 1, strict
    again = celerymod("fix", "--write", "--exit-non-zero-on-fix", "--select", "CEL003", ".", cwd=mixed)
    assert again.returncode == 0  # Nothing left to fix.


@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_folder_without_python_files_says_so(tmp_path: Path, command: str) -> None:
    (tmp_path / "README.md").write_text("# nothing here\n")
    result = celerymod(command, ".", cwd=tmp_path)
    assert result.returncode == 0
    assert "No Python files found in ." in result.stderr
    assert "All checks passed" not in result.stderr + result.stdout


def test_help_has_no_type_placeholders() -> None:
    for command in ("--help", "check --help", "fix --help", "rules --help", "explain --help"):
        result = celerymod(*command.split(), env={"COLUMNS": "80"})
        assert result.returncode == 0
        for placeholder in ("<bool>", "<list[str]>", "<str>", "<int>", "…"):
            assert placeholder not in result.stdout, (command, placeholder)
        # No sentence is cut off: click's short help ends with "..." when it truncates.
        assert "..." not in result.stdout.replace("[PATH]...", "").replace("[ARGS]...", ""), command


# -- --report-unused-ignores -----------------------------------------------------------------

# One CEL003 finding hidden by a noqa; the other directives hide nothing.
SUPPRESSED = (
    "import time\n"
    "\n"
    "\n"
    "async def poll():\n"
    "    time.sleep(1)  # noqa: CEL003\n"  # 5: used
    "    x = 1  # noqa: CEL003, E501\n"  # 6: unused for CEL003; E501 is another tool's
    "    y = 2  # noqa\n"  # 7: bare, hides nothing
    '    z = "# noqa: CEL003"\n'  # 8: inside a string, not a comment
    "    w = 3  # noqa: E501\n"  # 9: another tool's code only
    "    v = 4  # celerymod: ignore[CEL001, CEL003]\n"  # 10: both unused
    "    time.sleep(2)  # celerymod: ignore\n"  # 11: bare, used
    "    return x, y, z, w, v\n"
)


def test_report_unused_ignores_lists_what_hides_nothing(tmp_path: Path) -> None:
    (tmp_path / "poll.py").write_text(SUPPRESSED)
    (tmp_path / "plain.py").write_text("x = 1  # noqa: CEL002\n")  # No rule ever parses it.
    quiet = celerymod("check", ".", cwd=tmp_path)
    assert quiet.returncode == 0, quiet  # Without the option: the suppressions work, silently.
    result = celerymod("check", "--report-unused-ignores", ".", cwd=tmp_path)
    assert result.returncode == 1, result  # Each one counts like a finding (ruff's RUF100).
    assert result.stdout.splitlines() == [
        "plain.py:1:8: unused suppression `# noqa: CEL002`: CEL002 reported nothing on this line",
        (
            "poll.py:6:12: unused suppression `# noqa: CEL003, E501`: CEL003 reported nothing "
            "on this line"
        ),
        "poll.py:7:12: unused suppression `# noqa`: nothing was reported on this line",
        (
            "poll.py:10:12: unused suppression `# celerymod: ignore[CEL001, CEL003]`: CEL001, "
            "CEL003 reported nothing on this line"
        ),
    ]
    assert "Found 4 unused suppressions" in result.stderr
    assert "All checks passed" not in result.stderr
    zero = celerymod("check", "--report-unused-ignores", "--exit-zero", ".", cwd=tmp_path)
    assert zero.returncode == 0 and zero.stdout == result.stdout


def test_report_unused_ignores_only_for_selected_rules(tmp_path: Path) -> None:
    (tmp_path / "poll.py").write_text(SUPPRESSED)
    result = celerymod(
        "check", "--report-unused-ignores", "--select", "CEL001", ".", cwd=tmp_path
    )
    # CEL003 is not selected: directives listing only CEL003 are left alone (lines 5, 6). Bare
    # ones hide nothing now (lines 7 and 11), and line 10's CEL001 never hid anything.
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [
        "poll.py:7:12",
        "poll.py:10:12",
        "poll.py:11:20",
    ]
    assert "`# celerymod: ignore[CEL001, CEL003]`: CEL001 reported" in result.stdout


def test_report_unused_ignores_in_json_and_github(tmp_path: Path) -> None:
    (tmp_path / "poll.py").write_text(SUPPRESSED)
    document = celerymod("check", "--report-unused-ignores", "--format", "json", ".", cwd=tmp_path)
    assert document.returncode == 1
    payload = json.loads(document.stdout)
    assert payload["summary"]["unused_suppressions"] == 3
    first = payload["unused_suppressions"][0]
    assert (first["path"], first["line"], first["column"]) == ("poll.py", 6, 12)
    assert (first["directive"], first["codes"]) == ("# noqa: CEL003, E501", ["CEL003"])
    # Without the option the document keeps its usual keys.
    assert "unused_suppressions" not in json.loads(
        celerymod("check", "--format", "json", ".", cwd=tmp_path).stdout
    )
    github = celerymod("check", "--report-unused-ignores", "--format", "github", ".", cwd=tmp_path)
    assert github.returncode == 1
    assert github.stdout.splitlines()[0].startswith("::error file=poll.py,line=6,col=12,")
    sarif = celerymod("check", "--report-unused-ignores", "--format", "sarif", ".", cwd=tmp_path)
    assert sarif.returncode == 2 and "cannot be combined with --format sarif" in sarif.stderr


def test_report_unused_ignores_with_a_fix_on_the_line_and_on_stdin(tmp_path: Path) -> None:
    source = SLEEPY.replace("time.sleep(1)", "time.sleep(1)  # noqa: CEL001")
    piped = celerymod(
        "check", "--report-unused-ignores", "-", "--stdin-filename", "poll.py",
        stdin=source.encode(), cwd=tmp_path,
    )
    assert piped.returncode == 1
    lines = piped.stdout.splitlines()
    assert lines[0].startswith("poll.py:5:5: CEL003 [*]")  # The finding is not hidden.
    assert "poll.py:5:20: unused suppression `# noqa: CEL001`" in piped.stdout
