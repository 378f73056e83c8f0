"""Recording tries: the failure streak, the lease holder's guard, and manual tries.

Each test here was written for a mutation that survived the suite before it (the mutation
is named in the test's docstring): a real gap, now closed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import Reply
from webhooks_app import tasks, transport
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.sending import attempt, claims, engine, recording, results

Status = Delivery.Status


def webhooks(**overrides):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **overrides})


def make_delivery(endpoint: Endpoint, **fields) -> Delivery:
    event = Event.objects.create(event_type="order.paid", payload={"id": 1})
    return Delivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=timezone.now(), **fields
    )


def answered(item: Delivery, status_code: int, *, manual: bool = False) -> results.Result:
    """The result of the claimed try ``item`` as if the receiver answered ``status_code``."""
    response = transport.Response(status_code, "", {}, 5)
    return results.Result(item, response, attempt.decide(item.attempt_count, response), manual)


def claim_one(now=None) -> Delivery:
    (item,) = claims.claim(1, now)
    return item


# --- the failure streak ------------------------------------------------------------


@pytest.mark.django_db
def test_a_failure_streak_keeps_the_time_it_started():
    """Mutation: ``failing_since`` set to now on every failure (no streak would ever last
    long enough to disable its endpoint)."""
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    make_delivery(endpoint)
    make_delivery(endpoint)

    recording.record([answered(claim_one(), 500)])
    endpoint.refresh_from_db()
    started = endpoint.failing_since
    assert endpoint.failure_streak == 1 and started is not None

    recording.record([answered(claim_one(timezone.now() + timedelta(seconds=1)), 500)])
    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 2
    assert endpoint.failing_since == started


@pytest.mark.django_db
def test_a_long_streak_disables_its_endpoint():
    """Mutation as above: the streak began days ago, so this failure disables the endpoint."""
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    began = timezone.now() - timedelta(days=6)
    Endpoint.objects.filter(pk=endpoint.pk).update(failure_streak=4, failing_since=began)
    make_delivery(endpoint)

    with webhooks(DISABLE_AFTER_FAILURES=5, DISABLE_AFTER_SECONDS=5 * 86_400):
        (outcome,) = recording.record([answered(claim_one(), 500)])

    endpoint.refresh_from_db()
    assert endpoint.failing_since == began
    assert not endpoint.is_active
    assert outcome.disable_reason.startswith("5 failed attempts in a row")


# --- only the lease holder moves a delivery on ---------------------------------------


@pytest.mark.django_db
def test_a_stale_result_does_not_overwrite_a_newer_claim():
    """Mutation: ``record()`` without the lease-holder filter (the attempt number the
    claim reserved): a worker whose lease expired would overwrite the newer claim."""
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    pending = make_delivery(endpoint)
    stale = claim_one()  # attempt 1, then this worker stalls past its lease
    assert stale.attempt_count == 1
    later = stale.locked_until + timedelta(seconds=1)
    newer = claim_one(later)  # another worker takes it over: attempt 2
    assert newer.attempt_count == 2

    recording.record([answered(stale, 200)])

    pending.refresh_from_db()
    assert pending.status == Status.PENDING  # still the newer claim's, in flight
    assert pending.attempt_count == 2
    assert pending.locked_until == newer.locked_until
    assert pending.finished_at is None
    # The stale try still leaves its Attempt, over the newer claim's placeholder.
    assert Attempt.objects.get(delivery=pending, number=1).status_code == 200

    recording.record([answered(newer, 503)])
    pending.refresh_from_db()
    assert (pending.status, pending.last_status_code) == (Status.PENDING, 503)


# --- a try the database refuses -----------------------------------------------------------


@pytest.mark.django_db
def test_a_try_the_database_refuses_still_ends_in_one_attempt_and_spares_its_group():
    """A status code below 0 breaks the CHECK constraint of the status columns, on SQLite
    and PostgreSQL alike: the group's write fails, then that try's own, and the last
    resort writes a bare Attempt for it while the rest of the group is written in full.
    (The transport cannot hand over such a status, http.client refuses any outside
    100-999: it stands for whatever unforeseen value a column refuses.)"""
    endpoint = Endpoint.objects.create(url="http://127.0.0.1:9/hook")
    for _ in range(3):
        make_delivery(endpoint)
    first, refused, last = claims.claim(3)

    outcomes = recording.record([answered(first, 200), answered(refused, -1), answered(last, 503)])

    assert [outcome.attempt.delivery_id for outcome in outcomes] == [first.pk, refused.pk, last.pk]
    stored = {a.delivery_id: a for a in Attempt.objects.filter(delivery__endpoint=endpoint)}
    assert len(stored) == Attempt.objects.count() == 3  # exactly one per try
    assert (stored[first.pk].status_code, stored[last.pk].status_code) == (200, 503)
    bare = stored[refused.pk]
    assert (bare.number, bare.status_code, bare.error_type) == (1, None, "internal_error")
    assert "could not be stored (IntegrityError): status -1" in bare.error
    states = dict(Delivery.objects.values_list("pk", "status"))
    assert states == {
        first.pk: Status.SUCCEEDED,
        refused.pk: Status.FAILED,
        last.pk: Status.PENDING,
    }
    assert not Delivery.objects.filter(locked_until__isnull=False).exists()  # leases released


# --- manual tries ----------------------------------------------------------------------


def test_a_retry_through_the_api_is_recorded_as_manual(transactional_db, http_server, broker):
    """Mutation: a manual retry recorded as ``scheduled`` (anywhere from the API's action
    through the task message to the Attempt row).

    The task runs here, from the message the action put on the broker, rather than in the
    shared test worker: that worker may still be finishing an earlier test's engine run,
    which would claim this delivery as a scheduled try.
    """
    http_server.reply(Reply(status=500), Reply(status=200))
    endpoint = Endpoint.objects.create(url=http_server.url())
    failed = make_delivery(endpoint)
    with webhooks(RETRY_SCHEDULE=[]):
        engine.deliver(failed.pk)
    failed.refresh_from_db()
    assert failed.status == Status.FAILED

    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("root"))
    response = client.post(f"/api/webhooks/deliveries/{failed.pk}/retry/")
    assert response.status_code == 202

    (message,) = broker.taken()
    assert message.name == "webhooks_app.tasks.deliver"
    tasks.deliver(*message.args, **message.kwargs)
    assert list(
        Attempt.objects.filter(delivery=failed).order_by("number").values_list("trigger", flat=True)
    ) == ["scheduled", "manual"]
    failed.refresh_from_db()
    assert failed.status == Status.SUCCEEDED


# --- lock order ------------------------------------------------------------------------


@pytest.mark.django_db
def test_endpoint_rows_are_updated_in_one_order_whatever_order_the_results_came_in():
    """Two workers recording tries of the same endpoints in opposite orders deadlocked on
    PostgreSQL (seen in the hostile receiver matrix): the health updates lock endpoint
    rows, so they must always take them in the same order, by primary key."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first, second = (Endpoint.objects.create(url=f"http://127.0.0.1:9/{n}") for n in (1, 2))
    make_delivery(second)
    make_delivery(first)
    claimed = claims.claim(2)
    claimed.sort(key=lambda item: -item.endpoint_id)  # the later endpoint's result first
    with CaptureQueriesContext(connection) as queries:
        recording.record([answered(item, 500) for item in claimed])
    table = Endpoint._meta.db_table
    updated = [
        pk
        for query in queries.captured_queries
        if query["sql"].startswith(f'UPDATE "{table}"')
        for pk in (first.pk, second.pk)
        if query["sql"].endswith(f'"{table}"."id" = {pk}')
    ]
    assert updated and updated == sorted(updated)
