"""An endpoint's statistics (webhooks_app.observability.stats): seeded tries across hours and
days, another endpoint's not counted, in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.observability.stats import endpoint_stats, nearest_rank

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
Status = Delivery.Status


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def delivery(endpoint: Endpoint, status: str, tries: list[tuple]) -> Delivery:
    """A delivery of ``endpoint`` with ``tries``: (when, status code, error type, ms)."""
    event = Event.objects.create(event_type="order.paid", payload={}, tenant=endpoint.tenant)
    made = Delivery.objects.create(
        event=event, endpoint=endpoint, status=status, attempt_count=len(tries)
    )
    Attempt.objects.bulk_create(
        Attempt(
            delivery=made,
            number=number,
            created_at=when,
            status_code=code,
            error_type=kind,
            duration_ms=ms,
        )
        for number, (when, code, kind, ms) in enumerate(tries, start=1)
    )
    return made


@pytest.fixture
def seeded() -> Endpoint:
    endpoint = Endpoint.objects.create(url="https://acme.example/hook", tenant="acme")
    delivery(endpoint, Status.SUCCEEDED, [(at(11, 10), 503, "", 100), (at(11, 40), 200, "", 20)])
    delivery(
        endpoint,
        Status.FAILED,
        [
            (at(10, 5), None, "timeout", 3000),
            (at(10, 20), None, "connection", 5),
            (at(12, 15), 410, "", 30),
        ],
    )
    delivery(endpoint, Status.PENDING, [(at(12, 20), 429, "", 40)])
    delivery(endpoint, Status.FAILED, [(at(12, 25), 301, "", 15)])
    # Outside the 24 hours (one second before), inside the 7 days.
    delivery(endpoint, Status.FAILED, [(at(12, 59, day=9), 500, "", 1)])
    delivery(endpoint, Status.SUCCEEDED, [(at(9, day=8), 200, "", 10)])
    delivery(endpoint, Status.FAILED, [(at(9, day=2), 500, "", 10)])  # outside both
    # Another tenant's endpoint, tried in the same hours: never counted.
    other = Endpoint.objects.create(url="https://globex.example/hook", tenant="globex")
    delivery(other, Status.SUCCEEDED, [(at(12, 10), 200, "", 5000), (at(11, 10), 200, "", 1)])
    delivery(other, Status.FAILED, [(at(9, day=8), 500, "", 9)])
    return endpoint


def counts(buckets) -> dict:
    return {b.start: (b.succeeded, b.retrying, b.failed) for b in buckets if b.total}


def test_the_hours_count_tries_by_outcome(seeded):
    stats = endpoint_stats(seeded, now=NOW)
    assert len(stats.hourly) == 24
    assert stats.hourly[0].start == at(13, day=9) == stats.since
    assert stats.hourly[-1].start == at(12)
    assert counts(stats.hourly) == {
        at(10): (0, 2, 0),  # a timeout and a connection error, tried again
        at(11): (1, 1, 0),  # a 503, then the 200 of the same delivery
        at(12): (0, 1, 2),  # a pending delivery's 429; a 410 and a 301 that ended theirs
    }


def test_the_days_count_tries_by_outcome(seeded):
    stats = endpoint_stats(seeded, now=NOW)
    assert [b.start for b in stats.daily] == [at(0, day=d) for d in range(4, 11)]
    assert counts(stats.daily) == {
        at(0, day=10): (1, 4, 2),
        at(0, day=9): (0, 0, 1),
        at(0, day=8): (1, 0, 0),
    }


def test_the_days_are_the_current_time_zones(seeded):
    with timezone.override("Pacific/Auckland"):  # UTC+13 in March
        stats = endpoint_stats(seeded, now=NOW)  # 01:30 on the 11th there
    auckland = timezone.get_fixed_timezone(13 * 60)
    assert stats.daily[-1].start == datetime(2026, 3, 11, tzinfo=auckland)
    # From 11:00 UTC on the 10th it is the 11th there; 12:59 UTC on the 9th is the 10th.
    assert counts(stats.daily)[stats.daily[-1].start] == (1, 2, 2)
    assert counts(stats.daily)[stats.daily[-2].start] == (0, 2, 1)


def test_the_24_hours_summary(seeded):
    stats = endpoint_stats(seeded, now=NOW)
    assert stats.tries == 7
    assert stats.status_classes == {"2xx": 1, "3xx": 1, "4xx": 2, "5xx": 1, "error": 2}
    assert stats.success_rate == pytest.approx(1 / 7)
    # Answered or timed out: 15, 20, 30, 40, 100 and 3000 ms (the connection error is not).
    assert (stats.p50_ms, stats.p99_ms) == (30, 3000)
    assert stats.last_try is not None
    assert (stats.last_try.status_code, stats.last_try.at) == (301, at(12, 25))


def test_an_endpoint_without_tries(db):
    endpoint = Endpoint.objects.create(url="https://quiet.example/hook")
    stats = endpoint_stats(endpoint, now=NOW)
    assert stats.tries == 0 and stats.success_rate is None
    assert (stats.p50_ms, stats.p99_ms, stats.last_try) == (None, None, None)
    assert [b.total for b in stats.hourly + stats.daily] == [0] * 31


def test_percentiles_are_nearest_ranks(db):
    endpoint = Endpoint.objects.create(url="https://many.example/hook")
    durations = list(range(1, 201))
    delivery(endpoint, Status.PENDING, [(at(11), 500, "", ms) for ms in reversed(durations)])
    stats = endpoint_stats(endpoint, now=NOW)
    assert (stats.p50_ms, stats.p99_ms) == (100, 198)
    assert [nearest_rank(0.99, n) for n in (1, 2, 100, 101)] == [1, 2, 99, 100]


def test_four_queries_whatever_the_tries(seeded, django_assert_num_queries):
    with django_assert_num_queries(4):
        endpoint_stats(seeded, now=NOW)
