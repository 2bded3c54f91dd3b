"""Network topology discovery (seed 000): one orchestrator fans out per-device tasks.

`discover_topology_task` dispatches a group and then blocks on `result.get()` inside the
task: the worker raises `RuntimeError: Never call result.get() within a task!`, and with the
guard disabled it deadlocks as soon as every pool slot is waiting.
"""

import logging
from datetime import datetime, timezone

from celery import group

from shop.celery_app import app
from shop.inventory import Device, probe_neighbours

logger = logging.getLogger(__name__)


@app.task(name="discover_single_device")
def discover_single_device_task(device_id, parent_job_id=None):
    device = Device.objects.get(pk=device_id)
    neighbours = probe_neighbours(device.management_ip)
    return {"device_id": device_id, "neighbours": neighbours, "parent_job_id": parent_job_id}


@app.task(bind=True, max_retries=3, default_retry_delay=5)
def ping_device_task(self, device_id):
    device = Device.objects.get(pk=device_id)
    try:
        reachable = device.ping()
    except OSError as exc:
        raise self.retry(exc=exc)
    return {"device_id": device_id, "reachable": reachable}


# CEL001 blocking-subtask-wait, fan-out shape: group(...).apply_async() then result.get(),
# followed by an aggregation tail. The fix moves the tail into a chord callback.
@app.task(bind=True, name="discover_topology")
def discover_topology_task(self, device_ids):
    started_at = datetime.now(timezone.utc)
    logger.info("Creating group of %d parallel tasks", len(device_ids))
    job = group(
        discover_single_device_task.s(device_id, parent_job_id=self.request.id)
        for device_id in device_ids
    )
    result = job.apply_async()
    device_results = result.get()

    devices_data = {}
    errors = {}
    for device_result in device_results:
        if "error" in device_result:
            errors[device_result["device_id"]] = device_result["error"]
        else:
            devices_data[device_result["device_id"]] = device_result["neighbours"]
    return {
        "status": "completed",
        "total_devices": len(device_ids),
        "devices": devices_data,
        "errors": errors,
        "started_at": started_at.isoformat(),
    }


# CEL001 blocking-subtask-wait, loop-of-waits shape: one `.delay(...).get()` per device in a
# list comprehension. Same rewrite as the fan-out: a chord whose callback gets the list.
# Not CEL002: ping_device_task is `bind=True` and uses `self` (retries), so its body cannot
# become a plain helper.
@app.task
def check_reachability_task(device_ids):
    statuses = [ping_device_task.delay(device_id).get() for device_id in device_ids]
    unreachable = [s["device_id"] for s in statuses if not s["reachable"]]
    return {"checked": len(statuses), "unreachable": unreachable}
