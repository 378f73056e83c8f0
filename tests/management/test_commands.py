"""Management commands."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from tests.conftest import wait_until
from webhooks_app.models import Attempt, Delivery, Endpoint, Event, OutboxEntry

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sweep_enqueues_due_deliveries_and_says_how_many(http_server, celery_worker):
    endpoint = Endpoint.objects.create(url=http_server.url())
    event = Event.objects.create(event_type="order.paid", payload={})
    due = Delivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at="2000-01-01T00:00Z"
    )
    other = Event.objects.create(event_type="order.paid", payload={})
    Delivery.objects.create(event=other, endpoint=endpoint, next_attempt_at="2999-01-01T00:00Z")

    assert run("webhooks_sweep") == "Woke workers for 1 due delivery.\n"

    (request,) = http_server.wait_for(1)
    assert request.headers["webhook-id"] == str(event.pk)
    wait_until(lambda: Delivery.objects.get(pk=due.pk).status == "succeeded")
    time.sleep(0.3)
    assert len(http_server.requests) == 1  # the delivery not yet due stayed put


def test_sweep_loop_stops_after_max_passes(monkeypatch):
    monkeypatch.setattr(
        "webhooks_app.management.commands.webhooks_sweep.time.sleep", lambda s: None
    )
    output = run("webhooks_sweep", "--loop", "--interval", "0.01", "--max-passes", "3")
    assert output.count("Woke workers for 0 due deliveries.") == 3


def test_sweep_wakes_one_worker_per_batch_and_expands_lost_events(broker):
    from webhooks_app.sending.sweep import sweep

    endpoint = Endpoint.objects.create(url="https://example.invalid/")
    events = Event.objects.bulk_create(Event(event_type="t", payload={}) for _ in range(7))
    Delivery.objects.bulk_create(
        Delivery(event=e, endpoint=endpoint, next_attempt_at="2000-01-01T00:00Z") for e in events
    )
    lost = Event.objects.create(event_type="t", payload={})  # its wake-up never came
    OutboxEntry.objects.create(event=lost)
    with override_settings(WEBHOOKS={"BATCH_SIZE": 3}):
        assert sweep() == 8
    # 8 due deliveries in batches of 3
    assert broker.names() == ["webhooks_app.tasks.deliver_due"] * 3
    assert Delivery.objects.filter(event=lost, endpoint=endpoint).exists()


@pytest.mark.parametrize("args", [["--interval", "0"], ["--interval", "x"], ["--bogus"]])
def test_sweep_rejects_bad_arguments(args):
    with pytest.raises((CommandError, SystemExit)) as info:
        run("webhooks_sweep", *args)
    if isinstance(info.value, SystemExit):
        assert info.value.code != 0


# -- webhooks_send_test ------------------------------------------------------------


def test_send_test_delivers_now_and_prints_the_outcome(http_server):
    endpoint = Endpoint.objects.create(url=http_server.url(), event_types=["order.paid"])
    output = run("webhooks_send_test", str(endpoint.pk))
    (request,) = http_server.requests
    assert request.json()["type"] == "webhooks.test"
    assert "HTTP 200" in output and "succeeded" in output
    attempt = Attempt.objects.get()
    assert attempt.trigger == "manual"


def test_send_test_fails_loudly_when_the_endpoint_fails(http_server):
    from tests.conftest import Reply

    http_server.reply(Reply(status=500))
    endpoint = Endpoint.objects.create(url=http_server.url())
    with pytest.raises(CommandError, match="did not succeed"):
        run("webhooks_send_test", str(endpoint.pk))


def test_send_test_to_a_busy_endpoint_says_so(http_server):
    endpoint = Endpoint.objects.create(url=http_server.url())
    event = Event.objects.create(event_type="order.paid", payload={})
    now = timezone.now()
    Delivery.objects.create(  # a request in flight, as many as allowed (leased when due)
        event=event,
        endpoint=endpoint,
        next_attempt_at=now,
        locked_until=now + timedelta(seconds=30),
    )
    with override_settings(WEBHOOKS={"MAX_IN_FLIGHT_PER_ENDPOINT": 1}):
        with pytest.raises(CommandError, match="busy"):
            run("webhooks_send_test", str(endpoint.pk))
    assert http_server.requests == []


def test_send_test_queue_option_only_enqueues(broker):
    endpoint = Endpoint.objects.create(url="https://example.invalid/")
    output = run("webhooks_send_test", str(endpoint.pk), "--queue")
    assert "Queued test delivery" in output
    sent = [(task.name, task.args) for task in broker.taken()]
    assert sent == [("webhooks_app.tasks.deliver", (Delivery.objects.get().pk,))]


@pytest.mark.parametrize("args", [["999999"], ["abc"], []])
def test_send_test_rejects_bad_arguments(args):
    with pytest.raises((CommandError, SystemExit)):
        run("webhooks_send_test", *args)


# -- webhooks_retry ----------------------------------------------------------------


@pytest.fixture
def spy_enqueue(broker):
    """The deliveries sent to a worker alone, read off the broker."""

    def enqueued() -> list[int]:
        return [
            task.args[0] for task in broker.taken() if task.name == "webhooks_app.tasks.deliver"
        ]

    return enqueued


def make(endpoint, status, *, event_type="order.paid", age=timedelta(0)):
    event = Event.objects.create(event_type=event_type, payload={})
    return Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        status=status,
        created_at=timezone.now() - age,
        next_attempt_at=None if status != "pending" else timezone.now(),
    )


def test_retry_filters_and_requeues_failed_deliveries(spy_enqueue):
    a = Endpoint.objects.create(url="https://a.invalid/")
    b = Endpoint.objects.create(url="https://b.invalid/")
    wanted = make(a, "failed")
    make(b, "failed")
    make(a, "failed", age=timedelta(days=3))
    make(a, "failed", event_type="user.created")
    make(a, "succeeded")

    output = run(
        "webhooks_retry", "--endpoint", str(a.pk), "--since", "24h", "--event-type", "order.paid"
    )

    assert output == "Retrying 1 failed delivery.\n"
    assert spy_enqueue() == [wanted.pk]
    wanted.refresh_from_db()
    assert wanted.status == "pending" and wanted.next_attempt_at is not None


def test_retry_dry_run_changes_nothing(spy_enqueue):
    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    make(endpoint, "failed")
    assert run("webhooks_retry", "--dry-run") == "1 failed delivery would be retried.\n"
    assert spy_enqueue() == []
    assert Delivery.objects.get().status == "failed"


@pytest.mark.parametrize(
    "args",
    [["--since", "yesterday"], ["--endpoint", "999999"], ["--status", "succeeded"]],
)
def test_retry_rejects_bad_arguments(args):
    with pytest.raises((CommandError, SystemExit)):
        run("webhooks_retry", *args)


def test_since_accepts_iso_dates(spy_enqueue):
    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    make(endpoint, "failed", age=timedelta(days=10))
    recent = make(endpoint, "failed")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    run("webhooks_retry", "--since", since)
    assert spy_enqueue() == [recent.pk]


# -- webhooks_prune ----------------------------------------------------------------


def test_prune_deletes_old_finished_history_in_batches():
    from webhooks_app.models import InboundEvent

    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    old = timezone.now() - timedelta(days=40)
    for n in range(5):
        event = Event.objects.create(event_type="t", payload={}, created_at=old)
        done = Delivery.objects.create(event=event, endpoint=endpoint, status="succeeded")
        Attempt.objects.create(delivery=done, number=1, status_code=200)
    stuck = Event.objects.create(event_type="t", payload={}, created_at=old)
    Delivery.objects.create(event=stuck, endpoint=endpoint, status="pending")
    fresh = Event.objects.create(event_type="t", payload={})
    Delivery.objects.create(event=fresh, endpoint=endpoint, status="succeeded")
    for n, status in enumerate(["processed", "failed", "pending"]):
        InboundEvent.objects.create(
            source="s", event_id=str(n), payload={}, status=status, received_at=old
        )
    InboundEvent.objects.create(source="s", event_id="new", payload={}, status="processed")

    err = StringIO()
    out = StringIO()
    call_command(
        "webhooks_prune", "--days", "30", "--batch-size", "2", verbosity=2, stdout=out, stderr=err
    )

    assert set(Event.objects.values_list("pk", flat=True)) == {stuck.pk, fresh.pk}
    assert Attempt.objects.count() == 0
    assert Delivery.objects.count() == 2
    assert set(InboundEvent.objects.values_list("event_id", flat=True)) == {"2", "new"}
    assert "Deleted 5 events" in out.getvalue() and "2 inbound events" in out.getvalue()
    assert "Events: [" in err.getvalue() and "5/5" in err.getvalue()


def test_prune_keeps_old_events_not_fanned_out_yet():
    """Their deliveries do not exist yet: none is pending, and none has been sent either."""
    old = timezone.now() - timedelta(days=40)
    waiting = Event.objects.create(event_type="t", payload={}, created_at=old)
    OutboxEntry.objects.create(event=waiting, created_at=old)

    output = run("webhooks_prune", "--days", "30")

    assert "Deleted 0 events" in output
    assert Event.objects.filter(pk=waiting.pk).exists()
    assert OutboxEntry.objects.filter(pk=waiting.pk).exists()


def test_prune_walks_events_of_the_same_moment_across_batches():
    """The cursor on (created_at, id) neither skips nor repeats events that share a time,
    and steps over an event still pending without ending the prune."""
    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    old = timezone.now() - timedelta(days=40)
    events = [Event.objects.create(event_type="t", payload={}, created_at=old) for _ in range(7)]
    for number, event in enumerate(events):
        status = "pending" if number == 3 else "failed"
        delivery = Delivery.objects.create(event=event, endpoint=endpoint, status=status)
        Attempt.objects.create(delivery=delivery, number=1, status_code=500)

    output = run("webhooks_prune", "--days", "30", "--batch-size", "2")

    assert "Deleted 6 events" in output
    assert list(Event.objects.values_list("pk", flat=True)) == [events[3].pk]
    assert Delivery.objects.get().event_id == events[3].pk
    assert Attempt.objects.get().delivery.event_id == events[3].pk


def test_a_batch_keeps_an_event_whose_delivery_is_pending_again():
    """Sent again (an operator's resend) after its batch was chosen: the batch re-reads the
    deliveries under lock and leaves that event alone."""
    from webhooks_app.sending import retention

    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    old = timezone.now() - timedelta(days=40)
    chosen = [Event.objects.create(event_type="t", payload={}, created_at=old) for _ in range(2)]
    for event in chosen:
        Delivery.objects.create(event=event, endpoint=endpoint, status="succeeded")
    (batch,) = retention.batches(timezone.now() - timedelta(days=30), 10)
    Delivery.objects.filter(event=chosen[0]).update(status="pending")

    assert retention.delete_events(batch) == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [chosen[0].pk]


def test_prune_dry_run_deletes_nothing():
    Event.objects.create(event_type="t", payload={}, created_at=timezone.now() - timedelta(99))
    output = run("webhooks_prune", "--days", "30", "--dry-run")
    assert "Would delete 1 event and 0 inbound events" in output
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    "args",
    [[], ["--days", "0"], ["--days", "-3"], ["--days", "x"], ["--days", "1", "--batch-size", "0"]],
)
def test_prune_rejects_bad_arguments(args):
    with pytest.raises((CommandError, SystemExit)):
        run("webhooks_prune", *args)
