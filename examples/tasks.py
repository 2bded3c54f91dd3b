"""Developer commands for the shop, run with invoke (`inv worker`, `inv wait-for <id>`).

invoke's `@task` is not Celery's: these functions are not Celery tasks, and waiting on a
result from a command line is fine. celerymod resolves decorator names through imports, so
nothing here is a finding.
"""

from celery.result import AsyncResult
from invoke import task

from shop.celery_app import app


@task
def worker(c, concurrency=2):
    c.run(f"celery -A shop.celery_app worker --pool=prefork -c {concurrency}")


@task
def wait_for(c, job_id, timeout=600):
    print(AsyncResult(job_id, app=app).get(timeout=timeout))
