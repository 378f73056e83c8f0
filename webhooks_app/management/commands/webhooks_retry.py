"""Retry failed (or stuck pending) deliveries now."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.management.commands._options import parse_since
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.operations import retry_deliveries


class Command(WebhooksCommand):
    help = "Make failed deliveries due now and enqueue them (filters narrow the selection)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--endpoint", type=int, help="Only deliveries to this endpoint id.")
        parser.add_argument(
            "--status",
            choices=["failed", "pending"],
            default="failed",
            help="Which deliveries (default: failed).",
        )
        parser.add_argument("--since", help="Created since: 24h, 7d, 30m or an ISO date.")
        parser.add_argument("--event-type", help="Only events of this type.")
        parser.add_argument("--dry-run", action="store_true", help="Only count them.")

    def handle(self, *args, endpoint, status, since, event_type, dry_run, **options) -> None:
        deliveries = Delivery.objects.filter(status=status)
        if endpoint is not None:
            if not Endpoint.objects.filter(pk=endpoint).exists():
                raise CommandError(_("No endpoint with id %(id)s.") % {"id": endpoint})
            deliveries = deliveries.filter(endpoint_id=endpoint)
        if since:
            deliveries = deliveries.filter(created_at__gte=parse_since(since))
        if event_type:
            deliveries = deliveries.filter(event__event_type=event_type)
        if dry_run:
            count = deliveries.count()
            message = ngettext(
                "%(count)d %(status)s delivery would be retried.",
                "%(count)d %(status)s deliveries would be retried.",
                count,
            )
        else:
            count = retry_deliveries(deliveries)
            message = ngettext(
                "Retrying %(count)d %(status)s delivery.",
                "Retrying %(count)d %(status)s deliveries.",
                count,
            )
        self.report(message % {"count": count, "status": status})
