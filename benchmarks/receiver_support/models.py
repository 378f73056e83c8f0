"""The benchmark's tables, created with ``migrate --run-syncdb`` (no migrations)."""

from django.db import models


class HandWrittenEvent(models.Model):
    """The hand-written view's dedup table: one row per event id."""

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.event_id


class HandledRow(models.Model):
    """What a handler writes: one row per new event, for either contender."""

    contender = models.CharField(max_length=10)
    event_id = models.CharField(max_length=255)
    order_id = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.contender}:{self.event_id}"


def truncate() -> None:
    """Empty the benchmark's tables: both contenders' dedup rows and their handled rows."""
    from django.db import connection

    from webhooks_app.models import InboundEvent

    tables = [model._meta.db_table for model in (HandledRow, HandWrittenEvent, InboundEvent)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
