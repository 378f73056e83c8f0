"""Send a test webhook to one endpoint and print what happened (credentials masked)."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from webhooks_app.management.commands._base import WebhooksCommand
from webhooks_app.models import Endpoint
from webhooks_app.operations import send_test_event
from webhooks_app.redaction import mask_text
from webhooks_app.sending import engine


class Command(WebhooksCommand):
    help = "Send a webhooks.test event to one endpoint now and print the outcome."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("endpoint_id", type=int, help="The endpoint's id.")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Hand it to a Celery worker instead of sending it from this process.",
        )

    def handle(self, *args, endpoint_id: int, queue: bool, **options) -> None:
        endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
        if endpoint is None:
            raise CommandError(f"No endpoint with id {endpoint_id}.")
        test = send_test_event(endpoint, enqueue=queue)
        if queue:
            self.report(f"Queued test delivery {test.pk} to {endpoint}.")
            return
        if not endpoint.is_active:
            raise CommandError(
                f"Endpoint {endpoint_id} is disabled ({mask_text(endpoint.disabled_reason)}); "
                f"its test delivery {test.pk} waits until it is enabled."
            )
        outcome = engine.deliver(test.pk, manual=True)
        if outcome is None:  # its endpoint has as many requests in flight as allowed
            raise CommandError(
                f"Endpoint {endpoint_id} is busy; its test delivery {test.pk} goes out with "
                "its other deliveries."
            )
        attempt = outcome.attempt
        result = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error_type
        self.report(
            f"Test delivery {test.pk} to {endpoint}: {result} in {attempt.duration_ms} ms "
            f"({outcome.decision.verdict})."
        )
        if attempt.error:
            self.report(f"Error: {mask_text(attempt.error)}")
        if outcome.decision.verdict != "succeeded":
            raise CommandError("The test delivery did not succeed.", returncode=1)
