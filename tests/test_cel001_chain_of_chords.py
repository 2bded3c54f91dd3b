"""CEL001 on a task that waits in several places in a row: a chain of chords, one step per
fix, that one `fix` run completes through the engine's fixpoint (the fixtures show the
code; this shows what the flat fixtures cannot: safety, messages, one step per chosen fix,
and what `fix --write` without `--unsafe-fixes` does)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from celerymod import engine
from celerymod.model import FileResult, Safety
from cli_helpers import celerymod
from fixture_cases import Case, cases


def _case(name: str) -> Case:
    return next(c for c in cases() if c.rule == "blocking-subtask-wait" and c.name == name)


def _process(case: Case, source: bytes, *, unsafe: bool = True, **options: object) -> FileResult:
    config = dataclasses.replace(case.config(), unsafe_fixes=unsafe)
    return engine.process(source, case.input.name, config, **options)  # type: ignore[arg-type]


def test_only_the_first_wait_has_a_fix_and_the_later_ones_say_they_follow() -> None:
    case = _case("three_waits_replace")
    findings = _process(case, case.input.read_bytes()).findings
    assert [f.fix is not None for f in findings] == [True, False, False]
    assert all(f.part_of_fix for f in findings[1:])
    assert all("rewritten after the fix of the wait on line" in f.help for f in findings[1:])


def test_a_safe_chain_of_chains_is_written_whole_without_unsafe_fixes() -> None:
    """Every step is safe: `fix --write` alone reaches the final code in one run (two
    fixes: the task's, then its callback's), and a second run changes nothing."""
    case = _case("sequence_then_sequence_replace")
    result = _process(case, case.input.read_bytes(), unsafe=False)
    first = next(f.fix for f in result.findings if f.fix is not None)
    assert first.safety is Safety.SAFE, first.message
    assert result.new_source == case.expected.read_bytes()
    assert len(result.applied) == 2
    again = _process(case, case.expected.read_bytes(), unsafe=False)
    assert again.new_source is None and not again.findings


def test_a_later_review_step_makes_the_first_review_and_nothing_is_half_written() -> None:
    """The first step alone (a chain) would be safe; the chord after it is review, so the
    first is too, its message says why, and `fix --write` without `--unsafe-fixes` writes
    nothing at all rather than a callback that still waits."""
    case = _case("sequence_then_fan_out_replace")
    result = _process(case, case.input.read_bytes(), unsafe=False)
    first = next(f.fix for f in result.findings if f.fix is not None)
    assert first.safety is Safety.REVIEW
    assert "review because a later step is: a failing subtask now reaches" in first.message
    assert "`ChordError`" in first.message
    assert result.new_source is None


def test_a_value_that_may_not_survive_json_in_a_later_step_makes_every_step_review() -> None:
    case = _case("sequence_then_sequence_built_value_replace")
    result = _process(case, case.input.read_bytes(), unsafe=False)
    first = next(f.fix for f in result.findings if f.fix is not None)
    assert first.safety is Safety.REVIEW
    assert "`path` now travels to the callback" in first.message
    assert result.new_source is None


def test_the_messages_say_what_each_strategy_returns() -> None:
    replace = _process(
        _case("two_fan_outs_replace"), _case("two_fan_outs_replace").input.read_bytes()
    )
    metadata_case = _case("two_fan_outs_metadata")
    metadata = _process(metadata_case, metadata_case.input.read_bytes())
    (replace_fix,) = [f.fix for f in replace.findings if f.fix is not None]
    (metadata_fix,) = [f.fix for f in metadata.findings if f.fix is not None]
    assert "the task's caller gets the last step's value" in replace_fix.message
    assert "one level deeper per later step" in metadata_fix.message
    assert metadata_fix.safety is Safety.REVIEW


def test_a_chosen_fix_applies_one_step_and_the_next_is_offered_in_its_output() -> None:
    """`fix -i` applies the fixes the user chose (`keys`), with no fixpoint: one step per
    run. The output offers the next step's fix on the callback's wait."""
    case = _case("three_waits_replace")
    source = case.input.read_bytes()
    first = next(f.fix for f in _process(case, source).findings if f.fix is not None)
    stepped = _process(case, source, keys={first.key})
    assert stepped.new_source is not None and stepped.new_source != case.expected.read_bytes()
    assert b"def myworkflow_finish(self, reduced_results):" in stepped.new_source
    assert b"def myworkflow_finish_finish" not in stepped.new_source
    later = _process(case, stepped.new_source)
    fixed = [f for f in later.findings if f.fix is not None]
    assert len(fixed) == 1 and "`myworkflow_finish_finish`" in fixed[0].fix.message  # type: ignore[union-attr]
    assert later.new_source == case.expected.read_bytes()


def test_no_fix_when_a_later_step_cannot_be_rewritten() -> None:
    for name in (
        "fan_out_then_set_between_waits_not_fixed",
        "three_waits_set_before_last_not_fixed",
        "two_fan_outs_second_in_try_not_fixed",
        "two_fan_outs_second_dispatch_read_before_wait_not_fixed",
        "two_fan_outs_second_suppressed_not_fixed",
    ):
        case = _case(name)
        findings = _process(case, case.input.read_bytes()).findings
        assert findings and not any(f.fix for f in findings), name
        # The first wait names the later one that blocks the rewrite; a later wait that is
        # no rewritable shape of its own gives its own reason (`try`), the others the first's.
        assert "a later wait of the task" in findings[0].help, name
        assert all(
            "a later wait of the task" in f.help or "the wait sits inside" in f.help
            for f in findings
        ), name


def test_fix_write_counts_every_step_it_applied(tmp_path: Path) -> None:
    """The summary counts the fixes the fixpoint applied, not only the first round's."""
    case = _case("sequence_then_sequence_replace")
    target = tmp_path / "tasks.py"
    target.write_bytes(case.input.read_bytes())
    written = celerymod(
        "fix", "--write", "--no-cache", "--select", "CEL001", "--strategy", "replace", str(target)
    )
    assert written.returncode == 0, written.stderr
    assert target.read_bytes() == case.expected.read_bytes()
    assert "Applied 2 fixes in 1 file." in written.stderr
