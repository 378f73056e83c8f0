"""Receiving URLs of the example project.

They verify the Standard Webhooks signature with ``webhooks_app.signing.verify``
and record each webhook id once per receiver, so a webhook that arrives twice
is processed once. In your own project, ``webhooks_app.receivers.WebhookReceiverView``
with a ``StandardWebhooksVerifier`` does all of this (see the README); these small
views show the mechanics.
"""

import json

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.models import ReceivedWebhook
from webhooks_app import conf, signing

FLAKY_FAILURES = 2
"""How many times the flaky receiver answers 503 before it answers 200."""


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.response = JsonResponse({"error": reason}, status=status)


def receive(request: HttpRequest, source: str) -> ReceivedWebhook:
    """Verify the request and record it; a repeated webhook id only counts up."""
    headers = request.headers  # case-insensitive
    try:
        msg_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        signature = headers["webhook-signature"]
    except KeyError:
        raise Rejected(400, "missing Standard Webhooks headers") from None
    try:
        signing.verify(
            settings.SHOP_WEBHOOK_SECRET,
            msg_id,
            timestamp,
            request.body,  # the raw bytes: what was signed
            signature,
            tolerance=conf.get("SIGNATURE_TOLERANCE"),
        )
    except signing.InvalidSignature as exc:
        raise Rejected(401, str(exc)) from None
    try:
        document = json.loads(request.body)
    except ValueError:
        raise Rejected(400, "the body is not JSON") from None

    with transaction.atomic():
        received, created = ReceivedWebhook.objects.get_or_create(
            source=source,
            webhook_id=msg_id,
            defaults={"event_type": document.get("type", ""), "payload": document.get("data")},
        )
        if not created:  # a duplicate: acknowledge it, process nothing
            ReceivedWebhook.objects.filter(pk=received.pk).update(
                times_received=F("times_received") + 1, last_received_at=timezone.now()
            )
            received.refresh_from_db()
    return received


@csrf_exempt
@require_POST
def shop_hook(request: HttpRequest) -> HttpResponse:
    """A well-behaved receiver: 200 for every valid webhook, duplicates included."""
    try:
        received = receive(request, "shop")
    except Rejected as exc:
        return exc.response
    return JsonResponse({"received": received.webhook_id, "times": received.times_received})


@csrf_exempt
@require_POST
def flaky_hook(request: HttpRequest) -> HttpResponse:
    """A receiver whose answers get lost: it records the webhook, then answers 503
    the first ``FLAKY_FAILURES`` times, so the sender retries and the receiver sees
    duplicates, which it records only once."""
    try:
        received = receive(request, "flaky")
    except Rejected as exc:
        return exc.response
    if received.times_received <= FLAKY_FAILURES:
        return JsonResponse({"error": "temporarily unavailable"}, status=503)
    return JsonResponse({"received": received.webhook_id, "times": received.times_received})
