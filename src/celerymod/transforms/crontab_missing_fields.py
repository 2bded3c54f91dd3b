"""# CEL009 crontab-missing-fields

## What it does
Finds calls of Celery's `crontab` schedule (`celery.schedules.crontab`, resolved through
imports: `from celery.schedules import crontab as c`, `schedules.crontab(...)`; a local
function called `crontab` is not it) that set a larger unit of time without every smaller
one:

- `hour` set, `minute` not given;
- `day_of_week` or `day_of_month` set, `minute` or `hour` not given;
- `month_of_year` set, `minute` or `hour` not given.

A field is *set* when it is given a value other than `"*"`, and *given* when it is passed at
all: `crontab(minute="*", hour=3)` says "every minute of hour 3" on purpose and is not
reported. Positional arguments count in `crontab`'s own order (`minute, hour, day_of_week,
day_of_month, month_of_year`), and so do the keys of a `**{...}` or `**dict(...)` literal.
A call that passes `*args` or `**name` is not reported: what they hold is not known.

A `month_of_year` without a day field is not reported for the missing day: "every day of
December at 09:00" (`crontab(minute=0, hour=9, month_of_year=12)`) is an ordinary schedule,
and no default day would be the right one.

## Why is this bad?
Every field of `crontab` defaults to `"*"`. `crontab(hour="0,12")` does not run twice a
day: it runs every minute of hours 0 and 12, 120 times a day, and `crontab(day_of_week=
"mon")` runs 1,440 times every Monday. The beat schedule reads as if it ran once; the
queue, the database and whatever the task calls see sixty times the load.

## Example
```python
from celery.schedules import crontab

app.conf.beat_schedule = {
    "report": {"task": "shop.report", "schedule": crontab(hour="0,12")},
    "cleanup": {"task": "shop.cleanup", "schedule": crontab(day_of_week="mon")},
}
```

## Use instead
```python
from celery.schedules import crontab

app.conf.beat_schedule = {
    "report": {"task": "shop.report", "schedule": crontab(minute=0, hour="0,12")},
    "cleanup": {"task": "shop.cleanup", "schedule": crontab(minute=0, hour=0, day_of_week="mon")},
}
```
To run every minute of those hours on purpose, say so: `crontab(minute="*", hour="0,12")`.

## Fix safety
The fix adds `minute=0`, and `hour=0` where a day or month field is set without `hour`: the
schedule then runs once at the start of each hour (or day) it names. It is a `review` fix:
it changes when and how often the task runs, and the author may have meant another minute
or hour (or, rarely, every minute). The fix's message shows the schedule before and after
in cron notation (`minute hour day_of_month month_of_year day_of_week`).
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.arguments import _literal_keywords
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.syntax import _string_value, describe, source_text
from celerymod.analysis.vocabulary import METADATA
from celerymod.model import Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix

# `celery.task.schedules` re-exported it in Celery 3 and 4.
CRONTAB = frozenset({"celery.schedules.crontab", "celery.task.schedules.crontab"})
# `crontab`'s positional order.
FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
# The smaller fields each larger one needs, so that the schedule does not run every minute
# (or every hour) of what it names.
_NEEDS: dict[str, tuple[str, ...]] = {
    "hour": ("minute",),
    "day_of_week": ("minute", "hour"),
    "day_of_month": ("minute", "hour"),
    "month_of_year": ("minute", "hour"),
}
# (what the schedule does, what the fix makes it do), by the fields it lacks.
_MEANING: dict[tuple[str, ...], tuple[str, str]] = {
    ("minute",): ("every minute of the hours it matches", "minute 0 of those hours"),
    ("minute", "hour"): ("every minute of the days it matches", "00:00 of those days"),
    ("hour",): ("every hour of the days it matches", "hour 0 of those days only"),
}
_HELP = 'add the smaller fields (`minute=0`), or `minute="*"` if every minute is meant'


class Checker(BaseChecker):
    CODE = "CEL009"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        self.celery = CeleryModule.from_context(node, self.metadata, self.context)

    def visit_Call(self, node: cst.Call) -> None:
        if not self.celery.dotted_names(node.func) & CRONTAB:
            return
        given = _given_fields(node)
        if given is None:
            return
        set_fields = [f for f in FIELDS[1:] if f in given and _string_value(given[f]) != "*"]
        missing = tuple(
            f for f in FIELDS[:2] if f not in given and any(f in _NEEDS[s] for s in set_fields)
        )
        if not missing:
            return
        does, becomes = _MEANING[missing]
        lacking = " and ".join(f"`{f}`" for f in missing)
        verb = "defaults" if len(missing) == 1 else "default"
        message = f"`{describe(node)}` runs {does}: {lacking} {verb} to `*`"
        added = ", ".join(f"{f}=0" for f in missing)
        before = _cron(given)
        after = _cron({**given, **{f: cst.Integer("0") for f in missing}})
        fix = Fix(
            message=(
                f"Add `{added}`: the schedule was `{before}` ({does}) and becomes "
                f"`{after}` ({becomes})"
            ),
            safety=Safety.REVIEW,
            replacements=((node, _with_fields(node, missing)),),
        )
        self.report(node, message, fix=fix, help=_HELP)


def _given_fields(call: cst.Call) -> dict[str, cst.BaseExpression] | None:
    """The schedule fields the call passes, by name; None when `*args` or a `**` argument
    other than a literal dict may pass more."""
    given: dict[str, cst.BaseExpression] = {}
    position = 0
    for arg in call.args:
        if arg.star == "*":
            return None
        if arg.star == "**":
            pairs = _literal_keywords(arg.value)
            if pairs is None:
                return None
            given.update(pairs)
        elif arg.keyword is not None:
            given[arg.keyword.value] = arg.value
        else:
            if position < len(FIELDS):
                given[FIELDS[position]] = arg.value
            position += 1
    return given


def _cron(fields: dict[str, cst.BaseExpression]) -> str:
    """The schedule in cron's order: minute hour day_of_month month_of_year day_of_week."""
    order = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return " ".join(_field_text(fields.get(name)) for name in order)


