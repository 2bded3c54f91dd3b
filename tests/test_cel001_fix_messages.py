"""CEL001 fix messages and safety for the cases whose fixture cannot show them (flat fixture
findings print `[*]`, not the fix's message or safety)."""

from __future__ import annotations

from pathlib import Path

from celerymod import engine
from celerymod.model import Finding, FixInfo, Safety
from cli_helpers import celerymod
from fixture_cases import Case, cases


def _case(name: str) -> Case:
    return next(c for c in cases() if c.rule == "blocking-subtask-wait" and c.name == name)


def _fix(name: str) -> FixInfo:
    case = _case(name)
    result = engine.process(case.input.read_bytes(), case.input.name, case.config())
    fixes = [f.fix for f in result.findings if f.fix is not None]
    assert len(fixes) == 1, result.findings
    return fixes[0]


def _findings(name: str) -> tuple[Finding, ...]:
    case = _case(name)
    return engine.process(case.input.read_bytes(), case.input.name, case.config()).findings


def test_non_literal_task_name_is_not_copied_and_the_message_says_so() -> None:
    for name in ("task_name_fstring_replace", "task_name_constant_metadata"):
        message = _fix(name).message
        assert "registered under Celery's default name" in message, message
    assert 'name=f"{__name__}.reports.total"' in _fix("task_name_fstring_replace").message
    assert _fix("task_name_fstring_replace").safety is Safety.SAFE


def test_a_dropped_timeout_makes_the_fix_review_and_is_named() -> None:
    fix = _fix("wait_timeout_dropped_replace")
    assert fix.safety is Safety.REVIEW
    assert "drops the waits' `timeout=30`: nothing fails the task" in fix.message, fix.message


def test_a_wait_without_timeout_stays_safe() -> None:
    fix = _fix("imported_name_taken_by_itertools_chain_replace")
    assert fix.safety is Safety.SAFE
    assert "timeout" not in fix.message, fix.message


def test_a_decorator_below_the_task_decorator_is_copied_and_the_fix_is_review() -> None:
    fix = _fix("decorator_below_task_decorator_copied_replace")
    assert fix.safety is Safety.REVIEW
    assert "copies `@tagged` onto `total_of_squares_finish` too: check it suits" in fix.message


def test_fix_write_does_not_count_waits_rewritten_with_another_as_unfixable(
    tmp_path: Path,
) -> None:
    # Two waits of one chain (one fix), and a wait that no fix can rewrite.
    source = _case("sequence_of_waits").input.read_bytes()
    (tmp_path / "tasks.py").write_bytes(source)
    (tmp_path / "other.py").write_bytes(_case("wait_inside_try").input.read_bytes())
    result = celerymod("fix", "--write", "--unsafe-fixes", "--select", "CEL001", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Applied 1 fix in 1 file." in result.stderr, result.stderr
    assert "1 finding has no automatic fix" in result.stderr, result.stderr
    assert (tmp_path / "tasks.py").read_bytes() == _case("sequence_of_waits").expected.read_bytes()
