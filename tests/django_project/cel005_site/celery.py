import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cel005_site.settings")

app = Celery("cel005_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
