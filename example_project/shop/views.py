"""The shop's receiving side, built on the app's own ``WebhookReceiverView``.

The shop sends ``order.created`` to its own two receiving URLs (see demo.py):

- :class:`ShopReceiver` (``/hooks/shop/``) verifies the Standard Webhooks
  signature, records the event once per webhook id as an ``InboundEvent`` and runs
  ``handle`` exactly once, which writes an ``OrderNotification``.
- :class:`FlakyReceiver` (``/hooks/flaky/``) is the same receiver with trouble
  staged on purpose, decided by the order id, so that every run shows the same
  two kinds of failure:

  * order id = 1 (mod 3), *handler error*: the first time, ``handle`` raises.
    Its writes roll back, the ``InboundEvent`` is kept as ``failed`` and the view
    answers 500; the sender retries and the retry processes the event.
  * order id = 2 (mod 3), *lost answer*: the event is processed and committed,
    then the view answers 503, as a proxy timing out would. The sender cannot
    tell and sends the webhook again; the receiver recognises the webhook id,
    runs nothing and answers 200: a duplicate suppressed at the receiver,
    counted in ``InboundEvent.duplicate_count``.
"""

import json
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from shop.models import OrderNotification
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import StandardWebhooksVerifier, WebhookReceiverView

HANDLER_ERROR = 1
"""Orders whose id is this modulo 3 make FlakyReceiver's handler fail once."""
LOST_ANSWER = 2
"""Orders whose id is this modulo 3 make FlakyReceiver answer 503 once, after processing."""


class WarehouseUnavailable(Exception):
    """The staged handler error of FlakyReceiver."""


class ShopReceiver(WebhookReceiverView):
    """Receives the shop's webhooks: ``order.created`` is recorded once per webhook."""

    source = "shop"
    verifier = StandardWebhooksVerifier(secret=settings.SHOP_WEBHOOK_SECRET)

    def handle(self, event: InboundEvent) -> None:
        """Runs once per (source, webhook id), in the transaction that marks it processed."""
        if event.event_type != "order.created":
            return  # other types are recorded as processed and otherwise ignored
        order = event.payload["data"]
        OrderNotification.objects.create(
            source=self.source,
            webhook_id=event.event_id,
            order_id=order["order_id"],
            customer=order["customer"],
            total=order["total"],
        )


def trouble(event: InboundEvent) -> int | None:
    """The staged trouble for this event's order (HANDLER_ERROR, LOST_ANSWER or None)."""
    try:
        order_id = int(event.payload["data"]["order_id"])
    except (KeyError, TypeError, ValueError):
        return None
    return order_id % 3 if order_id % 3 in (HANDLER_ERROR, LOST_ANSWER) else None


class FlakyReceiver(ShopReceiver):
    """ShopReceiver with staged failures; see the module's docstring."""

    source = "flaky"
    lose_answer = False

    def handle(self, event: InboundEvent) -> None:
        # processing_attempts counts this run too: 1 is the first time the handler runs.
        if trouble(event) == HANDLER_ERROR and event.processing_attempts == 1:
            raise WarehouseUnavailable(
                f"staged failure: the warehouse did not answer for order "
                f"#{event.payload['data']['order_id']} (first try only)"
            )
        super().handle(event)
        self.lose_answer = trouble(event) == LOST_ANSWER  # answer 503 once it is committed

    def post(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200 and self.lose_answer:
            # Processed and committed; the sender sees a failure and sends it again.
            summary = json.loads(response.content)
            return JsonResponse(
                {**summary, "demo": "processed, answering 503 on purpose (a lost answer)"},
                status=503,
            )
        return response
