"""Tasks for CEL004's real-worker test (loaded as module ``wc_async_waits``): slow enough
that a wait on them is long next to an event loop's heartbeat."""

import time

from celery import shared_task


@shared_task
def slow_double(x, seconds):
    time.sleep(seconds)
    return x * 2


@shared_task
def slow_failure(seconds):
    time.sleep(seconds)
    raise ValueError(f"failed after {seconds}")
