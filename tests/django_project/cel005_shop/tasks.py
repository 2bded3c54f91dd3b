from cel005_site.celery import app

from cel005_shop import observe
from cel005_shop.models import Order


@app.task
def look_up_order(pk, token):
    """What a task that needs the row sees: the order, or nothing."""
    _report(Order.objects.filter(pk=pk).first(), pk, token)


@app.task
def look_up_order_in(database, pk, token):
    """The same, for an order in another database."""
    _report(Order.objects.using(database).filter(pk=pk).first(), pk, token)


def _report(order, pk, token):
    observe.report(token, {"pk": pk, "found": order is not None, "name": getattr(order, "name", None)})
