"""The safety model, through the real command: `fix --write` applies only safe fixes.

A review fix (one that changes behaviour, as its message says) is shown in the dry run, listed
by `--show-fixes`, described in JSON with its edits, and applied only with `--unsafe-fixes`
(flag or `unsafe-fixes = true`) or when accepted one by one in `fix -i`.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from cli_helpers import FIXTURES, cache_env, celerymod, copy_case, expected, snapshot

# A CEL002 case whose fix is review (the callee's retry options stop applying) ...
REVIEW_CASE = FIXTURES / "nested-task-call" / "retries_review"
# ... and one whose fix is safe and edits two files.
SAFE_TWO_FILES = FIXTURES / "nested-task-call" / "absolute_import"


def _project(folder: Path, case: Path = REVIEW_CASE) -> Path:
    """A project with one safe CEL003 fix (backoff.py) and the CEL002 `case`."""
    shutil.copytree(case / "input", folder, dirs_exist_ok=True)
    copy_case("from_time_import_sleep", folder, "backoff.py")
    return folder


def _expected_shop(case: Path, name: str) -> bytes:
    return (case / "expected" / "shop" / name).read_bytes()


def test_write_applies_only_safe_fixes_and_says_how_to_apply_the_rest(tmp_path: Path) -> None:
    project = _project(tmp_path)
    shop = project / "shop"
    shop_before = {name: (shop / name).read_bytes() for name in ("batch.py", "scoring.py")}

    result = celerymod("fix", "--write", ".", cwd=project)

    assert result.returncode == 0, result.stderr
    assert (project / "backoff.py").read_bytes() == expected("from_time_import_sleep")
    for name, content in shop_before.items():
        assert (project / "shop" / name).read_bytes() == content, name
    assert "1 review fix left unapplied" in result.stderr
    assert "celerymod fix --write --unsafe-fixes" in result.stderr
    assert "celerymod fix -i" in result.stderr


@pytest.mark.parametrize("how", ["flag", "config"])
def test_unsafe_fixes_applies_review_fixes_too(tmp_path: Path, how: str) -> None:
    project = _project(tmp_path)
    args = ["fix", "--write", "."]
    if how == "flag":
        args.insert(2, "--unsafe-fixes")
    else:
        (project / "pyproject.toml").write_text("[tool.celerymod]\nunsafe-fixes = true\n")

    result = celerymod(*args, cwd=project)

    assert result.returncode == 0, result.stderr
    assert (project / "backoff.py").read_bytes() == expected("from_time_import_sleep")
    for name in ("batch.py", "scoring.py"):
        assert (project / "shop" / name).read_bytes() == _expected_shop(REVIEW_CASE, name), name
    assert "left unapplied" not in result.stderr


def test_no_unsafe_fixes_flag_overrides_the_config(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text("[tool.celerymod]\nunsafe-fixes = true\n")
    batch = (project / "shop" / "batch.py").read_bytes()

    result = celerymod("fix", "--write", "--no-unsafe-fixes", ".", cwd=project)

    assert result.returncode == 0, result.stderr
    assert (project / "shop" / "batch.py").read_bytes() == batch
    assert (project / "backoff.py").read_bytes() == expected("from_time_import_sleep")


def test_dry_run_shows_every_fix_with_its_safety_and_writes_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = snapshot(project)

    result = celerymod("fix", ".", cwd=project)

    assert result.returncode == 0, result.stderr
    assert snapshot(project) == before
    assert "backoff.py:5:5: CEL003 fix [safe]: " in result.stdout
    assert "shop/batch.py:8:12: CEL002 fix [review]: " in result.stdout
    assert "`autoretry_for`" in result.stdout  # The review fix's explanation is shown.
    # Both fixes' diffs are shown, the review one included.
    assert "+++ b/backoff.py" in result.stdout
    assert "+++ b/shop/batch.py" in result.stdout
    assert "+++ b/shop/scoring.py" in result.stdout
    assert "Would apply 1 fix in 1 file" in result.stderr
    assert "1 review fix shown above" in result.stderr


def test_show_fixes_lists_fixes_without_diffs(tmp_path: Path) -> None:
    project = _project(tmp_path)

    result = celerymod("check", "--show-fixes", ".", cwd=project)

    assert result.returncode == 1  # Findings remain: check never writes.
    assert "backoff.py:5:5: CEL003 fix [safe]: " in result.stdout
    assert "shop/batch.py:8:12: CEL002 fix [review]: " in result.stdout
    assert "(also edits shop/scoring.py)" in result.stdout
    assert "+++ " not in result.stdout and "@@ " not in result.stdout


def _apply_edits(source: str, edits: list[dict[str, object]]) -> str:
    """Apply JSON edits (1-based lines and columns, end exclusive) to `source`."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: object, column: object) -> int:
        assert isinstance(line, int) and isinstance(column, int)
        return starts[line - 1] + column - 1

    spans = sorted(
        (
            (
                offset(e["start_line"], e["start_column"]),
                offset(e["end_line"], e["end_column"]),
                e["text"],
            )
            for e in edits
        ),
        reverse=True,
    )
    for start, end, text in spans:
        assert isinstance(text, str)
        source = source[:start] + text + source[end:]
    return source


@pytest.mark.parametrize("case", [REVIEW_CASE, SAFE_TWO_FILES], ids=["review", "safe"])
def test_json_fix_has_message_and_edits_that_produce_the_fix(tmp_path: Path, case: Path) -> None:
    project = _project(tmp_path, case)

    result = celerymod("check", "--format", "json", ".", cwd=project)

    payload = json.loads(result.stdout)
    (finding,) = [f for f in payload["findings"] if f["code"] == "CEL002"]
    fix = finding["fix"]
    assert fix["safety"] == ("review" if case is REVIEW_CASE else "safe")
    assert "moves into" in fix["message"]
    by_path: dict[str, list[dict[str, object]]] = {}
    for edit in fix["edits"]:
        by_path.setdefault(edit["path"], []).append(edit)
    assert sorted(by_path) == ["shop/batch.py", "shop/scoring.py"]
    for path, edits in by_path.items():
        original = (project / path).read_text()
        assert _apply_edits(original, edits).encode() == _expected_shop(case, Path(path).name), path


def test_interactive_a_still_asks_about_review_fixes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "celerymod", "fix", "-i", "."],
        cwd=str(project),
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "NO_COLOR": "1", **cache_env()},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    transcript = io.StringIO()
    child.logfile_read = transcript
    prompt = r"Apply this change\? \[y,n,a,d,q,\?\] "
    child.expect(prompt)
    first = transcript.getvalue()
    child.sendline("a")  # Accept the safe CEL003 fix and the rest of the safe ones ...
    child.expect(prompt)  # ... but the review CEL002 fix is still asked about.
    second = transcript.getvalue()[len(first):]
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()

    assert "[safe]" in first and "CEL003" in first
    assert "[review]" in second and "CEL002" in second
    assert child.exitstatus == 0
    assert (project / "backoff.py").read_bytes() == expected("from_time_import_sleep")
    original = (REVIEW_CASE / "input" / "shop" / "batch.py").read_bytes()
    assert (project / "shop" / "batch.py").read_bytes() == original