def _field_text(value: cst.BaseExpression | None) -> str:
    if value is None:
        return "*"
    text = _string_value(value)
    if text is not None:
        return "".join(text.split())
    return " ".join(source_text(value).split())


def _with_fields(call: cst.Call, missing: tuple[str, ...]) -> cst.Call:
    """`call` with `<field>=0` for each missing field, placed after the positional arguments
    (before the first keyword or `**`), spaced like the argument that follows them."""
    args = list(call.args)
    for name in missing:
        args = _insert_field(args, name)
    return call.with_changes(args=args)


def _insert_field(args: list[cst.Arg], name: str) -> list[cst.Arg]:
    """`args` with `name=0` after the keyword of the field just smaller than it (`hour=0`
    after `minute=30`), else after the positional arguments: a missing field is always
    smaller than one passed by keyword or `**` (positional arguments fill `minute` first),
    so some argument follows the positional ones."""
    smaller = FIELDS[: FIELDS.index(name)]
    keywords = [
        i for i, a in enumerate(args) if a.keyword is not None and a.keyword.value in smaller
    ]
    if keywords:
        at = keywords[-1] + 1
    else:
        at = next(i for i, a in enumerate(args) if a.keyword is not None or a.star)
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    comma: cst.Comma | cst.MaybeSentinel = space
    if at == len(args):
        # Last (`crontab(day_of_week=1, minute=5)`): it takes over the call's trailing
        # comma, if any, and the argument before it needs one.
        comma = args[-1].comma
        args = [*args[:-1], args[-1].with_changes(comma=space)]
    elif isinstance(args[at].comma, cst.Comma):
        comma = args[at].comma  # A call spread over lines keeps one argument per line.
    added = cst.Arg(
        keyword=cst.Name(name),
        value=cst.Integer("0"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""),
            whitespace_after=cst.SimpleWhitespace(""),
        ),
        comma=comma,
    )
    return [*args[:at], added, *args[at:]]
