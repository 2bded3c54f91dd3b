"""The persistent results cache, through the real command.

Each test gives the run its own cache folder (`CELERYMOD_CACHE_DIR`, or none with "" so the
default next to the project is used), then shows the cache is read (a tampered entry is what
the next run prints), never stale (content, settings and other files' tasks are in the key),
and never trusted blindly (corrupt and foreign entries are ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cli_helpers import FIXTURES, celerymod, copy_case

CEL002_CASE = FIXTURES / "nested-task-call" / "absolute_import"


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.json"))


def _project(folder: Path) -> Path:
    project = folder / "project"
    project.mkdir()
    copy_case("from_time_import_sleep", project, "backoff.py")
    return project


def test_second_run_reads_the_cache(tmp_path: Path) -> None:
    project, cache_dir = _project(tmp_path), tmp_path / "cache"
    env = {"CELERYMOD_CACHE_DIR": str(cache_dir)}
    first = celerymod("check", ".", cwd=project, env=env)
    assert first.returncode == 1
    (entry,) = [p for p in _entries(cache_dir) if "blocks the event loop" in p.read_text()]
    # The next run prints what the cache says: it did not look at the file again.
    entry.write_text(entry.read_text().replace("blocks the event loop", "TAMPERED"))
    second = celerymod("check", ".", cwd=project, env=env)
    assert "TAMPERED" in second.stdout
    # --no-cache neither reads nor writes it.
    fresh = celerymod("check", "--no-cache", ".", cwd=project, env=env)
    assert fresh.stdout == first.stdout
    assert "TAMPERED" not in fresh.stdout


def test_no_cache_writes_no_cache_folder(tmp_path: Path) -> None:
    project = _project(tmp_path)
    celerymod("check", "--no-cache", ".", cwd=project, env={"CELERYMOD_CACHE_DIR": ""})
    assert not (project / ".celerymod_cache").exists()


def test_default_folder_is_next_to_pyproject_and_ignores_itself(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text("[tool.celerymod]\n")
    (project / "pkg").mkdir()
    celerymod("check", ".", cwd=project / "pkg", env={"CELERYMOD_CACHE_DIR": ""})
    celerymod("check", str(project), cwd=tmp_path, env={"CELERYMOD_CACHE_DIR": ""})
    cache_dir = project / ".celerymod_cache"
    assert _entries(cache_dir)
    assert (cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (cache_dir / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172")
    git = subprocess.run(["git", "init", "-q", str(project)], capture_output=True)
    if git.returncode == 0:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert ".celerymod_cache" not in status.stdout


def test_cache_dir_in_config_moves_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text('[tool.celerymod]\ncache-dir = "build/cm"\n')
    celerymod("check", ".", cwd=project, env={"CELERYMOD_CACHE_DIR": ""})
    assert _entries(project / "build" / "cm")
    assert not (project / ".celerymod_cache").exists()


def test_changed_content_and_settings_are_not_served_stale(tmp_path: Path) -> None:
    project, cache_dir = _project(tmp_path), tmp_path / "cache"
    env = {"CELERYMOD_CACHE_DIR": str(cache_dir)}
    assert celerymod("check", ".", cwd=project, env=env).returncode == 1
    assert celerymod("check", "--ignore", "CEL003", ".", cwd=project, env=env).returncode == 0
    assert celerymod("check", ".", cwd=project, env=env).returncode == 1
    assert celerymod("fix", "--write", ".", cwd=project, env=env).returncode == 0
    after = celerymod("check", ".", cwd=project, env=env)
    assert after.returncode == 0, after.stdout


def test_a_task_changed_in_another_file_changes_the_caller_result(tmp_path: Path) -> None:
    project, cache_dir = tmp_path / "project", tmp_path / "cache"
    shutil.copytree(CEL002_CASE / "input", project)
    env = {"CELERYMOD_CACHE_DIR": str(cache_dir)}
    before = celerymod("check", ".", cwd=project, env=env)
    assert "shop/batch.py" in before.stdout and "CEL002" in before.stdout
    # score_task stops being a task: batch.py's bytes are the same, its result is not.
    scoring = project / "shop" / "scoring.py"
    scoring.write_text(scoring.read_text().replace("@shared_task", "", 1))
    after = celerymod("check", ".", cwd=project, env=env)
    assert "CEL002" not in after.stdout
    assert after.stdout == celerymod("check", "--no-cache", ".", cwd=project).stdout


def test_corrupt_and_foreign_entries_are_ignored(tmp_path: Path) -> None:
    project, cache_dir = _project(tmp_path), tmp_path / "cache"
    env = {"CELERYMOD_CACHE_DIR": str(cache_dir)}
    first = celerymod("check", ".", cwd=project, env=env)
    entries = _entries(cache_dir)
    assert entries
    for number, entry in enumerate(entries):
        if number % 2:
            entry.write_bytes(b"\x00not json")
        else:
            payload = json.loads(entry.read_text())
            # A class outside celerymod's value types is never built.
            payload["value"] = {"__type": "Popen", "fields": {"args": ["touch", "pwned"]}}
            entry.write_text(json.dumps(payload))
    again = celerymod("check", ".", cwd=project, env=env)
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout)
    assert "Traceback" not in again.stderr
    assert not (project / "pwned").exists()


def test_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    project, cache_dir = tmp_path / "project", tmp_path / "cache"
    project.mkdir()
    for number in range(40):
        copy_case("from_time_import_sleep", project, f"m{number}.py")
    env = {"CELERYMOD_CACHE_DIR": str(cache_dir), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "celerymod", "check", "--jobs", "2", "."]
    runs = [
        subprocess.Popen(command, cwd=project, env={**os.environ, **env}, stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 1 for run in runs)
    assert len(set(outputs)) == 1
    assert outputs[0].count(b"CEL003") == 40
    assert not list(cache_dir.rglob("*.tmp"))
    warm = celerymod("check", ".", cwd=project, env=env)
    assert warm.stdout.encode() == outputs[0]


def test_index_entries_with_task_uses_round_trip(tmp_path: Path) -> None:
    """Every value type an index entry holds decodes back (`TaskUse` did not: each file
    that dispatched a task was indexed again on every warm run)."""
    from celerymod import cache
    from celerymod.analysis import indexing

    source = b"from proj.tasks import add\n\n\ndef view():\n    return add.delay(1).get()\n"
    entry = indexing.index_file(source, "proj/views.py", "proj.views")
    assert entry is not None and entry.uses, entry
    store = cache.Cache(str(tmp_path))
    store.put("entry", entry)
    assert store.get("entry") == (True, entry)
