# As Celery's Django guide writes it: the app is loaded with Django, so tasks bind to it.
from .celery import app as celery_app

__all__ = ("celery_app",)
