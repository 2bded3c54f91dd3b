"""CEL001 fix messages and safety for the cases whose fixture cannot show them (flat fixture
findings print `[*]`, not the fix's message or safety)."""

from __future__ import annotations

import json
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


def test_replace_with_a_chord_is_review_and_names_chord_error() -> None:
    """Defect 3: a failing header task reaches the caller as `ChordError` (the worker tests
    check it against the docs), so a chord or group `replace` is not safe."""
    for name in (
        "task_name_fstring_replace",
        "fan_out_group_get_replace",
        "loop_of_waits_comprehension_apply_async_replace",
    ):
        fix = _fix(name)
        assert fix.safety is Safety.REVIEW, name
        assert "a failing subtask now reaches whoever waits on the result as `ChordError`" in (
            fix.message
        ), fix.message


def test_replace_with_a_chain_keeps_failures_and_stays_safe() -> None:
    fix = _fix("imported_name_taken_by_itertools_chain_replace")
    assert fix.safety is Safety.SAFE
    assert "ChordError" not in fix.message


def test_autoretry_for_makes_replace_review_and_says_why() -> None:
    fix = _fix("autoretry_for_on_task_replace")
    assert fix.safety is Safety.REVIEW
    assert "`autoretry_for` no longer retries the task when a subtask fails" in fix.message


def test_a_workaround_under_replace_is_review_for_eager_delay() -> None:
    fix = _fix("workaround_allow_join_result_sequence_replace")
    assert fix.safety is Safety.REVIEW
    assert "under `task_always_eager`, `.delay()` of the task now raises" in fix.message


def test_a_metadata_group_says_it_needs_a_backend_that_stores_groups() -> None:
    message = _fix("loop_of_waits_comprehension_apply_async_metadata").message
    assert "`GroupResult.save()` needs a result backend that stores groups" in message


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


def test_values_that_may_not_survive_json_are_named_and_make_the_fix_review() -> None:
    """Defect 6: a value from a call and a tuple (JSON gives back a list) are named; the
    task parameter `currency`, which came through the serializer already, is not."""
    fix = _fix("callback_values_unknown_or_tuple_named_replace")
    assert fix.safety is Safety.REVIEW
    assert "`started`, `bounds` now travel to the callback through the serializer" in (
        fix.message
    ), fix.message
    assert "`currency`" not in fix.message


def test_values_that_cannot_go_through_json_get_no_fix() -> None:
    for name, what in (
        ("callback_value_is_a_set_not_fixed", "`wanted` is a set"),
        ("callback_value_is_a_model_instance_not_fixed", "`order` is a model instance"),
    ):
        (finding,) = _findings(name)
        assert finding.fix is None
        # Why there is no fix is the finding's help line; its line says what it is.
        assert what in finding.help and "pass what the callback needs" in finding.help


_QUOTE_TASKS = """\
from celery import group, shared_task


@shared_task
def price(sku):
    return [sku, 10]


@shared_task
def quote(skus):
    prices = group(price.s(s) for s in skus).apply_async().get()
    return sum(p[1] for p in prices)
"""

_QUOTE_VIEWS = """\
from shop import tasks
from shop.tasks import quote


def view(request):
    total = quote.delay(request.skus).get(timeout=5)
    quote.delay(["fire and forget"])
    return total, tasks.quote.apply_async(args=[["y"]])


def pipeline(app):
    app.send_task("shop.tasks.quote", args=[["z"]]).get()
    return quote.s(["a"]) | price.s()
"""


