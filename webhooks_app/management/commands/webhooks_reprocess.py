"""Process failed (or pending) inbound events again."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.models import InboundEvent
from webhooks_app.receivers.processing import reprocess


class Command(WebhooksCommand):
    help = "Process failed inbound events again with their receivers' handlers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="Only events from this source.")
        parser.add_argument("--type", dest="event_type", help="Only events of this type.")
        parser.add_argument(
            "--status",
            choices=["failed", "pending", "all"],
            default="failed",
            help="Which unprocessed events (default: failed).",
        )
        parser.add_argument("--since-hours", type=float, help="Only events received since.")
        parser.add_argument("--id", dest="ids", type=int, action="append", help="Event pk.")
        parser.add_argument("--dry-run", action="store_true", help="Only count them.")

    def handle(self, *args, source, event_type, status, since_hours, ids, dry_run, **options):
        events = InboundEvent.objects.exclude(status=InboundEvent.Status.PROCESSED)
        if status != "all":
            events = events.filter(status=status)
        if source:
            events = events.filter(source=source)
        if event_type:
            events = events.filter(event_type=event_type)
        if since_hours is not None:
            if since_hours <= 0:
                raise CommandError(_("--since-hours must be positive"))
            events = events.filter(received_at__gte=timezone.now() - timedelta(hours=since_hours))
        if ids:
            events = events.filter(pk__in=ids)
        if dry_run:
            count = events.count()
            self.report(
                ngettext(
                    "%(count)d inbound event would be reprocessed.",
                    "%(count)d inbound events would be reprocessed.",
                    count,
                )
                % {"count": count}
            )
            return
        counts = reprocess(events)
        total = sum(counts.values())
        self.report(
            ngettext(
                "Reprocessed %(count)d inbound event: %(processed)d processed, %(failed)d failed.",
                "Reprocessed %(count)d inbound events: %(processed)d processed, %(failed)d failed.",
                total,
            )
            % {"count": total, **counts}
        )
