from django.db import models


class Order(models.Model):
    """What django-webhook sends: its post_save makes one ``fire_webhook`` task per row.

    ``note`` pads the serialised row to about 1 KiB, like the other contenders' bodies.
    """

    number = models.PositiveIntegerField()
    note = models.TextField()

    def __str__(self) -> str:
        return f"Order {self.number}"
