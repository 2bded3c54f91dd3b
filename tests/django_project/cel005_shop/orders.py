from django.db import transaction

from cel005_shop import observe
from cel005_shop.models import Order
from cel005_shop.tasks import look_up_order, look_up_order_in


def place_order(name, token):
    with transaction.atomic():
        order = Order.objects.create(name=name)
        look_up_order.delay(order.pk, token)
        observe.inside_transaction(token)
    return order.pk


def place_orders(names, token):
    with transaction.atomic():
        for name in names:
            order = Order.objects.create(name=name)
            look_up_order.delay(order.pk, token)
        observe.inside_transaction(token)


def place_order_in_other_database(name, token):
    with transaction.atomic(using="other"):
        order = Order.objects.using("other").create(name=name)
        look_up_order_in.delay("other", order.pk, token)
        observe.inside_transaction(token)
    return order.pk


@transaction.atomic
def place_declined_order(name, token):
    order = Order.objects.create(name=name)
    look_up_order.apply_async(args=[order.pk, token], countdown=0)
    observe.inside_transaction(token)
    raise observe.PaymentDeclined(order.pk)