def test_metadata_lists_the_places_that_read_the_task_return_value(tmp_path: Path) -> None:
    """Defect 7: the task now returns the metadata dict; the message names every place in
    the scanned project that reads what it returned, and not a dispatch that drops it."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "tasks.py").write_text(_QUOTE_TASKS)
    (tmp_path / "shop" / "views.py").write_text(_QUOTE_VIEWS)
    result = celerymod("check", "--format", "json", ".", cwd=tmp_path)
    (finding,) = [
        f
        for f in json.loads(result.stdout)["findings"]
        if f["code"] == "CEL001" and f["fix"]["available"]
    ]
    readers = (
        "these read its return value and get that dict now: shop/views.py:6 (its result), "
        "shop/views.py:8 (its result), shop/views.py:12 (its result), "
        "shop/views.py:13 (a signature)"
    )
    assert readers in finding["fix"]["message"], finding["fix"]["message"]

    (tmp_path / "shop" / "views.py").write_text("def view():\n    return None\n")
    result = celerymod("check", "--format", "json", ".", cwd=tmp_path)
    (finding,) = [
        f
        for f in json.loads(result.stdout)["findings"]
        if f["code"] == "CEL001" and f["fix"]["available"]
    ]
    assert "no scanned file reads its return value" in finding["fix"]["message"]


# -- polling loops (`while not res.ready():`) rewritten as the wait they stand for --

_EAGER = "under `task_always_eager`, `.delay()` of the task now raises Celery's guard"
_STOPS = "when a subtask fails, the code after the polling loop no longer runs"


def _poll_fixes(body: str, strategy: str = "replace") -> list[FixInfo]:
    """The fix of the polling loop's finding in `crawl` (a `res.get()` after the loop has a
    finding and a fix of its own: `disable_sync_subtasks=False`)."""
    from celerymod.model import RunConfig, Strategy

    source = (
        "import time\n\nfrom celery import shared_task\n\n\n@shared_task\n"
        "def fetch(url):\n    return url\n\n\n@shared_task\ndef crawl(url):\n"
        "    res = fetch.delay(url)\n" + body
    )
    config = RunConfig(strategy=Strategy(strategy), unsafe_fixes=True)
    result = engine.process(source.encode(), "tasks.py", config)
    return [f.fix for f in result.findings if f.fix is not None and "polls" in f.message]


def test_a_poll_that_prints_and_reads_result_is_review_and_says_all_it_changes() -> None:
    for name in ("poll_result_read_after_loop_metadata", "poll_result_read_after_loop_replace"):
        fix = _fix(name)
        assert fix.safety is Safety.REVIEW, name
        assert "drops the polling loop's `print(result.ready())`" in fix.message
        assert f"{_STOPS} (the callback never does)" in fix.message
        assert "with `result.result` holding the exception" in fix.message
        assert (_EAGER in fix.message) == name.endswith("replace"), fix.message


def test_a_poll_that_only_sleeps_before_a_raising_get_is_as_safe_as_the_get() -> None:
    """Body only `time.sleep`, then `v = res.get()`: a failure raises at the `.get()` in the
    original as in the chain, and eager `.delay()` met the guard there too: safe (replace)."""
    (fix,) = _poll_fixes(
        "    while not res.ready():\n        time.sleep(1)\n    return res.get()\n"
    )
    assert fix.safety is Safety.SAFE, fix.message
    assert _STOPS not in fix.message and _EAGER not in fix.message
    (fix,) = _poll_fixes(
        "    while not res.ready():\n        time.sleep(1)\n    return res.get()\n", "metadata"
    )
    assert fix.safety is Safety.REVIEW


def test_a_raising_get_taken_first_in_a_larger_statement_fails_as_the_original() -> None:
    """`total = res.get() + 1` right after the loop raised the failure before anything else
    ran, as the chain now stops: no failure note (the loop body only sleeps: safe)."""
    (fix,) = _poll_fixes(
        "    while not res.ready():\n        time.sleep(1)\n    total = res.get() + 1\n"
        "    return total\n"
    )
    assert fix.safety is Safety.SAFE, fix.message


def test_a_poll_before_a_sound_get_is_review_for_eager_delay_only() -> None:
    fix = _fix("poll_then_get_sound_replace")
    assert fix.safety is Safety.REVIEW
    assert _EAGER in fix.message
    assert _STOPS not in fix.message and "drops the polling loop" not in fix.message


def test_a_poll_whose_value_is_not_read_right_after_it_is_review() -> None:
    for body, went_on in (
        # Nothing reads the value: the original went on after a failure.
        ("    while not res.ready():\n        time.sleep(1)\n    return 1\n", "went on"),
        # `propagate=False`: the value was the exception.
        (
            "    while not res.ready():\n        time.sleep(1)\n"
            "    return res.get(propagate=False)\n",
            "holding the exception",
        ),
        # A call before the `.get()` in the statement after the loop ran after a failure.
        (
            "    while not res.ready():\n        time.sleep(1)\n"
            "    return [print(url), res.get()]\n",
            "went on",
        ),
        # The `.get()` runs only under a condition.
        (
            "    while not res.ready():\n        time.sleep(1)\n"
            "    return url or res.get()\n",
            "went on",
        ),
        # A statement ran between the loop and the `.get()`, also after a failure.
        (
            "    while not res.ready():\n        time.sleep(1)\n    print(url)\n"
            "    return res.get()\n",
            "went on",
        ),
    ):
        (fix,) = _poll_fixes(body)
        assert fix.safety is Safety.REVIEW, body
        assert _STOPS in fix.message and went_on in fix.message, fix.message


def test_a_barrier_wait_read_afterwards_keeps_the_get_shapes_safety() -> None:
    assert _fix("wait_barrier_then_result_replace").safety is Safety.SAFE
    assert _fix("wait_barrier_then_result_metadata").safety is Safety.REVIEW


def _fixes_by_task(name: str) -> dict[str, FixInfo]:
    """Each fix of a case with several tasks, by the task its message's callback names."""
    found = {}
    for finding in _findings(name):
        if finding.fix is not None:
            task = finding.message.rsplit("inside task `", 1)[1].rstrip("`")
            found[task] = finding.fix
    return found


def test_a_parameter_default_did_not_travel_and_makes_the_fix_review() -> None:
    """A tuple default comes back from JSON a list (`fields + ("exported",)` raised
    `TypeError` in the callback on the worker under a fix labelled safe); a parameter the
    caller always sends stays safe."""
    fixes = _fixes_by_task("callback_value_is_a_parameter_default_or_rebound_replace")
    assert set(fixes) == {"export", "export_limited", "export_some"}  # Sets: no fix.
    assert fixes["export"].safety is Safety.REVIEW
    assert "`fields` now travels to the callback through the serializer" in (
        fixes["export"].message
    )
    assert fixes["export_limited"].safety is Safety.SAFE
    assert fixes["export_some"].safety is Safety.SAFE  # `ids = ids or []`: sent, or a list.


