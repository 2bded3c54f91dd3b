"""Running the real `celerymod` command as a subprocess, as users and CI do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SLEEP_FIXTURES = FIXTURES / "blocking-sleep-in-async"


def celerymod(
    *args: str, cwd: Path | None = None, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m celerymod ARGS` and capture text output (no colour: not a terminal)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    completed = subprocess.run(
        [sys.executable, "-m", "celerymod", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=120,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )


def copy_case(name: str, folder: Path, as_name: str | None = None) -> Path:
    """Copy a CEL003 fixture input into `folder`, byte for byte."""
    target = folder / (as_name or f"{name}.py")
    target.write_bytes((SLEEP_FIXTURES / f"{name}.input.py").read_bytes())
    return target


def expected(name: str) -> bytes:
    return (SLEEP_FIXTURES / f"{name}.expected.py").read_bytes()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file's bytes, mode and mtime: what "writes nothing" must leave alone."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            state[str(path.relative_to(folder))] = (path.read_bytes(), info.st_mode, info.st_mtime_ns)
    return state


def cache_env() -> dict[str, str]:
    """The test session's cache folder (conftest.py), for commands given their own env."""
    return {"CELERYMOD_CACHE_DIR": os.environ.get("CELERYMOD_CACHE_DIR", "")}
