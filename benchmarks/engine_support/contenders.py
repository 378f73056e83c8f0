"""The three senders, each driven the way its users would drive it, with ~1 KiB bodies.

- **B**: ``bench.bare_post`` per delivery (one POST, module-level session, no
  database), published with ``apply_async`` in groups of 100.
- **peer**: django-webhook 0.0.15; ``Order`` rows created in transactions of
  100, its post_save publishes one ``fire_webhook`` task per row and webhook.
- **ours**: ``send_event`` in ``transaction.atomic()`` blocks of 100.

Each says when a delivery counts as done: B at the receiver (it has no
database), the peer and ours when their database records it (a WebhookEvent
marked SUCCESS, an ``Attempt`` row), which happens after the receiver answered.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from benchmarks.engine_support.bench import Bench

BODY_BYTES = 1024
EVENT_TYPE = "order.paid"


def _padding(document: dict, separators: tuple[str, str] = (",", ":")) -> int:
    """How many characters of padding bring ``document``'s JSON to about BODY_BYTES."""
    size = len(json.dumps(document, separators=separators))
    return max(0, BODY_BYTES - size)


def standard_document(number: int, note: str) -> dict:
    """The Standard Webhooks shape that ours sends (timestamp as Django writes it)."""
    return {
        "type": EVENT_TYPE,
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "data": {"order_id": number, "note": note},
    }


OURS_NOTE = "x" * _padding(standard_document(1000, ""))
PEER_NOTE = "x" * _padding(
    {
        "object": {"id": 1000, "number": 1000, "note": ""},
        "topic": "bench_shop.Order/create",
        "object_type": "bench_shop.Order",
        "webhook_uuid": str(uuid.uuid4()),
    },
    separators=(", ", ": "),  # django-webhook's json.dumps defaults
)


def ours_payload(number: int) -> dict:
    return {"order_id": number, "note": OURS_NOTE}


@dataclass
class Contender:
    """One sender: how to configure it, produce ``count`` deliveries, and count them done."""

    key: str
    title: str
    done_means: str

    def prepare(self, bench: Bench) -> None:
        raise NotImplementedError

    def produce(self, bench: Bench, count: int, group: int) -> None:
        raise NotImplementedError

    def done(self, bench: Bench) -> tuple[int, float]:
        """(deliveries done, when the last one was seen): polled every ~10 ms."""
        raise NotImplementedError


class Bare(Contender):
    def prepare(self, bench: Bench) -> None:
        self.url = bench.receiver.url("/b")
        self.body = json.dumps(standard_document(1000, OURS_NOTE), separators=(",", ":"))

    def produce(self, bench: Bench, count: int, group: int) -> None:
        from benchmarks.engine_support.shop.tasks import bare_post

        for start in range(0, count, group):
            for number in range(start, min(start + group, count)):
                bare_post.apply_async((self.url, self.body, f"msg_b{number}"))

    def send_one(self, number: int) -> tuple[str, float]:
        """One paced delivery: (its id, when it was handed to the broker)."""
        from benchmarks.engine_support.shop.tasks import bare_post

        message_id = f"msg_b{number}"
        sent = time.time()
        bare_post.apply_async((self.url, self.body, message_id))
        return message_id, sent

    def done(self, bench: Bench) -> tuple[int, float]:
        stats = bench.receiver.stats()
        return stats["count"], stats["last_arrival"]


class Peer(Contender):
    def prepare(self, bench: Bench) -> None:
        from django_webhook.models import Webhook, WebhookSecret, WebhookTopic

        webhook = Webhook.objects.create(url=bench.receiver.url("/peer"))
        webhook.topics.add(WebhookTopic.objects.get(name="bench_shop.Order/create"))
        # One secret, so that it signs its requests as ours does.
        WebhookSecret.objects.create(webhook=webhook, token="peer-benchmark-secret")

    def produce(self, bench: Bench, count: int, group: int) -> None:
        from django.db import transaction

        from benchmarks.engine_support.shop.models import Order

        for start in range(0, count, group):
            with transaction.atomic():
                for number in range(start, min(start + group, count)):
                    Order.objects.create(number=number, note=PEER_NOTE)

    def done(self, bench: Bench) -> tuple[int, float]:
        from celery import states
        from django_webhook.models import WebhookEvent

        return WebhookEvent.objects.filter(status=states.SUCCESS).count(), time.time()


class Ours(Contender):
    def prepare(self, bench: Bench, paths: tuple[str, ...] = ("/ours",)) -> None:
        from webhooks_app.models import Endpoint

        self.endpoints = [Endpoint.objects.create(url=bench.receiver.url(path)) for path in paths]

    def produce(self, bench: Bench, count: int, group: int, first: int = 0) -> None:
        from django.db import transaction

        from webhooks_app import send_event

        for start in range(first, first + count, group):
            with transaction.atomic():
                for number in range(start, min(start + group, first + count)):
                    send_event(EVENT_TYPE, ours_payload(number))

    def send_one(self, number: int) -> tuple[str, float]:
        """One event in its own transaction: (its webhook-id, the wall time right after COMMIT).

        Our on_commit callback is registered before send_event's, so it runs
        first: the time is taken before the engine's own wake-up is published.
        """
        from django.db import transaction

        from webhooks_app import send_event

        committed: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.time()))
            event = send_event(EVENT_TYPE, ours_payload(number))
        return str(event.id), committed[0]

    def done(self, bench: Bench) -> tuple[int, float]:
        from webhooks_app.models import Attempt

        return Attempt.objects.count(), time.time()


def all_contenders() -> list[Contender]:
    return [
        Bare("B", "B: bare Celery task + requests.Session", "last request seen by the receiver"),
        Peer(
            "peer",
            "peer: django-webhook 0.0.15",
            "WebhookEvent rows marked SUCCESS (after the response)",
        ),
        Ours("ours", "ours: webhooks_app", "Attempt rows recorded (after the response)"),
    ]
