"""AI enhancement of code bundles (seed 001, `ai_enhancement_tasks.py`).

`enhance_multiple_codebundles_task` runs `enhance_codebundle_task` for each bundle with
`.apply(...)` and then `.get()`. Even an eager `apply()` result is guarded inside a worker, so
this raises `RuntimeError: Never call result.get() within a task!` (DESIGN §1).
"""

import logging

from celery import shared_task

from shop.inventory import CodeBundle
from shop.llm import describe

logger = logging.getLogger(__name__)


@shared_task
def enhance_codebundle_task(codebundle_id):
    bundle = CodeBundle.objects.get(pk=codebundle_id)
    bundle.description = describe(bundle.source)
    bundle.save(update_fields=["description"])
    logger.info("Enhanced code bundle %s", codebundle_id)
    return {"id": codebundle_id, "status": "enhanced"}


# CEL002 nested-task-call: a waited call, in a loop, of a task defined in this project.
# Fix: move enhance_codebundle_task's body into `_enhance_codebundle(codebundle_id)`, make the
# task a one-line wrapper around it, and call the helper here instead of the task.
@shared_task
def enhance_multiple_codebundles_task(codebundle_ids):
    results = []
    for codebundle_id in codebundle_ids:
        result = enhance_codebundle_task.apply(args=[codebundle_id])
        results.append(result.get())
    return {"status": "completed", "results": results}
