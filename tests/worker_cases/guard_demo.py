"""Worker-harness demo tasks (loaded as module ``wc_guard_demo``).

Each orchestration pattern of DESIGN.md section 1, run on the real prefork worker by
tests/test_worker_harness.py.  Task names are ``wc_guard_demo.<function>``.
"""

from celery import chain, chord, group, shared_task


@shared_task
def double(x):
    return x * 2


@shared_task
def add(x, y):
    return x + y


@shared_task
def tsum(values):
    return sum(values)


# -- guarded waits: must fail with "Never call result.get() within a task!"


@shared_task
def wait_on_delay(x):
    return double.delay(x).get(timeout=10)


@shared_task
def wait_on_apply(x):
    return double.apply(args=[x]).get()


# -- guard-free orchestration


@shared_task
def dispatch_chain(x, y):
    """Independent steps chained with .si(): the last step ignores the first's result."""
    res = chain(double.si(x), add.si(y, y)).apply_async()
    return {"chain_id": res.id, "first_id": res.parent.id}


@shared_task
def dispatch_group(xs, save=True):
    res = group(double.si(x) for x in xs).apply_async()
    if save:
        res.save()
    return {"group_id": res.id}


@shared_task(bind=True)
def replace_with_chord(self, xs):
    """The caller waiting on this task's id gets tsum([2x for x in xs])."""
    return self.replace(chord([double.si(x) for x in xs], tsum.s()))
