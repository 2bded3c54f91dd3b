"""Task modules; each is listed in `shop.celery_app.app`'s `include`."""
