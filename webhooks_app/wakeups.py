"""Wake-ups: put the app's tasks on the broker, by their registered names.

The broker only carries wake-ups; losing one is harmless because the sweep
finds every due delivery in the database. So a broker error is logged and
swallowed here rather than breaking the caller. A wake-up names no delivery:
the worker claims whatever is due, so one message serves a whole batch.

Tasks are sent by name (``webhooks_app.tasks.*``), as django-celery-beat sends
them, so that no module but the task layer imports :mod:`webhooks_app.tasks`.
Each goes to ``WEBHOOKS["QUEUE"]`` when it is set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import current_app

from webhooks_app import conf

logger = logging.getLogger(__name__)

DELIVER_DUE = "webhooks_app.tasks.deliver_due"
DELIVER = "webhooks_app.tasks.deliver"
PROCESS_INBOUND = "webhooks_app.tasks.process_inbound"


def send_task(
    name: str,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    countdown: float | None = None,
) -> bool:
    """Send task ``name``; returns False (and logs why) when the broker refused it."""
    options: dict[str, Any] = {"countdown": countdown}
    queue = conf.get("QUEUE")
    if queue:
        options["queue"] = queue
    try:
        current_app.send_task(name, args=tuple(args), kwargs=kwargs or {}, **options)
    except Exception:  # the broker is down or unreachable: the sweep recovers it
        logger.warning("Could not send %s; the sweep will pick its work up", name, exc_info=True)
        return False
    return True


def wake_up(*, countdown: float | None = None) -> bool:
    """Ask a worker to send what is due (at ``countdown`` seconds from now)."""
    return send_task(DELIVER_DUE, countdown=countdown)


def enqueue_delivery(delivery_id: int, *, countdown: float | None = None, manual: bool = False):
    """Ask a worker to try ``delivery_id`` alone; returns False if the broker refused.

    For an operator's "send now" (``manual``): scheduled work goes by :func:`wake_up`.
    """
    kwargs = {"manual": True} if manual else {}
    return send_task(DELIVER, (delivery_id,), kwargs, countdown=countdown)


def enqueue_inbound(event_pk: int) -> bool:
    """Ask a worker to process a recorded inbound event (``process_async`` receivers)."""
    return send_task(PROCESS_INBOUND, (event_pk,))
