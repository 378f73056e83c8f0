"""Signed Standard Webhooks requests of ~1 KiB, unique or with copies of earlier events."""

from __future__ import annotations

import json

from webhooks_app import signing

BODY_BYTES = 1024
# A copy repeats the event sent this many new events earlier, so that it is usually a
# copy of an event already processed (as a sender's retry is), rarely a concurrent one.
COPY_LAG = 16

Request = tuple[dict[str, str], bytes]

MIXES = {"unique": 0.0, "50 % duplicates": 0.5}
"""The traffic a run sends: its name, and the share of copies of earlier events."""


def body(order_id: int) -> bytes:
    """A JSON body padded to about BODY_BYTES."""
    payload = {
        "type": "order.paid",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {
            "order_id": order_id,
            "amount": 4200,
            "currency": "EUR",
            "items": [{"sku": f"SKU-{n}", "quantity": n} for n in range(8)],
            "note": "",
        },
    }
    size = len(json.dumps(payload, separators=(",", ":")))
    payload["data"]["note"] = "x" * max(0, BODY_BYTES - size)
    return json.dumps(payload, separators=(",", ":")).encode()


def signed(secret: str, msg_id: str, order_id: int) -> Request:
    content = body(order_id)
    headers = signing.headers([secret], msg_id, content)
    return {**headers, "Content-Type": "application/json"}, content


def requests(secret: str, tag: str, count: int, duplicate_share: float) -> tuple[list, int]:
    """``count`` requests, ``duplicate_share`` of them copies; returns (requests, new events).

    Copies are spread evenly (with 0.5, every other request is one).
    """
    events: list[Request] = []
    sequence: list[Request] = []
    copies = 0.0
    for _ in range(count):
        copies += duplicate_share
        if copies >= 1 and events:
            copies -= 1
            sequence.append(events[max(0, len(events) - COPY_LAG)])
        else:
            events.append(signed(secret, f"msg_{tag}_{len(events)}", len(events)))
            sequence.append(events[-1])
    return sequence, len(events)
