"""The hooks of `.pre-commit-hooks.yaml`, run by the real `pre-commit try-repo`.

pre-commit installs the hook repository with pip into its own environment (PyPI only, no
GitHub). To install it once per module, the hooks are tried from a committed snapshot of this
working tree: `try-repo` on a dirty tree would make a new shadow commit, and a new install,
every call. PRE_COMMIT_HOME is a temporary folder, so nothing outside it is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# What `pip install .` of the hook repository needs, and the hooks file itself.
SNAPSHOT = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "src")

SLEEPY = b"import time\n\n\nasync def poll():\n    time.sleep(1)\n"
SLEEPY_FIXED = b"import asyncio\n\n\nasync def poll():\n    await asyncio.sleep(1)\n"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in SNAPSHOT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    _git("init", "-q", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "snapshot", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def pre_commit_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "VIRTUAL_ENV"))}
    return {**env, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never"}


def _project(folder: Path, source: bytes) -> Path:
    _git("init", "-q", cwd=folder)
    (folder / "tasks.py").write_bytes(source)
    (folder / "notes.txt").write_text("time.sleep(1) in a text file is not Python\n")
    _git("add", ".", cwd=folder)
    return folder / "tasks.py"


def _try(
    hook_repo: Path, hook: str, project: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), hook, "--all-files"],
        check=False,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # The first call installs the hook environment from PyPI.
    )


def test_hooks_file_declares_both_hooks() -> None:
    hooks = {
        hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    }
    assert set(hooks) == {"celerymod", "celerymod-fix"}
    assert hooks["celerymod"]["entry"] == "celerymod check --force-exclude"
    assert hooks["celerymod-fix"]["entry"] == "celerymod fix --write --force-exclude"
    for hook in hooks.values():
        assert (hook["language"], hook["types"]) == ("python", ["python"])
        # A CEL002 fix edits two files: two parallel batches must not both rewrite one.
        assert hook["require_serial"] is True


def test_check_hook_fails_on_a_finding_and_passes_once_fixed(
    hook_repo: Path, pre_commit_env: dict[str, str], tmp_path: Path
) -> None:
    tasks = _project(tmp_path, SLEEPY)
    result = _try(hook_repo, "celerymod", tmp_path, pre_commit_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tasks.py:5:5: CEL003" in result.stdout
    assert "Failed" in result.stdout
    assert tasks.read_bytes() == SLEEPY  # The check hook never writes.

    tasks.write_bytes(SLEEPY_FIXED)
    _git("add", ".", cwd=tmp_path)
    result = _try(hook_repo, "celerymod", tmp_path, pre_commit_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_fix_hook_rewrites_the_file(
    hook_repo: Path, pre_commit_env: dict[str, str], tmp_path: Path
) -> None:
    tasks = _project(tmp_path, SLEEPY)
    result = _try(hook_repo, "celerymod-fix", tmp_path, pre_commit_env)
    # pre-commit fails a hook that modified files, so the fix is reviewed before committing.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert tasks.read_bytes() == SLEEPY_FIXED

    _git("add", ".", cwd=tmp_path)
    result = _try(hook_repo, "celerymod-fix", tmp_path, pre_commit_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert tasks.read_bytes() == SLEEPY_FIXED


def test_fix_hook_leaves_an_excluded_staged_file_alone(
    hook_repo: Path, pre_commit_env: dict[str, str], tmp_path: Path
) -> None:
    """pre-commit names app/migrations/0001_initial.py itself; `exclude` must still apply."""
    tasks = _project(tmp_path, SLEEPY)
    migration = tmp_path / "app" / "migrations" / "0001_initial.py"
    migration.parent.mkdir(parents=True)
    migration.write_bytes(SLEEPY)
    (tmp_path / "pyproject.toml").write_text('[tool.celerymod]\nexclude = ["migrations/"]\n')
    _git("add", ".", cwd=tmp_path)
    result = _try(hook_repo, "celerymod-fix", tmp_path, pre_commit_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert tasks.read_bytes() == SLEEPY_FIXED
    assert migration.read_bytes() == SLEEPY  # Excluded: never rewritten.

    result = _try(hook_repo, "celerymod", tmp_path, pre_commit_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrations" not in result.stdout
