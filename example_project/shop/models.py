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


class ReceivedWebhook(models.Model):
    """The receiving side: one row per webhook id and receiver, however often it arrives.

    At-least-once delivery means the same webhook can arrive more than once;
    the unique constraint makes processing happen once.
    """

    source = models.CharField(max_length=50)
    webhook_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    times_received = models.PositiveIntegerField(default=1)
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "webhook_id"], name="shop_receivedwebhook_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.event_type} {self.webhook_id}"
