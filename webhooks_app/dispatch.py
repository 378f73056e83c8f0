"""Wake-ups: put the engine's tasks on the broker.

The broker only carries wake-ups; losing one is harmless because the sweep
finds every due delivery in the database. So a broker error is logged and
swallowed here rather than breaking the caller. A wake-up names no delivery:
the worker claims whatever is due, so one message serves a whole batch.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def wake_up(*, countdown: float | None = None) -> bool:
    """Ask a worker to send what is due (at ``countdown`` seconds from now)."""
    from webhooks_app.tasks import deliver_due

    try:
        deliver_due.apply_async(countdown=countdown)  # to WEBHOOKS["QUEUE"], see tasks
    except Exception:  # the broker is down or unreachable: the sweep recovers it
        logger.warning("Could not send a wake-up; the sweep will pick its work up", exc_info=True)
        return False
    return True


def enqueue_delivery(delivery_id: int, *, countdown: float | None = None, manual: bool = False):
    """Ask a worker to try ``delivery_id`` alone; returns False if the broker refused.

    For an operator's "send now" (``manual``): scheduled work goes by :func:`wake_up`.
    """
    from webhooks_app.tasks import deliver

    kwargs = {"manual": True} if manual else {}
    try:
        deliver.apply_async((delivery_id,), kwargs, countdown=countdown)
    except Exception:  # the broker is down or unreachable: the sweep recovers it
        logger.warning(
            "Could not enqueue delivery %s; the sweep will pick it up", delivery_id, exc_info=True
        )
        return False
    return True


def enqueue_inbound(event_pk: int) -> bool:
    """Ask a worker to process a recorded inbound event (``process_async`` receivers)."""
    from webhooks_app.tasks import process_inbound

    try:
        process_inbound.apply_async((event_pk,))
    except Exception:  # the broker is down: the sweep picks up stale pending events
        logger.warning(
            "Could not enqueue inbound event %s; the sweep will pick it up",
            event_pk,
            exc_info=True,
        )
        return False
    return True
