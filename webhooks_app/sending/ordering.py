"""Ordering keys: the events of one (tenant, key) go to each endpoint one at a time, in order.

``send_event(..., ordering_key="order-42")`` stores the key and a sequence
number (:func:`webhooks_app.ids.next_sequence`, taken when ``send_event``
runs) on the event; the fan-out copies both onto its deliveries. A keyed
delivery is due only while it is the head of its key
(:data:`webhooks_app.sending.due.HEAD`): no pending delivery of the same
key to the same endpoint, and no event of the key still to be fanned out,
comes before it. A delivery stays pending while it is in flight and while
it waits for a retry, so the next one waits until it has succeeded or
failed for good; other keys, and events without a key, are not held up.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from webhooks_app.models import Delivery

NO_KEY = ""
"""The stored ordering key of an event without one."""

MAX_LENGTH = 255


def ordering_key(value: Any) -> str:
    """The stored form of ``send_event``'s ``ordering_key``: None for none, else the string.

    Raises ``TypeError`` for anything but a string or None, and ``ValueError`` for
    an empty string or one longer than :data:`MAX_LENGTH` characters.
    """
    if value is None:
        return NO_KEY
    if not isinstance(value, str):
        raise TypeError(f"An ordering key is a string, not {type(value).__name__}.")
    if not 1 <= len(value) <= MAX_LENGTH:
        raise ValueError(
            f"An ordering key is 1 to {MAX_LENGTH} characters long, not {len(value)}; "
            "pass None for events without one."
        )
    return value


def with_earlier_in_key(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """Add ``earlier_in_key`` to each delivery: a pending delivery of its ordering key to its
    endpoint comes before it, so it waits for that one (what
    :func:`webhooks_app.sending.state.describe_delivery` and the admin then say).

    One probe of the key index per listed row; False for deliveries without a key.
    """
    earlier = Delivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        ordering_key=OuterRef("ordering_key"),
        status=Delivery.Status.PENDING,
        sequence__lt=OuterRef("sequence"),
    ).exclude(ordering_key=NO_KEY)
    return deliveries.annotate(earlier_in_key=Exists(earlier))
