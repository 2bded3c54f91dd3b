"""CEL001's fixes keep imports clean: every `blocking-subtask-wait` fixture whose input is
clean under `ruff check --select F401,F811,F821,I001 --isolated` has a clean expected output
(issue 8, "Imports stay clean")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fixture_cases import FIXTURES, cases

SELECT = "F401,F811,F821,I001"
RULE = "blocking-subtask-wait"


def _dirty(paths: list[Path]) -> set[str]:
    """The names of the files among `paths` that ruff reports with these selectors."""
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", SELECT, "--isolated", "--no-cache"]
        + ["--output-format", "concise", "--quiet", *(p.name for p in paths)],
        cwd=FIXTURES / RULE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return {line.split(":", 1)[0] for line in completed.stdout.splitlines() if ":" in line}


def test_fixes_keep_a_ruff_clean_module_clean() -> None:
    fixed = [c for c in cases() if c.rule == RULE and c.expected.exists()]
    dirty_inputs = _dirty([c.input for c in fixed])
    clean = [c for c in fixed if c.input.name not in dirty_inputs]
    assert len(clean) >= 30, "most fixed fixtures start clean"
    assert _dirty([c.expected for c in clean]) == set()
