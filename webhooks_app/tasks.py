"""Celery tasks: thin wrappers over plain functions that tests can call directly.

They are ``shared_task``s, so a Django project's Celery app finds them with
``app.autodiscover_tasks()``. Add the sweep to beat, e.g.::

    app.conf.beat_schedule = {
        "webhooks-sweep": {"task": "webhooks_app.tasks.sweep", "schedule": 30.0},
    }
"""

from __future__ import annotations

from celery import shared_task

from webhooks_app import delivery


@shared_task(name="webhooks_app.tasks.deliver", acks_late=True, ignore_result=True)
def deliver(delivery_id: int, manual: bool = False) -> str:
    """Send one delivery if it is due and unleased; a duplicate message is a no-op."""
    outcome = delivery.deliver(delivery_id, manual=manual)
    if outcome is None:
        return "skipped"
    delivery.schedule_retry(outcome)
    return outcome.decision.verdict.value


@shared_task(name="webhooks_app.tasks.sweep", acks_late=True, ignore_result=True)
def sweep() -> int:
    """Re-enqueue every pending delivery that is due and not leased."""
    return delivery.sweep()
