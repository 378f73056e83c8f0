"""Delete old webhook history in batches, while workers keep sending."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.models import InboundEvent
from webhooks_app.sending import retention


class Command(WebhooksCommand):
    help = (
        "Delete events older than --days whose deliveries are all finished (with their "
        "deliveries and attempts), and inbound events older than --days that are not pending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, required=True, help="Keep this many days.")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Events per batch (one transaction each)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go.")

    def handle(self, *args, days: float, batch_size: int, dry_run: bool, **options) -> None:
        if days <= 0:
            raise CommandError(_("--days must be positive"))
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1"))
        cutoff = timezone.now() - timedelta(days=days)
        events = retention.prunable(cutoff)
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
        deleted_events = self.in_batches(
            _("Events"),
            events.count(),
            retention.batches(cutoff, batch_size),
            retention.delete_events,
        )
        deleted_inbound = self.in_batches(
            _("Inbound events"),
            inbound.count(),
            inbound_batches(inbound, batch_size),
            delete_inbound,
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

    def in_batches(
        self,
        label: str,
        total: int,
        batches: Iterable[list],
        delete: Callable[[list], int],
    ) -> int:
        """Delete each batch (in a transaction of its own); returns how many rows went."""
        done = 0
        for ids in batches:
            done += delete(ids)
            if self.shows_progress():
                self.progress(label, done, total)
        return done

    def progress(self, label: str, done: int, total: int, width: int = 30) -> None:
        filled = width * done // max(total, done, 1)
        bar = "#" * filled + "." * (width - filled)
        self.stderr.write(f"{label}: [{bar}] {done}/{max(total, done)}")


def inbound_batches(inbound: QuerySet[InboundEvent], size: int) -> Iterator[list[int]]:
    """Ids of ``inbound``, ``size`` at a time, each batch after the last (by primary key)."""
    last = 0
    while ids := list(
        inbound.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
    ):
        yield ids
        last = ids[-1]


def delete_inbound(ids: list[int]) -> int:
    with transaction.atomic():
        return InboundEvent.objects.filter(pk__in=ids).delete()[0]
