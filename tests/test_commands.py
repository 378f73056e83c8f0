"""Management commands."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from webhooks_app.models import Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sweep_enqueues_due_deliveries_and_says_how_many(monkeypatch):
    enqueued = []
    monkeypatch.setattr(
        "webhooks_app.delivery.enqueue_delivery", lambda pk: enqueued.append(pk) or True
    )
    endpoint = Endpoint.objects.create(url="https://example.invalid/")
    event = Event.objects.create(event_type="order.paid", payload={})
    due = Delivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at="2000-01-01T00:00Z"
    )
    other = Event.objects.create(event_type="order.paid", payload={})
    Delivery.objects.create(event=other, endpoint=endpoint, next_attempt_at="2999-01-01T00:00Z")

    assert run("webhooks_sweep") == "Enqueued 1 due deliveries.\n"
    assert enqueued == [due.pk]


def test_sweep_loop_stops_after_max_passes(monkeypatch):
    monkeypatch.setattr(
        "webhooks_app.management.commands.webhooks_sweep.time.sleep", lambda s: None
    )
    output = run("webhooks_sweep", "--loop", "--interval", "0.01", "--max-passes", "3")
    assert output.count("Enqueued 0 due deliveries.") == 3


def test_sweep_pages_through_more_than_one_batch(monkeypatch):
    from webhooks_app.delivery import sweep

    enqueued = []
    monkeypatch.setattr(
        "webhooks_app.delivery.enqueue_delivery", lambda pk: enqueued.append(pk) or True
    )
    endpoint = Endpoint.objects.create(url="https://example.invalid/")
    events = Event.objects.bulk_create(Event(event_type="t", payload={}) for _ in range(7))
    Delivery.objects.bulk_create(
        Delivery(event=e, endpoint=endpoint, next_attempt_at="2000-01-01T00:00Z") for e in events
    )
    assert sweep(batch_size=3) == 7
    assert len(set(enqueued)) == 7


@pytest.mark.parametrize("args", [["--interval", "0"], ["--interval", "x"], ["--bogus"]])
def test_sweep_rejects_bad_arguments(args):
    with pytest.raises((CommandError, SystemExit)) as info:
        run("webhooks_sweep", *args)
    if isinstance(info.value, SystemExit):
        assert info.value.code != 0
