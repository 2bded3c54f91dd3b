"""A stand-in for the shop's language-model client (not Celery code)."""


def describe(source):
    return source[:80]
