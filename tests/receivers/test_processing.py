"""Exactly-once processing: however often an event is processed, its handler runs once.

Processing is asked for more than once in real life: two copies of an event
that arrive before a worker took the first one each enqueue a task, and the
sweep of stale pending events may enqueue one while a worker is running the
first. Each task calls :func:`processing.process`, which must run the handler
only for an event not processed yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from tests.receivers import STANDARD_SECRET, behaviour
from webhooks_app import tasks
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.testing import WebhookClient

pytestmark = pytest.mark.django_db(transaction=True)

ASYNC_PATH = "/hooks/async/"  # tests.receivers.AsyncReceiver: process_async = True


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


@pytest.fixture
def enqueued(broker) -> Callable[[], list[int]]:
    """The inbound events enqueued for processing, read off the broker (no worker takes
    them)."""

    def taken() -> list[int]:
        return [
            task.args[0]
            for task in broker.taken()
            if task.name == "webhooks_app.tasks.process_inbound"
        ]

    return taken


class Handler:
    """Counts its runs; fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.runs = 0
        self.failures = failures

    def __call__(self, event: InboundEvent) -> None:
        self.runs += 1
        Group.objects.create(name=f"run {self.runs} of {event.event_id}")
        if self.runs <= self.failures:
            raise RuntimeError("failed on purpose")


def recorded(event_id: str = "evt_1") -> InboundEvent:
    event, created = processing.record(
        "async",
        event_id,
        event_type="order.paid",
        payload={"id": event_id},
        headers={},
        receiver="tests.receivers.AsyncReceiver",
    )
    assert created
    return event


def post_async(msg_id: str = "msg_1"):
    return WebhookClient().post_standard_webhooks(
        ASYNC_PATH, {"type": "order.paid"}, secret=STANDARD_SECRET, msg_id=msg_id
    )


def test_processing_one_event_twice_runs_its_handler_once():
    event = recorded()
    handler = Handler()

    first = processing.process(event.pk, handler)
    second = processing.process(event.pk, handler)

    assert (first.outcome, second.outcome) == ("processed", "duplicate")
    assert handler.runs == 1
    assert Group.objects.count() == 1
    event.refresh_from_db()
    assert (event.status, event.processing_attempts) == (InboundEvent.Status.PROCESSED, 1)


def test_a_failed_event_is_processed_again_until_it_succeeds():
    event = recorded()
    handler = Handler(failures=1)

    assert processing.process(event.pk, handler).outcome == "failed"
    assert Group.objects.count() == 0  # the failed run's writes were rolled back
    assert processing.process(event.pk, handler).outcome == "processed"
    assert processing.process(event.pk, handler).outcome == "duplicate"

    assert handler.runs == 2
    event.refresh_from_db()
    assert (event.status, event.error, event.processing_attempts) == ("processed", "", 2)


def test_two_async_copies_before_their_tasks_run_are_handled_once(enqueued):
    assert post_async().status_code == 202
    assert post_async().status_code == 202  # a copy of an event not processed yet
    pks = enqueued()
    assert len(pks) == 2 and len(set(pks)) == 1

    outcomes = [tasks.process_inbound(event_pk) for event_pk in pks]

    assert outcomes == ["processed", "duplicate"]
    assert behaviour.runs == 1
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 1, 1)


def test_the_stale_pending_sweep_racing_a_worker_handles_the_event_once(enqueued):
    assert post_async().status_code == 202
    # The worker has not taken the task yet when the sweep finds the event stale.
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert processing.sweep_pending(older_than=60) == 1
    pks = enqueued()
    assert len(pks) == 2 and len(set(pks)) == 1

    outcomes = [tasks.process_inbound(event_pk) for event_pk in pks]

    assert outcomes == ["processed", "duplicate"]
    assert behaviour.runs == 1
    assert InboundEvent.objects.get().status == "processed"
