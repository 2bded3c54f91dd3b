"""Sales reports: the two workarounds that silence Celery's guard instead of fixing the wait.

`with allow_join_result():` and `.get(disable_sync_subtasks=False)` stop the
`RuntimeError`, but the task still blocks a pool slot while its subtasks wait for one: it
deadlocks with `--pool=solo`, with `-c 1`, and with `-c 2` as soon as two reports run at once.
Both are CEL001 findings, not fixes.
"""

from celery import group, shared_task
from celery.result import AsyncResult, allow_join_result

from shop.mail import mail_report, upload_to_archive


@shared_task
def store_sales_total_task(store_id, day):
    return 0


# CEL001 blocking-subtask-wait inside the `allow_join_result()` workaround, fan-out shape.
# The fix removes the `with` and moves the tail into a chord callback.
@shared_task
def nightly_sales_report_task(day, store_ids):
    with allow_join_result():
        totals = group(
            store_sales_total_task.s(store_id, day) for store_id in store_ids
        ).apply_async().get()
    grand_total = sum(totals)
    mail_report(day, grand_total)
    return grand_total


# CEL001 blocking-subtask-wait: the `disable_sync_subtasks=False` workaround on a result whose
# id arrives as a task argument. No shape the fix knows: reported without a fix.
@shared_task
def archive_export_task(export_id):
    payload = AsyncResult(export_id).get(disable_sync_subtasks=False)
    upload_to_archive(export_id, payload)
    return {"status": "archived", "export_id": export_id}
