from cel005_site.celery import app

from cel005_shop import observe
from cel005_shop.models import Order


@app.task
def look_up_order(pk, token):
    """What a task that needs the row sees: the order, or nothing."""
    order = Order.objects.filter(pk=pk).first()
    observe.report(token, {"pk": pk, "found": order is not None, "name": getattr(order, "name", None)})
