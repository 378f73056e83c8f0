from django.db import models


class Order(models.Model):
    """The sending side's business data: placing one sends ``order.created``."""

    customer = models.CharField(max_length=100)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.customer}, {self.total})"


class OrderNotification(models.Model):
    """The receiving side's business data: what a receiver did with ``order.created``.

    Written by the receivers' ``handle`` (shop/views.py), which runs once per
    (source, webhook id). There is deliberately no unique constraint here: if a
    handler ever ran twice for one webhook, two rows would show it, and demo.py
    checks that there is exactly one.
    """

    source = models.CharField(max_length=50, help_text="The receiver that recorded it.")
    webhook_id = models.CharField(max_length=100)
    order_id = models.BigIntegerField()
    customer = models.CharField(max_length=100)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["webhook_id"], name="shop_notification_webhook")]

    def __str__(self) -> str:
        return f"{self.source}: order #{self.order_id} ({self.webhook_id})"
