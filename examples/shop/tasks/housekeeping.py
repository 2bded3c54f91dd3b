"""Tasks full of lookalikes: every `.get()`, `.join()` and `.wait()` here is fine.

None of these waits on a Celery result, so CEL001 must stay silent on this whole module.
A synchronous `time.sleep` in a task is not CEL003 either (that rule is about `async def`).
"""

import os
import queue
import threading
import time

import requests
from celery import shared_task
from django.conf import settings

from shop.inventory import Device


def _warm(device_id, results):
    results.put(device_id)


@shared_task
def warm_device_cache_task(device_ids):
    # dict.get and a settings mapping's get: not results.
    options = {"timeout": 5}
    timeout = options.get("timeout", 10)
    region = getattr(settings, "SHOP_REGION", {}).get("name", "eu")

    # threading.Thread.join, Event.wait and queue.Queue.get: waits, but not on Celery.
    results = queue.Queue()
    threads = [threading.Thread(target=_warm, args=(d, results)) for d in device_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    done = threading.Event()
    done.wait(0.1)
    warmed = [results.get() for _ in device_ids]

    # str.join and os.path.join.
    report_path = os.path.join("/var/tmp", "warm-" + region + ".txt")
    return {"warmed": ", ".join(str(d) for d in warmed), "report": report_path}


@shared_task
def refresh_exchange_rates_task():
    # requests.get is an HTTP call, not a result wait.
    response = requests.get("https://rates.example.com/latest", timeout=10)
    response.raise_for_status()
    return response.json().get("rates", {})


@shared_task
def wait_for_device_boot_task(device_id):
    # A Django model polled in a loop with a synchronous sleep: slow, but not a subtask wait,
    # and not inside `async def`.
    device = Device.objects.get(pk=device_id)
    for _ in range(30):
        if device.ping():
            return {"device_id": device_id, "booted": True}
        time.sleep(2)
    return {"device_id": device_id, "booted": False}


def collect_results(async_results):
    # A helper, not a task, and no task calls it: it may be called from a web view, where
    # waiting is fine. celerymod reports a helper's waits only when a task reaches it.
    return [r.get(timeout=30) for r in async_results]
