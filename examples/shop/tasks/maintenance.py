"""Scheduled maintenance (seed 001, `data_enhancement_tasks.py`): a task in another module.

`enhance_pending_codebundles_task` waits on `enhance_codebundle_task`, which lives in
`shop.tasks.enhancement`. CEL002's fix edits both files in one change: the helper is created
next to the task and imported here.
"""

import logging

from celery import shared_task

from shop.inventory import CodeBundle
from shop.tasks.enhancement import enhance_codebundle_task

logger = logging.getLogger(__name__)


# CEL002 nested-task-call across modules. The `queue=` dispatch option has no meaning for a
# plain call: the fix drops it and is review (the body would run on this task's worker).
@shared_task
def enhance_pending_codebundles_task():
    pending = CodeBundle.objects.filter(description="")
    if not pending:
        return {"status": "completed", "message": "No pending CodeBundles found"}
    enhanced = 0
    for codebundle in pending:
        enhance_result = enhance_codebundle_task.apply_async(
            args=[codebundle.id], queue="enhancement"
        ).get()
        if enhance_result["status"] == "enhanced":
            enhanced += 1
    return {"status": "completed", "enhanced": enhanced}
