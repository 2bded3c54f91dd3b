"""celerymod: find and rewrite Celery orchestration mistakes."""

__version__ = "0.1.0"
