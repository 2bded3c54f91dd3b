"""The shop's async HTTP API (FastAPI): starts jobs and reports their progress.

The endpoints run on an event loop. `time.sleep` in one of them (CEL003) freezes every other
request in the process for the length of the sleep: the polling endpoint below stalls the
whole server while it waits.
"""

import asyncio
import time
from time import sleep

from celery.result import AsyncResult, GroupResult
from fastapi import APIRouter, HTTPException

from shop.celery_app import app
from shop.tasks.topology import discover_topology_task

router = APIRouter()


@router.post("/discover")
async def start_discovery(device_ids: list[str]):
    result = discover_topology_task.delay(device_ids)
    return {"job_id": result.id}


# CEL003 blocking-sleep-in-async: `time.sleep` polling inside an async endpoint.
# Fix: `await asyncio.sleep(0.5)` (asyncio is already imported here).
@router.get("/discover/{job_id}/wait")
async def wait_for_discovery(job_id: str, timeout: float = 30.0):
    result = AsyncResult(job_id, app=app)
    deadline = time.monotonic() + timeout
    while not result.ready():
        if time.monotonic() > deadline:
            raise HTTPException(status_code=504, detail="still running")
        time.sleep(0.5)
    return {"job_id": job_id, "status": result.status, "result": result.result}


# CEL003 blocking-sleep-in-async through `from time import sleep`.
# Fix: `await asyncio.sleep(1)`; the `from time import sleep` import goes once unused.
@router.post("/cache/warm")
async def warm_cache():
    app.control.broadcast("pool_restart", arguments={"reload": False})
    sleep(1)
    return {"status": "restarting"}


# Not a finding: `time.sleep` passed as a value to run in a thread is the right way to block.
@router.post("/cache/flush")
async def flush_cache():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, time.sleep, 0.2)
    return {"status": "flushed"}


# Not a finding: reading a group's progress from outside any task (seed 000's progress
# endpoint). `GroupResult.restore` needs the orchestrator to have called `group_result.save()`.
@router.get("/discover/{group_id}/progress")
async def discovery_progress(group_id: str):
    group_result = GroupResult.restore(group_id, app=app)
    if group_result is None:
        raise HTTPException(status_code=404, detail="unknown group")
    states = [child.status for child in group_result.results]
    return {
        "total": len(states),
        "completed": states.count("SUCCESS"),
        "failed": states.count("FAILURE"),
    }
