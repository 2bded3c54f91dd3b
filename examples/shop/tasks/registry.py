"""Catalog registry population (seed 001, `data_tasks.py` and `data_population_tasks.py`).

Each orchestrator runs its steps one after the other by dispatching a task and waiting for
it with `.get()`. Several waits in a row inside one task are CEL001's *sequence* and
*pipeline* shapes; the fix is one `chain`.

Note on `.s()` versus `.si()`: `chain(a.s(), b.s(y))` calls `b(result_of_a, y)`. The seed's
hand-written fix used `.s()` for steps that do not take the previous result, which passes
the wrong arguments. Independent steps need `.si()`.
"""

from celery import shared_task

from shop.catalog import clone, load_yaml, parse_all, parse_collection, sync


@shared_task
def store_yaml_data_task():
    return load_yaml()


@shared_task
def clone_repositories_task(collection_slugs):
    return clone(collection_slugs)


@shared_task
def parse_stored_data_task():
    return parse_all()


@shared_task
def sync_collections_task(collection_slugs):
    return sync(collection_slugs)


@shared_task
def parse_collection_codebundles_task(collection_slug):
    return parse_collection(collection_slug)


@shared_task
def fetch_price_rows_task(supplier_id):
    return [{"sku": "A-1", "price": 12}]


@shared_task
def render_price_list_task(rows):
    return f"{len(rows)} rows"


# CEL001 blocking-subtask-wait, sequence shape: three independent steps, each dispatched and
# waited for. Fix: chain(store_yaml_data_task.si(), clone_repositories_task.si(collection_slugs),
# parse_stored_data_task.si()).
@shared_task
def populate_registry_task(collection_slugs):
    yaml_result = store_yaml_data_task.apply_async()
    yaml_result.get()
    clone_result = clone_repositories_task.apply_async(args=[collection_slugs])
    clone_result.get()
    parse_stored_data_task.delay().get()
    return {"status": "completed"}


# CEL001 blocking-subtask-wait, sequence shape (seed 001's `sync_single_collection_task`):
# the second step takes `collection_slug`, not the first step's result, so both become `.si()`.
@shared_task
def sync_single_collection_task(collection_slug):
    sync_collections_task.delay([collection_slug]).get()
    parse_collection_codebundles_task.delay(collection_slug).get()
    return {"status": "completed", "collection": collection_slug}


# CEL001 blocking-subtask-wait, pipeline shape: the first step's result is the second step's
# only argument. Fix: chain(fetch_price_rows_task.s(supplier_id), render_price_list_task.s()).
@shared_task
def publish_price_list_task(supplier_id):
    rows = fetch_price_rows_task.delay(supplier_id).get()
    render_price_list_task.delay(rows).get()
    return {"status": "completed"}
