"""Plain helpers the registry tasks call (not Celery code)."""


def load_yaml():
    return {}


def clone(collection_slugs):
    return list(collection_slugs)


def parse_all():
    return 0


def sync(collection_slugs):
    return list(collection_slugs)


def parse_collection(collection_slug):
    return 0
