"""WEBHOOKS["QUEUE"] routes every task of the app, including beat's sweep."""

from __future__ import annotations

import pytest
from celery.beat import ScheduleEntry, Scheduler
from django.test import override_settings
from django.utils import timezone

from tests.conftest import wait_until
from webhooks_app import tasks
from webhooks_app.models import Delivery, Endpoint, Event

QUEUE = "webhooks-routing-test"
ROUTED = {"ALLOWED_NETWORKS": ["127.0.0.0/8"], "QUEUE": QUEUE}


@pytest.fixture
def queue_worker(transactional_db, celery_app, _shared_worker):
    """The test worker consuming QUEUE alone (not the default queue)."""
    celery_app.control.add_consumer(
        QUEUE, destination=[_shared_worker.hostname], reply=True, timeout=5
    )
    yield _shared_worker
    celery_app.control.cancel_consumer(
        QUEUE, destination=[_shared_worker.hostname], reply=True, timeout=5
    )


def _beat_sends(celery_app, task: str) -> None:
    """What celery beat does when an entry of its schedule is due (no options given)."""
    entry = ScheduleEntry(name="webhooks-sweep", task=task, schedule=30.0, app=celery_app)
    Scheduler(app=celery_app, lazy=True).apply_async(entry, advance=False)


@override_settings(WEBHOOKS=ROUTED)
def test_beats_sweep_goes_to_the_configured_queue(http_server, celery_app, queue_worker):
    """A due delivery nobody woke a worker for: only the sweep, through QUEUE, sends it."""
    endpoint = Endpoint.objects.create(url=http_server.url())
    now = timezone.now()
    event = Event.objects.create(event_type="order.paid", payload={})
    Delivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=now)

    _beat_sends(celery_app, "webhooks_app.tasks.sweep")

    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    assert len(http_server.requests) == 1


@pytest.mark.parametrize("task", [tasks.deliver_due, tasks.deliver, tasks.sweep])
def test_every_task_is_routed_unless_the_sender_names_a_queue(task, broker):
    broker.purge("hooks", "elsewhere")
    args = (1,) if task is tasks.deliver else ()
    with override_settings(WEBHOOKS={"QUEUE": "hooks"}):
        task.apply_async(args)
        task.delay(*args)
        task.apply_async(args, queue="elsewhere")
    task.apply_async(args)  # no QUEUE: the project's own routing decides
    assert broker.names("hooks") == [task.name] * 2
    assert broker.names("elsewhere") == [task.name]
    assert broker.names() == [task.name]


def test_inbound_processing_is_routed_too():
    assert isinstance(tasks.process_inbound, tasks.QueuedTask)