def test_a_later_step_argument_that_calls_something_makes_the_fix_review() -> None:
    fixes = _fixes_by_task("sequence_later_step_argument_calls_something_replace")
    assert fixes["update_shop"].safety is Safety.REVIEW
    assert "`current_version(shop_id)` now runs when the chain is built, before its first" in (
        fixes["update_shop"].message
    )
    assert fixes["update_shop_pinned"].safety is Safety.SAFE


def test_a_task_the_project_calls_directly_gets_a_review_replace_naming_the_callers(
    tmp_path: Path,
) -> None:
    """`self.replace` in a direct call (`refresh(x)`, `refresh.run(x)`) raises `Ignore`: a
    task the scanned project calls so (here and from another module) gets a review fix that
    names the callers; `fix --write` leaves it and rewrites the task only dispatched."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    source = _case("replace_task_called_directly_replace").input.read_text()
    (tmp_path / "shop" / "tasks.py").write_text(source)
    (tmp_path / "shop" / "admin.py").write_text(
        "from shop.tasks import refresh\n\n\ndef button(shop_id):\n    return refresh(shop_id)\n"
    )
    result = celerymod("check", "--format", "json", "--strategy", "replace", ".", cwd=tmp_path)
    fixes = {
        f["message"].rsplit("inside task `", 1)[1].rstrip("`"): f["fix"]
        for f in json.loads(result.stdout)["findings"]
        if f["fix"]["available"]
    }
    assert fixes["refresh"]["safety"] == "review"
    assert fixes["refresh"]["message"].endswith(
        "now raises `celery.exceptions.Ignore` from `self.replace` after sending the chain; "
        "these call it so: `shop.admin.button`, `shop.tasks.Command.handle`, "
        "`shop.tasks.refresh_now`"
    ), fixes["refresh"]["message"]
    assert fixes["rebuild"]["safety"] == "safe"  # Only dispatched, never called directly.
    celerymod("fix", "--write", "--strategy", "replace", ".", cwd=tmp_path)
    written = (tmp_path / "shop" / "tasks.py").read_text()
    assert "def rebuild_finish(" in written and "def refresh_finish(" not in written


def test_a_custom_base_class_makes_replace_review() -> None:
    """Its hooks ran when the task finished; replaced, they run for the callback (on the
    worker `on_success` saw `sync_finish`; eagerly both ran)."""
    fix = _fix("task_base_class_hooks_replace")
    assert fix.safety is Safety.REVIEW
    assert "the hooks of `base=NotifyingTask` (`on_success`, `after_return`, ...)" in fix.message


def test_apply_step_arguments_that_may_not_survive_json_make_the_fix_review() -> None:
    """`.apply()` passed its arguments as they were; a chain step's go through JSON (a set
    raised `EncodeError` on the worker, a tuple arrived a list, under fixes labelled safe)."""
    fixes = _fixes_by_task("apply_step_arguments_now_serialized_replace")
    assert set(fixes) == {"kinds", "plain", "plain_names"}  # The set: no fix.
    assert fixes["kinds"].safety is Safety.REVIEW
    assert '`(x, "a")`, passed as it was by `.apply()`, now goes through the serializer' in (
        fixes["kinds"].message
    )
    assert fixes["plain"].safety is Safety.REVIEW
    assert fixes["plain_names"].safety is Safety.SAFE  # A parameter, a list of literals.


def test_a_direct_call_through_a_star_reexporting_package_is_found(tmp_path: Path) -> None:
    """`from shop.tasks import refresh` where `shop/tasks/__init__.py` re-exports the task
    module with `from .jobs import *` (a common tasks package): the index does not follow
    star imports, and the direct call was missed (the fix stayed safe; the test calling
    `refresh(1)` then got `Ignore`)."""
    package = tmp_path / "shop" / "tasks"
    package.mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from .jobs import *  # noqa: F403\n")
    source = _case("replace_task_called_directly_replace").input.read_text()
    (package / "jobs.py").write_text(source.split("\ndef refresh_now", 1)[0])
    (tmp_path / "test_jobs.py").write_text(
        "from shop.tasks import refresh\n\n\ndef test_refresh():\n    assert refresh(1)\n"
    )
    result = celerymod("check", "--format", "json", "--strategy", "replace", ".", cwd=tmp_path)
    fixes = {
        f["message"].rsplit("inside task `", 1)[1].rstrip("`"): f["fix"]
        for f in json.loads(result.stdout)["findings"]
        if f["fix"]["available"]
    }
    assert fixes["refresh"]["safety"] == "review"
    assert fixes["refresh"]["message"].endswith("these call it so: `test_jobs.test_refresh`")
    assert fixes["rebuild"]["safety"] == "safe"
