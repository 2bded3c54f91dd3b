"""CEL005 beyond the fixtures: the prefilter, and what the finding tells the user to do."""

from __future__ import annotations

from celerymod import engine
from celerymod.model import RunConfig

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


def test_the_finding_is_report_only_and_says_how_to_defer_the_dispatch() -> None:
    [finding] = engine.process(_SOURCE, "views.py", _ONLY).findings
    assert (finding.code, finding.span.line, finding.fix) == ("CEL005", 7, None)
    assert "transaction.on_commit(functools.partial(task.delay, ...))" in finding.help
    assert "delay_on_commit" in finding.help
