"""The shop's Celery application: Redis broker and result backend, JSON only."""

import os

from celery import Celery

app = Celery(
    "shop",
    broker=os.environ.get("SHOP_BROKER_URL", "redis://localhost:6379/0"),
    backend=os.environ.get("SHOP_RESULT_BACKEND", "redis://localhost:6379/1"),
    include=[
        "shop.tasks.topology",
        "shop.tasks.registry",
        "shop.tasks.enhancement",
        "shop.tasks.maintenance",
        "shop.tasks.reports",
        "shop.tasks.housekeeping",
    ],
)

app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    task_track_started=True,
    result_expires=3600,
)
