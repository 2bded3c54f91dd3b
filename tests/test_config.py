"""`[tool.celerymod]` validation, through the real command: a mistake is exit 2, naming key and file.

A typo in the config must never silently turn a check off, so every case below also has a
finding that a silently ignored config would report (exit 1 instead of 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import celerymod

SLEEPY = b"import time\n\n\nasync def poll():\n    time.sleep(1)\n"


def _project(tmp_path: Path, config: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n{config}", "utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "tasks.py").write_bytes(SLEEPY)
    return tmp_path / "pyproject.toml"


@pytest.mark.parametrize(
    ("config", "key", "says"),
    [
        ("[tool.celerymod]\nselct = ['CEL003']\n", "tool.celerymod.selct", "unknown key"),
        ("[tool.celerymod]\nignore = ['CEL999']\n", "tool.celerymod.ignore", "CEL999"),
        ("[tool.celerymod]\nselect = ['CEL003', 'cel9']\n", "tool.celerymod.select", "CEL9"),
        ("[tool.celerymod]\nselect = 'CEL003'\n", "tool.celerymod.select", "a list of strings"),
        ("[tool.celerymod]\nexclude = [1, 2]\n", "tool.celerymod.exclude", "a list of strings"),
        ("[tool.celerymod]\nstrategy = 3\n", "tool.celerymod.strategy", "a string"),
        ("[tool.celerymod]\nstrategy = 'inline'\n", "tool.celerymod.strategy", "metadata, replace"),
        (
            "[tool.celerymod]\nrespect-gitignore = 'yes'\n",
            "tool.celerymod.respect-gitignore",
            "true or false",
        ),
        (
            "[tool.celerymod]\ntask-decorators = ['app task']\n",
            "tool.celerymod.task-decorators",
            "dotted names",
        ),
        (
            "[tool.celerymod.per-file-ignores]\n'a.py' = 'CEL003'\n",
            "tool.celerymod.per-file-ignores",
            "a table of pattern",
        ),
        (
            "[tool.celerymod.per-file-ignores]\n'a.py' = ['CEL9']\n",
            "tool.celerymod.per-file-ignores",
            "CEL9",
        ),
        ("[tool.celerymod]\nextend-select = ['XYZ']\n", "tool.celerymod.extend-select", "XYZ"),
        ("[tool.celerymod]\noutput-format = 'xml'\n", "tool.celerymod.output-format", "xml"),
        ("[tool.celerymod]\nper-file-ignore = {}\n", "per-file-ignore", "unknown key"),
        ("[tool]\ncelerymod = 'CEL003'\n", "tool.celerymod", "must be a table"),
    ],
)
@pytest.mark.parametrize("command", ["check", "fix"])
def test_config_mistakes_exit_2_naming_key_and_file(
    tmp_path: Path, config: str, key: str, says: str, command: str
) -> None:
    pyproject = _project(tmp_path, config)
    result = celerymod(command, ".", cwd=tmp_path)
    assert result.returncode == 2, result
    assert key in result.stderr
    assert str(pyproject.resolve()) in result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # Nothing was checked or fixed.


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    pyproject = _project(tmp_path, "[tool.celerymod\nselect = \n")
    result = celerymod("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot read {pyproject.resolve()}" in result.stderr


def test_unknown_rule_code_on_the_command_line_names_the_option(tmp_path: Path) -> None:
    _project(tmp_path, "")
    result = celerymod("check", "--ignore", "CEL003,CEL777", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "'CEL777' in --ignore" in result.stderr


def test_a_valid_config_is_applied(tmp_path: Path) -> None:
    _project(tmp_path, "[tool.celerymod]\nignore = ['cel003']\nrespect-gitignore = false\n")
    assert celerymod("check", ".", cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\nselect = ['CEL003']\n")
    assert celerymod("check", ".", cwd=tmp_path).returncode == 1


def test_config_of_the_nearest_pyproject_is_used_for_stdin(tmp_path: Path) -> None:
    _project(tmp_path, "[tool.celerymod]\nignore = ['CEL003']\n")
    outside = tmp_path.parent
    # Run from outside the project: the config comes from where --stdin-filename points.
    name = str(tmp_path / "pkg" / "tasks.py")
    result = celerymod("check", "-", "--stdin-filename", name, cwd=outside, stdin=SLEEPY)
    assert result.returncode == 0, result
    result = celerymod("check", "-", "--stdin-filename", "elsewhere.py", cwd=outside, stdin=SLEEPY)
    assert result.returncode == 1, result


def test_bad_config_reached_through_stdin_filename_exits_2(tmp_path: Path) -> None:
    pyproject = _project(tmp_path, "[tool.celerymod]\nselect = ['NOPE']\n")
    name = str(tmp_path / "pkg" / "tasks.py")
    result = celerymod("fix", "-", "--stdin-filename", name, cwd=tmp_path.parent, stdin=SLEEPY)
    assert result.returncode == 2
    assert str(pyproject.resolve()) in result.stderr
    assert result.stdout == ""
