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
