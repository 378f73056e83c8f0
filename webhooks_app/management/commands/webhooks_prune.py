"""Delete old webhook history in batches."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from webhooks_app.models import Attempt, Delivery, Event, InboundEvent


class Command(BaseCommand):
    help = (
        "Delete events older than --days whose deliveries are all finished (with their "
        "deliveries and attempts), and inbound events older than --days that are not pending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, required=True, help="Keep this many days.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows per batch.")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go.")

    def handle(self, *args, days: float, batch_size: int, dry_run: bool, **options) -> None:
        if days <= 0:
            raise CommandError("--days must be positive")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        events = Event.objects.filter(created_at__lt=cutoff).exclude(
            deliveries__status=Delivery.Status.PENDING
        )
        inbound = InboundEvent.objects.filter(received_at__lt=cutoff).exclude(
            status=InboundEvent.Status.PENDING
        )
        if dry_run:
            self.stdout.write(
                f"Would delete {events.count()} events and {inbound.count()} inbound events "
                f"older than {cutoff:%Y-%m-%d %H:%M}."
            )
            return
        deleted_events = self.in_batches("Events", events, batch_size, delete_events)
        deleted_inbound = self.in_batches(
            "Inbound events",
            inbound,
            batch_size,
            lambda ids: InboundEvent.objects.filter(pk__in=ids).delete(),
        )
        self.stdout.write(
            f"Deleted {deleted_events} events (with their deliveries and attempts) and "
            f"{deleted_inbound} inbound events older than {cutoff:%Y-%m-%d %H:%M}."
        )

    def in_batches(self, label: str, rows: QuerySet, batch_size: int, delete) -> int:
        """Delete ``rows`` a batch at a time, each in its own short transaction."""
        total, done = rows.count(), 0
        while True:
            ids = list(rows.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                delete(ids)
            done += len(ids)
            self.progress(label, done, total)
        return done

    def progress(self, label: str, done: int, total: int, width: int = 30) -> None:
        filled = width * done // max(total, done, 1)
        bar = "#" * filled + "." * (width - filled)
        self.stderr.write(f"{label}: [{bar}] {done}/{max(total, done)}")


def delete_events(ids: list) -> None:
    # Children first, each in one statement, so no cascade loads rows into memory.
    Attempt.objects.filter(delivery__event_id__in=ids).delete()
    Delivery.objects.filter(event_id__in=ids).delete()
    Event.objects.filter(pk__in=ids).delete()
