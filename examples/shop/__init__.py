"""shop: a small web shop whose Celery tasks carry the orchestration mistakes celerymod finds."""
