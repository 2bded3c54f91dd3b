"""Synchronous Django views: waiting for a result here is allowed.

Celery's guard only applies inside a task. A plain (non-async) web view may block on
`.get(timeout=...)`; it holds a web worker, not a Celery pool slot. No rule fires here.
"""

from celery.result import AsyncResult
from django.http import JsonResponse

from shop.celery_app import app
from shop.tasks.registry import publish_price_list_task


def price_list(request, supplier_id):
    result = publish_price_list_task.delay(supplier_id)
    payload = result.get(timeout=30)
    return JsonResponse(payload)


def job_status(request, job_id):
    result = AsyncResult(job_id, app=app)
    info = request.GET.get("verbose") and result.info
    return JsonResponse({"status": result.status, "info": info})
