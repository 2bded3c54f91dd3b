"""CEL009 beyond the fixtures: the fix messages, and what Celery's own `crontab` makes of the
schedules before and after the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.schedules import crontab

from celerymod import engine
from celerymod.model import RunConfig

_ONLY = RunConfig(select=frozenset({"CEL009"}), unsafe_fixes=True)
_FIXTURES = Path(__file__).parent / "fixtures" / "crontab-missing-fields"


def _fix_messages(source: str) -> list[str]:
    result = engine.process(source.encode(), "beat.py", _ONLY)
    assert not result.errors
    return [f.fix.message for f in result.findings if f.fix is not None]


def test_fix_messages_show_the_schedule_before_and_after() -> None:
    source = (
        "from celery.schedules import crontab\n"
        'A = crontab(hour="0, 12")\n'
        'B = crontab(day_of_week="mon")\n'
        'C = crontab(minute="*/15", day_of_month=1)\n'
    )
    assert _fix_messages(source) == [
        (
            "Add `minute=0`: the schedule was `* 0,12 * * *` (every minute of the hours it "
            "matches) and becomes `0 0,12 * * *` (minute 0 of those hours)"
        ),
        (
            "Add `minute=0, hour=0`: the schedule was `* * * * mon` (every minute of the days "
            "it matches) and becomes `0 0 * * mon` (00:00 of those days)"
        ),
        (
            "Add `hour=0`: the schedule was `*/15 * 1 * *` (every hour of the days it matches) "
            "and becomes `*/15 0 1 * *` (hour 0 of those days only)"
        ),
    ]


def test_every_fix_is_review_level() -> None:
    source = "from celery.schedules import crontab\nA = crontab(hour=3)\n"
    result = engine.process(source.encode(), "beat.py", _ONLY)
    assert [f.fix.safety.value for f in result.findings if f.fix] == ["review"]
    # `fix --write` without --unsafe-fixes leaves the file alone.
    plain = engine.process(source.encode(), "beat.py", RunConfig(select=frozenset({"CEL009"})))
    assert plain.new_source is None


def test_a_file_without_crontab_is_never_parsed() -> None:
    result = engine.process(b"SCHEDULE = {'hour': 3}\n", "beat.py", _ONLY)
    assert not result.parsed


def _schedules(path: Path) -> dict[str, crontab]:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text("utf-8"), str(path), "exec"), namespace)  # noqa: S102 (fixture code)
    return {k: v for k, v in namespace.items() if isinstance(v, crontab)}


_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


@pytest.mark.parametrize(
    "case", ["day_and_month_fields", "positional_and_literal_kwargs", "aliases_and_module_imports"]
)
def test_celery_reads_the_fixed_schedule_as_the_message_says(case: str) -> None:
    before = _schedules(_FIXTURES / f"{case}.input.py")
    after = _schedules(_FIXTURES / f"{case}.expected.py")
    assert before.keys() == after.keys() and before
    for name, old in before.items():
        new = after[name]
        changed = [f for f in _FIELDS if getattr(old, f) != getattr(new, f)]
        # Only minute and hour change, each from "every value" to exactly 0.
        assert changed and set(changed) <= {"minute", "hour"}, name
        for field in changed:
            assert len(getattr(old, field)) in (24, 60), (name, field)
            assert getattr(new, field) == {0}, (name, field)
