"""The two contenders: our receiver subclass and a hand-written view doing the same work."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from benchmarks.receiver_support.models import HandledRow, HandWrittenEvent
from webhooks_app import signing
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import StandardWebhooksVerifier, WebhookReceiverView

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class OurReceiver(WebhookReceiverView):
    source = "bench"
    verifier = StandardWebhooksVerifier(secret=SECRET)

    def handle(self, event: InboundEvent) -> None:
        HandledRow.objects.create(
            contender="ours", event_id=event.event_id, order_id=event.payload["data"]["order_id"]
        )


@csrf_exempt
def hand_written(request: HttpRequest) -> JsonResponse:
    """What a developer writes without the package: verify, parse, get_or_create, handle."""
    body = request.body
    headers = request.headers
    msg_id = headers.get("webhook-id", "")
    try:
        signing.verify(
            SECRET,
            msg_id,
            headers.get("webhook-timestamp", ""),
            body,
            headers.get("webhook-signature", ""),
        )
    except signing.InvalidSignature:
        return JsonResponse({"detail": "Invalid signature."}, status=401)
    try:
        payload = json.loads(body)
    except ValueError:
        return JsonResponse({"detail": "Malformed JSON."}, status=400)
    with transaction.atomic():
        _event, created = HandWrittenEvent.objects.get_or_create(
            event_id=msg_id, defaults={"event_type": payload.get("type", ""), "payload": payload}
        )
        if created:
            HandledRow.objects.create(
                contender="hand", event_id=msg_id, order_id=payload["data"]["order_id"]
            )
    return JsonResponse({"status": "processed" if created else "duplicate", "event_id": msg_id})
