"""Celery tasks: thin wrappers over plain functions that tests can call directly.

They are ``shared_task``s, so a Django project's Celery app finds them with
``app.autodiscover_tasks()``. ``deliver_due`` is the engine's wake-up: one per
committed batch of events, and as many as the sweep finds work for. Add the
sweep to beat, e.g.::

    app.conf.beat_schedule = {
        "webhooks-sweep": {"task": "webhooks_app.tasks.sweep", "schedule": 30.0},
    }

Every task goes to ``WEBHOOKS["QUEUE"]`` when it is set, however it is sent (by
the app, by beat, by ``.delay()`` in a shell), unless the sender names a queue.

Importing this module (as a worker does before it starts) also connects the
worker's side of prometheus_client's multiprocess mode to Celery's signals
(:mod:`webhooks_app.metrics.workers`): it does nothing unless
``PROMETHEUS_MULTIPROC_DIR`` is set.
"""

from __future__ import annotations

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_shutdown

from webhooks_app import conf, wakeups
from webhooks_app.metrics import workers as metrics_workers
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.sending import engine
from webhooks_app.sending.sweep import sweep as sweep_deliveries

worker_init.connect(metrics_workers.on_worker_start, weak=False, dispatch_uid=__name__)
worker_process_shutdown.connect(metrics_workers.on_process_exit, weak=False, dispatch_uid=__name__)


class QueuedTask(Task):
    """A task sent to ``WEBHOOKS["QUEUE"]`` unless its sender names a queue.

    Routing in ``apply_async`` rather than in ``shared_task(queue=...)``
    reads the setting when the task is sent, not when this module is imported,
    and it covers the sends the app does not make itself: beat's sweep above
    (``options={"queue": ...}`` in a beat entry still wins).
    """

    def apply_async(self, args=None, kwargs=None, *positional, **options):
        queue = conf.get("QUEUE")
        if queue and "queue" not in options:
            options["queue"] = queue
        return super().apply_async(args, kwargs, *positional, **options)


class InboundProcessingFailed(Exception):
    """The handler raised; the task is retried with backoff."""


@shared_task(
    name="webhooks_app.tasks.deliver_due", base=QueuedTask, acks_late=True, ignore_result=True
)
def deliver_due() -> int:
    """Fan out new events, then claim and send due deliveries until none is left."""
    return engine.run()


@shared_task(name="webhooks_app.tasks.deliver", base=QueuedTask, acks_late=True, ignore_result=True)
def deliver(delivery_id: int, manual: bool = False) -> str:
    """Try one delivery now if it is due and unleased; a duplicate message is a no-op."""
    outcome = engine.deliver(delivery_id, manual=manual)
    if outcome is None:
        return "skipped"
    countdown = engine.retry_countdown(outcome)
    if countdown is not None:
        wakeups.wake_up(countdown=countdown)
    return outcome.decision.verdict.value


@shared_task(name="webhooks_app.tasks.sweep", base=QueuedTask, acks_late=True, ignore_result=True)
def sweep() -> int:
    """Fan out unexpanded events, wake workers for due deliveries and pending inbound events."""
    return sweep_deliveries() + processing.sweep_pending()


@shared_task(
    name="webhooks_app.tasks.process_inbound",
    base=QueuedTask,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(InboundProcessingFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def process_inbound(event_pk: int) -> str:
    """Process a recorded inbound event once (``process_async`` receivers)."""
    event = InboundEvent.objects.filter(pk=event_pk).first()
    if event is None:
        return "missing"
    result = processing.process(event_pk, processing.handler_for(event))
    if not result.ok:
        raise InboundProcessingFailed(f"Inbound event {event_pk} failed; see its error")
    return result.outcome
