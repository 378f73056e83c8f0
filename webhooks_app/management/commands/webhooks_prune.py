"""Delete old webhook history in batches."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.models import Attempt, Delivery, Event, InboundEvent


class Command(WebhooksCommand):
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
            raise CommandError(_("--days must be positive"))
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1"))
        cutoff = timezone.now() - timedelta(days=days)
        events = Event.objects.filter(created_at__lt=cutoff).exclude(
            deliveries__status=Delivery.Status.PENDING
        )
        inbound = InboundEvent.objects.filter(received_at__lt=cutoff).exclude(
            status=InboundEvent.Status.PENDING
        )
        when = f"{cutoff:%Y-%m-%d %H:%M}"
        if dry_run:
            count, inbound_count = events.count(), inbound.count()
            self.report(
                ngettext(
                    "Would delete %(events)d event",
                    "Would delete %(events)d events",
                    count,
                )
                % {"events": count}
                + ngettext(
                    " and %(inbound)d inbound event older than %(when)s.",
                    " and %(inbound)d inbound events older than %(when)s.",
                    inbound_count,
                )
                % {"inbound": inbound_count, "when": when}
            )
            return
        deleted_events = self.in_batches(_("Events"), events, batch_size, delete_events)
        deleted_inbound = self.in_batches(
            _("Inbound events"),
            inbound,
            batch_size,
            lambda ids: InboundEvent.objects.filter(pk__in=ids).delete(),
        )
        self.report(
            ngettext(
                "Deleted %(events)d event (with its deliveries and attempts)",
                "Deleted %(events)d events (with their deliveries and attempts)",
                deleted_events,
            )
            % {"events": deleted_events}
            + ngettext(
                " and %(inbound)d inbound event older than %(when)s.",
                " and %(inbound)d inbound events older than %(when)s.",
                deleted_inbound,
            )
            % {"inbound": deleted_inbound, "when": when}
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
            if self.shows_progress():
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
