"""The Celery tasks, run by a real worker."""

import threading
import time

import pytest
from django.test import override_settings

from tests.conftest import Reply, wait_until
from webhooks_app import send_event, tasks, wakeups
from webhooks_app.models import Attempt, Delivery, Endpoint, OutboxEntry

pytestmark = pytest.mark.django_db(transaction=True)


def test_tasks_are_shared_tasks_with_late_acks(celery_app):
    assert "webhooks_app.tasks.deliver_due" in celery_app.tasks
    assert "webhooks_app.tasks.deliver" in celery_app.tasks
    assert "webhooks_app.tasks.sweep" in celery_app.tasks
    assert tasks.deliver_due.acks_late is True
    assert tasks.deliver.acks_late is True


def test_short_retries_are_scheduled_with_a_countdown(http_server, celery_worker):
    """RETRY_SCHEDULE is [0.2, 0.4] in the test settings: no sweep is needed."""
    http_server.reply(Reply(status=503), Reply(status=500))
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})

    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    item = Delivery.objects.get()
    assert list(item.attempts.values_list("number", "status_code")) == [
        (1, 503),
        (2, 500),
        (3, 200),
    ]


def test_long_retries_are_left_to_the_sweep(http_server, celery_worker, monkeypatch):
    countdowns = []
    real_wake_up = wakeups.wake_up

    def spy(**kwargs):
        if kwargs.get("countdown") is not None:
            countdowns.append(kwargs["countdown"])
        return real_wake_up(**kwargs)

    monkeypatch.setattr(wakeups, "wake_up", spy)
    http_server.default = Reply(status=500)
    Endpoint.objects.create(url=http_server.url())
    config = {
        "ALLOWED_NETWORKS": ["127.0.0.0/8"],
        "RETRY_SCHEDULE": [3600],
        "MAX_COUNTDOWN": 300,
    }
    with override_settings(WEBHOOKS=config):
        send_event("order.paid", {})
        wait_until(lambda: Attempt.objects.exists())
        time.sleep(0.5)
    item = Delivery.objects.get()
    assert item.status == "pending"
    assert countdowns == []  # nothing was put on the broker for an hour from now
    assert len(http_server.requests) == 1


def test_duplicate_task_messages_send_once(http_server, celery_worker):
    http_server.default = Reply(delay=0.3)
    Endpoint.objects.create(url=http_server.url())
    event = send_event("order.paid", {})
    item = wait_until(lambda: Delivery.objects.filter(event=event).first())
    for _ in range(5):
        wakeups.enqueue_delivery(item.pk)
        wakeups.wake_up()

    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    time.sleep(0.5)  # give any duplicate a chance to (wrongly) send
    assert len(http_server.requests) == 1
    assert item.attempts.count() == 1


def test_task_for_a_finished_delivery_is_a_no_op(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    item = Delivery.objects.get()
    result = tasks.deliver.apply(args=(item.pk,)).get()
    assert result == "skipped"
    assert len(http_server.requests) == 1


def test_a_lost_broker_message_is_recovered_by_the_sweep(
    http_server, celery_app, celery_worker, monkeypatch
):
    Endpoint.objects.create(url=http_server.url())
    with monkeypatch.context() as patch:
        # The broker accepts the wake-up and then loses it.
        patch.setattr(celery_app, "send_task", lambda *args, **kwargs: None)
        send_event("order.paid", {"n": 1})
    time.sleep(0.5)
    assert http_server.requests == []

    tasks.sweep.delay()  # what Celery beat does on its schedule

    http_server.wait_for(1)
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())


def test_broker_down_at_commit_loses_nothing(http_server, celery_app, celery_worker, monkeypatch):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("connection refused")

    Endpoint.objects.create(url=http_server.url())
    with monkeypatch.context() as patch:
        patch.setattr(celery_app, "send_task", broker_down)
        event = send_event("order.paid", {})  # does not raise
    assert OutboxEntry.objects.filter(pk=event.pk).exists()  # not fanned out
    time.sleep(0.3)
    assert http_server.requests == []

    from webhooks_app.sending.sweep import sweep

    assert sweep() == 1
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())


def test_many_sweepers_and_workers_deliver_each_once(http_server, celery_worker, celery_app):
    http_server.default = Reply(delay=0.05)
    endpoints = [Endpoint.objects.create(url=http_server.url(f"/{i}")) for i in range(4)]
    celery_app.control.purge()
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        events = [send_event("order.paid", {"n": n}) for n in range(10)]
    from webhooks_app.sending.sweep import sweep

    def sweeper():
        from django.db import connection

        try:
            for _ in range(3):
                sweep()
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    total = len(events) * len(endpoints)
    wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == total, timeout=30)
    time.sleep(0.5)
    sent = [(r.path, r.headers["webhook-id"]) for r in http_server.requests]
    assert len(sent) == total == len(set(sent))
    assert Attempt.objects.count() == total


def test_queue_setting_routes_the_tasks(broker):
    broker.purge("webhooks")
    with override_settings(WEBHOOKS={"QUEUE": "webhooks"}):
        wakeups.enqueue_delivery(1)
        wakeups.wake_up(countdown=30)
        wakeups.enqueue_inbound(1)
    wakeups.enqueue_delivery(2)
    assert [(task.name, task.args) for task in broker.taken("webhooks")] == [
        ("webhooks_app.tasks.deliver", (1,)),
        ("webhooks_app.tasks.deliver_due", ()),
        ("webhooks_app.tasks.process_inbound", (1,)),
    ]
    assert [(task.name, task.args) for task in broker.taken()] == [
        ("webhooks_app.tasks.deliver", (2,))
    ]
