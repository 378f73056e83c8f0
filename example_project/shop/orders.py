"""Business code: an order and its webhook are written in one transaction."""

from decimal import Decimal

from django.db import transaction

from shop.models import Order
from webhooks_app import send_event


def place_order(customer: str, total: Decimal, *, merchant: str = "") -> Order:
    """Create an order and record its ``order.created`` webhook.

    ``merchant`` is the shop's business customer the order was placed with (a
    tenant): its webhook goes to that merchant's endpoints only; "" is the
    shop's own.

    ``send_event`` writes the event and its deliveries in this transaction (a
    transactional outbox): if anything below raises, neither the order nor
    the webhook exists, and nothing is ever sent. The Celery task is enqueued
    only once the transaction has committed.
    """
    with transaction.atomic():
        order = Order.objects.create(customer=customer, total=total)
        send_event(
            "order.created",
            {"order_id": order.pk, "customer": order.customer, "total": str(order.total)},
            tenant=merchant,
            # The same key twice returns the first event and sends nothing new.
            idempotency_key=f"order-{order.pk}-created",
        )
    return order
