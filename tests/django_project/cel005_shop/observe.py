"""What the test watches, on both sides of the broker.

In the calling process: every message published (Celery's `after_task_publish`), and, at
the point inside the transaction where `inside_transaction` is called, what had been
published and reported by then. In the worker: `report`, which appends what a task saw to
a Redis list named by the scenario's token.
"""

import json
import time

import redis
from celery.signals import after_task_publish
from django.conf import settings

PUBLISHED = []  # (token, args) of every message this process published
INSIDE = {}  # token -> {"published": n, "reports": [...]} seen inside the transaction


class PaymentDeclined(Exception):
    pass


def _client():
    return redis.Redis.from_url(settings.CEL005_OBSERVATIONS_URL)


@after_task_publish.connect
def _published(sender=None, body=None, **kwargs):
    args = body[0] if isinstance(body, (list, tuple)) else []
    if args:
        PUBLISHED.append((args[-1], list(args)))


def published(token):
    return [args for sent, args in PUBLISHED if sent == token]


def report(token, value):
    _client().rpush(token, json.dumps(value))


def reports(token):
    return [json.loads(item) for item in _client().lrange(token, 0, -1)]


def wait_for_reports(token, count, deadline_seconds=15.0):
    """The token's reports once there are `count` of them, or what there is at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    found = reports(token)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        found = reports(token)
    return found


def inside_transaction(token):
    """Called inside the transaction, after the dispatch. If the dispatch already reached
    the broker, give the worker (bounded) time to run the task while the transaction is
    still open, so the race the rule is about happens every time, not now and then. If
    nothing was published (the dispatch waits for the commit), there is nothing to wait for."""
    sent = len(published(token))
    seen = wait_for_reports(token, sent) if sent else []
    INSIDE[token] = {"published": sent, "reports": seen}
