"""CEL005 beyond the fixtures: the prefilter, and what the finding tells the user to do."""

from __future__ import annotations

from celerymod import engine
from celerymod.model import RunConfig, Safety

_ONLY = RunConfig(select=frozenset({"CEL005"}))

_SOURCE = b"""from django.db import transaction
from shop.tasks import send_confirmation


def place_order(order_id):
    with transaction.atomic():
        send_confirmation.delay(order_id)
"""


def test_a_file_without_atomic_or_without_a_dispatch_is_not_parsed() -> None:
    assert not engine.process(_SOURCE.replace(b"atomic", b"commit"), "v.py", _ONLY).parsed
    assert not engine.process(_SOURCE.replace(b".delay(", b".run("), "v.py", _ONLY).parsed


def test_the_finding_says_how_to_defer_the_dispatch() -> None:
    [finding] = engine.process(_SOURCE, "views.py", _ONLY).findings
    assert (finding.code, finding.span.line) == ("CEL005", 7)
    assert "transaction.on_commit(functools.partial(task.delay, ...))" in finding.help
    assert "delay_on_commit" in finding.help


def test_the_fix_is_review_and_says_what_changes() -> None:
    [finding] = engine.process(_SOURCE, "views.py", _ONLY).findings
    assert finding.fix is not None
    assert finding.fix.safety is Safety.REVIEW
    message = finding.fix.message
    assert "`transaction.on_commit(functools.partial(send_confirmation.delay, ...))`" in message
    assert "never if it rolls back" in message
    assert "TestCase" in message and "captureOnCommitCallbacks" in message
    assert "eager" in message


def test_fix_write_leaves_it_without_unsafe_fixes() -> None:
    """A review fix: `fix --write` alone must not apply it."""
    safe_only = RunConfig(select=frozenset({"CEL005"}), unsafe_fixes=False)
    assert engine.process(_SOURCE, "views.py", safe_only).new_source is None
    unsafe = RunConfig(select=frozenset({"CEL005"}), unsafe_fixes=True)
    fixed = engine.process(_SOURCE, "views.py", unsafe).new_source
    assert fixed is not None
    assert b"transaction.on_commit(functools.partial(send_confirmation.delay, order_id))" in fixed
