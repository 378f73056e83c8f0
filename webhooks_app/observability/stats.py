"""An endpoint's delivery statistics: tries by outcome and status class, latency, last status.

Every number comes from the endpoint's :class:`~webhooks_app.models.Attempt` rows (one
per HTTP try), read by a few aggregate queries, one per chart: the last 24 hours by hour
(which also gives the 24 hours' counts and success rate), the last 7 days by day, the
24 hours' latency percentiles; and one more for the latest try. Each counts in the
database (``GROUP BY`` bucket); no row is fetched.

A try's **outcome** is ``succeeded`` (a 2xx answer), ``failed`` (the last try of a
delivery that failed for good) or ``retrying`` (any other failed try: the delivery was,
or will be, tried again). Hours are UTC hours, the 24 hours are the current hour and the
23 before it; days are days of the current time zone, the 7 days today and the 6 before.

Latency is the duration of the tries that reached the receiver (answered, or timed out
waiting for the answer), as nearest-rank percentiles: the smallest duration with at
least that share of tries at or below it (PostgreSQL's ``percentile_disc``). On
PostgreSQL both come from one ordered-set aggregate; elsewhere (SQLite) from one query
of two scalar subqueries, each an ``ORDER BY duration LIMIT 1 OFFSET rank``, with the
ranks taken from the count of the hourly query. Both sort the window's tries once per
percentile in the database, in memory proportional to the window's tries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Count, F, IntegerField, Q, QuerySet, Subquery
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.retry import ErrorKind

HOURS = 24
DAYS = 7
PERCENTILES = {"p50": 0.5, "p99": 0.99}

OUTCOMES = ("succeeded", "retrying", "failed")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")

_SUCCEEDED = Q(status_code__gte=200, status_code__lt=300)
_FAILED = ~_SUCCEEDED & Q(
    delivery__status=Delivery.Status.FAILED, number__gte=F("delivery__attempt_count")
)
OUTCOME_FILTERS = {
    "succeeded": _SUCCEEDED,
    "failed": _FAILED,
    "retrying": ~_SUCCEEDED & ~_FAILED,
}
CLASS_FILTERS = {
    "2xx": _SUCCEEDED,
    "3xx": Q(status_code__gte=300, status_code__lt=400),
    "4xx": Q(status_code__gte=400, status_code__lt=500),
    "5xx": Q(status_code__gte=500),
    "error": Q(status_code__isnull=True),
}
# Tries whose duration is a response time: answered, or waited for until the deadline.
MEASURED = Q(status_code__isnull=False) | Q(error_type=ErrorKind.TIMEOUT)


@dataclass(frozen=True)
class Bucket:
    """The tries of one hour or one day, by outcome."""

    start: datetime
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.retrying + self.failed


@dataclass(frozen=True)
class LastTry:
    status_code: int | None
    error_type: str
    at: datetime


@dataclass(frozen=True)
class EndpointStats:
    """What :func:`endpoint_stats` finds; ``since`` starts the 24 hours' window."""

    since: datetime
    hourly: Sequence[Bucket]
    daily: Sequence[Bucket]
    status_classes: dict[str, int]
    p50_ms: int | None
    p99_ms: int | None
    last_try: LastTry | None

    @property
    def tries(self) -> int:
        """Tries in the 24 hours."""
        return sum(bucket.total for bucket in self.hourly)

    @property
    def success_rate(self) -> float | None:
        """The share of the 24 hours' tries answered 2xx (0 to 1); None without tries."""
        tries = self.tries
        return self.status_classes["2xx"] / tries if tries else None


class PercentileDisc(Aggregate):
    """PostgreSQL's ``percentile_disc(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = IntegerField()

    def __init__(self, expression: str, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))


def nearest_rank(fraction: float, count: int) -> int:
    """The 1-based rank of the ``fraction`` percentile among ``count`` sorted values,
    computed as PostgreSQL's ``percentile_disc`` does."""
    return min(count, max(1, math.ceil(fraction * count)))


def endpoint_stats(endpoint: Endpoint, now: datetime | None = None) -> EndpointStats:
    """The endpoint's statistics (4 queries; see the module's docstring)."""
    now = now or timezone.now()
    tries = Attempt.objects.filter(delivery__endpoint=endpoint)

    hour_end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hour_starts = [hour_end - timedelta(hours=HOURS - n) for n in range(HOURS)]
    in_day = tries.filter(created_at__gte=hour_starts[0], created_at__lt=hour_end)
    hour_rows = _grouped(in_day, TruncHour("created_at", tzinfo=UTC), {**CLASS_FILTERS})
    hourly = _buckets(hour_starts, hour_rows)
    classes = {name: sum(row[name] for row in hour_rows.values()) for name in STATUS_CLASSES}
    measured = sum(row["measured"] for row in hour_rows.values())

    today = timezone.localdate(now)
    day_starts = [_midnight(today - timedelta(days=DAYS - 1 - n)) for n in range(DAYS)]
    in_week = tries.filter(created_at__gte=day_starts[0], created_at__lt=_midnight(today, 1))
    daily = _buckets(day_starts, _grouped(in_week, TruncDay("created_at"), {}))

    p50, p99 = _percentiles(endpoint, in_day.filter(MEASURED), measured)
    last = tries.order_by("-created_at", "-pk").values("status_code", "error_type", "created_at")
    found = last.first()
    return EndpointStats(
        since=hour_starts[0],
        hourly=hourly,
        daily=daily,
        status_classes=classes,
        p50_ms=p50,
        p99_ms=p99,
        last_try=LastTry(found["status_code"], found["error_type"], found["created_at"])
        if found
        else None,
    )


def _midnight(day: date, days_later: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day + timedelta(days=days_later), time.min))


def _grouped(
    tries: QuerySet[Attempt], bucket: Any, extra: dict[str, Q]
) -> dict[datetime, Mapping[str, Any]]:
    """One query: the tries counted by bucket, by outcome (and ``extra`` filters)."""
    filters = {**OUTCOME_FILTERS, **extra}
    counts = {name: Count("pk", filter=condition) for name, condition in filters.items()}
    if extra:
        counts["measured"] = Count("pk", filter=MEASURED)
    rows = tries.annotate(bucket=bucket).values("bucket").annotate(**counts).order_by()
    return {row["bucket"].astimezone(UTC): row for row in rows}


def _buckets(starts: list[datetime], rows: dict[datetime, Mapping[str, Any]]) -> list[Bucket]:
    found = {start: rows.get(start.astimezone(UTC), {}) for start in starts}
    return [
        Bucket(start, **{name: counts.get(name, 0) for name in OUTCOMES})
        for start, counts in found.items()
    ]


def _percentiles(
    endpoint: Endpoint, measured: QuerySet[Attempt], count: int
) -> tuple[int | None, int | None]:
    """The p50 and p99 durations of ``measured`` (``count`` tries), in one query."""
    if not count:
        return None, None
    if connections[measured.db].vendor == "postgresql":
        found = measured.aggregate(
            **{name: PercentileDisc("duration_ms", f) for name, f in PERCENTILES.items()}
        )
    else:
        durations = measured.order_by("duration_ms").values("duration_ms")
        ranks = {name: nearest_rank(f, count) - 1 for name, f in PERCENTILES.items()}
        one_row = Endpoint.objects.filter(pk=endpoint.pk)
        subqueries = {name: Subquery(durations[r : r + 1]) for name, r in ranks.items()}
        found = one_row.annotate(**subqueries).values(*PERCENTILES).first() or {}
    return found.get("p50"), found.get("p99")
