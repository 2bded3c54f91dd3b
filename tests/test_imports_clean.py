"""Fixes keep imports clean (issue 8, "Imports stay clean"): every fixture whose input is
clean under `ruff check --select F401,F811,F821,I001 --isolated` has a clean expected
output, for every rule. Folder cases (CEL002) are checked as whole projects: the input tree
with the expected files laid over it, so a first-party package is recognised as such."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_cases import FIXTURES, FolderCase, cases, folder_cases

SELECT = "F401,F811,F821,I001"
# The rules with single-file fixes (CEL008 only reports; CEL002 has folder cases).
RULES = sorted({c.rule for c in cases() if c.expected.exists()})


def _dirty(cwd: Path, names: list[str]) -> set[str]:
    """The files among `names` (relative to `cwd`) that ruff reports with these selectors."""
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", SELECT, "--isolated", "--no-cache"]
        + ["--output-format", "concise", "--quiet", *names],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return {line.split(":", 1)[0] for line in completed.stdout.splitlines() if ":" in line}


@pytest.mark.parametrize("rule", RULES)
def test_file_fixes_keep_a_ruff_clean_module_clean(rule: str) -> None:
    fixed = [c for c in cases() if c.rule == rule and c.expected.exists()]
    dirty_inputs = _dirty(FIXTURES / rule, [c.input.name for c in fixed])
    clean = [c for c in fixed if c.input.name not in dirty_inputs]
    assert len(clean) >= len(fixed) // 2, "most fixed fixtures start clean"
    assert _dirty(FIXTURES / rule, [c.expected.name for c in clean]) == set()


def _project(tmp_path: Path, case_input: Path, overlay: Path | None) -> Path:
    root = tmp_path / ("after" if overlay else "before")
    shutil.copytree(case_input, root)
    if overlay is not None and overlay.exists():
        shutil.copytree(overlay, root, dirs_exist_ok=True)
    return root


@pytest.mark.parametrize("case", [c for c in folder_cases() if c.expected.exists()], ids=lambda c: c.id)
def test_folder_fixes_keep_a_ruff_clean_project_clean(case: FolderCase, tmp_path: Path) -> None:
    before = _project(tmp_path, case.input, None)
    if _dirty(before, ["."]):
        pytest.skip("the input is not clean under these selectors")  # nothing to keep
    after = _project(tmp_path, case.input, case.expected)
    assert _dirty(after, ["."]) == set()
