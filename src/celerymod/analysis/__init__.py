"""Celery's view of a module and of the project (DESIGN §3), shared by the rules."""
