"""Send and receive webhooks from Django.

The public face is :func:`send_event` (and :class:`InvalidPayload`, which it raises
when ``WEBHOOKS["VALIDATE_PAYLOADS"]`` is on); see ``webhooks_app.event_types`` for
the catalog of event types, ``webhooks_app.model_events`` for events sent on a model's
create, update and delete, and ``webhooks_app.receivers`` for the receiving side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webhooks_app.event_types import InvalidPayload

__version__ = "0.1.0"
__all__ = ["InvalidPayload", "__version__", "send_event"]

if TYPE_CHECKING:
    from webhooks_app.models import Event


def send_event(
    event_type: str,
    payload: Any,
    *,
    tenant: Any = None,
    idempotency_key: str | None = None,
    ordering_key: str | None = None,
) -> Event:
    """Record an event for ``tenant``'s endpoints in the caller's transaction.

    See :func:`webhooks_app.sending.outbox.send_event`.
    """
    from webhooks_app.sending.outbox import send_event as _send_event

    return _send_event(
        event_type,
        payload,
        tenant=tenant,
        idempotency_key=idempotency_key,
        ordering_key=ordering_key,
    )
