"""The fault suite's machinery: real processes around the test, fault injectors, the audit.

A scenario starts ``celery worker`` subprocesses (prefork) on the test
database and a real broker, sends hundreds of events from the test process
(or from producer subprocesses), injects its fault, lets the sweep finish the
job, and then audits what the receivers saw against what the database says.
Only the public contract is relied on: ``send_event``, the models, the
``webhooks_sweep`` command and the ``WEBHOOKS`` settings.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import kombu.pools
from celery import Celery
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Min
from django.test import override_settings
from django.utils import timezone

from tests.conftest import ROOT, RecordingServer, WorkerProcess, service_env
from tests.hostile import HostileServer
from webhooks_app import send_event
from webhooks_app.models import Attempt, Delivery, Endpoint, Event, OutboxEntry

RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
RUN: list[Figures] = []  # this session's figures, for the terminal summary
EXPIRED = "lease_expired"  # the Attempt of a try whose worker never recorded it
NOT_SENT = "not_sent"  # a try whose deadline passed before it was sent: no request
LEASE_MARGIN = 5
"""The scenarios' LEASE_MARGIN, unless one says otherwise. On a machine shared with
other work a worker process can be starved of CPU for seconds; with the test
settings' 1 s margin, results then reach the database after their lease, and
the deliveries are sent again: the effect of a frozen worker (scenario 8),
not of the fault a scenario injects."""


# --- what the receivers saw ---------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as a receiver saw it."""

    url: str
    webhook_id: str
    started: float
    ended: float | None
    accepted: bool  # answered with a 2xx: the receiver took the event


def header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def seen_by(receiver: RecordingServer | HostileServer) -> list[Seen]:
    if isinstance(receiver, HostileServer):
        base = receiver.url.rsplit("/", 1)[0]
        return [
            Seen(
                base + t.raw.split(b" ", 2)[1].decode(),
                header(t.headers, "webhook-id"),
                t.started,
                t.ended,
                receiver.accepts,
            )
            for t in list(receiver.tries)
        ]
    return [
        Seen(
            receiver.url(r.path),
            header(r.headers, "webhook-id"),
            r.at,
            r.ended,
            r.status is not None and 200 <= r.status < 300,
        )
        for r in list(receiver.requests)
    ]


def requests_seen(receivers: Iterable[RecordingServer | HostileServer]) -> int:
    return sum(len(r.requests) for r in receivers)


# --- the figures of one run ---------------------------------------------------------------------


@dataclass
class Figures:
    """What one scenario sent, what arrived, and every broken promise found."""

    scenario: str
    broker: str
    events: int = 0
    deliveries: int = 0  # (event, endpoint) pairs the events should reach
    lost: int = 0  # pairs a healthy endpoint never accepted, or never marked succeeded
    duplicates: int = 0  # accepted copies of one delivery beyond the first
    attempts: int = 0  # Attempt rows
    requests: int = 0  # requests the receivers saw
    expired: int = 0  # Attempts of tries lost with their worker (lease_expired)
    late: int = 0  # 2xx Attempts of tries that overran their deadline (a frozen worker's)
    overlaps: int = 0  # a delivery's request starting before its previous one ended
    stranded: int = 0  # deliveries left undone when the fault was over: the sweep's work
    seconds: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self) -> Figures:
        """Add these figures to benchmarks/results/faults.json (one entry per scenario)."""
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        try:
            runs = json.loads(RESULTS.read_text())
        except (OSError, ValueError):
            runs = {}
        entry = asdict(self)
        entry["problems"] = entry["problems"][:20]
        runs[f"{self.scenario} ({self.broker})"] = entry
        RESULTS.write_text(json.dumps(runs, indent=2, sort_keys=True) + "\n")
        RUN.append(self)
        return self

    def summary(self) -> str:
        return (
            f"{self.scenario} ({self.broker}): {self.events} events, {self.deliveries} deliveries, "
            f"lost {self.lost}, duplicates {self.duplicates}, attempts {self.attempts}, "
            f"requests {self.requests}, expired {self.expired}, late {self.late}, "
            f"overlaps {self.overlaps}, "
            f"stranded {self.stranded}, {self.seconds:.1f} s"
        )


def expected_pairs() -> set[tuple[str, int]]:
    """Every (event, endpoint) pair the committed events must reach.

    Every endpoint of a scenario is created, active, before its events: an
    event matches an endpoint whose ``event_types`` is empty or names its type.
    Fan-out reaches the endpoints active when it runs (DESIGN.md, "Sending
    flow"), which may be after the commit: a pair without a delivery is excused
    when its endpoint was disabled (a 410, a streak) by the time its event was
    fanned out (when its first delivery was written; an event that went to no
    endpoint at all counts as fanned out late), give or take a second for the two
    transactions' clocks.
    """
    endpoints = list(Endpoint.objects.values_list("pk", "event_types", "disabled_at"))
    delivered = set(Delivery.objects.values_list("event_id", "endpoint_id"))
    fanned_out = dict(
        Delivery.objects.values("event_id")
        .annotate(at=Min("created_at"))
        .values_list("event_id", "at")
    )
    unexpanded = set(OutboxEntry.objects.values_list("pk", flat=True))
    far_future = timezone.now() + timedelta(days=1)
    slack = timedelta(seconds=1)

    def excused(pair, fanned_out_at, disabled_at) -> bool:
        if pair in delivered or disabled_at is None or fanned_out_at is None:
            return False
        return fanned_out_at > disabled_at - slack

    return {
        (event_id, pk)
        for event_id, event_type in Event.objects.values_list("pk", "event_type")
        for pk, types, disabled_at in endpoints
        if (not types or event_type in types)
        and not excused(
            (event_id, pk),
            None if event_id in unexpanded else fanned_out.get(event_id, far_future),
            disabled_at,
        )
    }


def span(item: Seen, since: float) -> tuple[float, float]:
    """When a request started and ended, in seconds since ``since``."""
    return (round(item.started - since, 2), round((item.ended or 0) - since, 2))


def audit(
    figures: Figures,
    receivers: Iterable[RecordingServer | HostileServer],
    *,
    healthy: Iterable[int] | None = None,
    started: float,
) -> Figures:
    """Fill ``figures`` from the database and the receivers; list every broken promise.

    ``healthy`` names the endpoints that must have accepted every event (all by
    default). Per delivery: Attempts numbered 1..n with ``attempt_count`` = n;
    the requests seen lie between the Attempts that recorded an answer and all
    Attempts (a try lost with its worker, recorded ``lease_expired``, may or
    may not have reached the receiver); accepted copies beyond the first
    (duplicates) only where a try the sender could not count as a success
    explains them: one without a 2xx Attempt (lost with its worker, timed out,
    cut off: the receiver may have taken it all the same), or a 2xx written
    after its lease ran out (later than its request's start + the lease, or
    after the next request for it started past that time: a frozen worker's,
    which another worker may have sent again); no request
    starts before the previous one for the same delivery ended.
    """
    connect, read = settings.WEBHOOKS["TIMEOUT"]
    lease = connect + read + settings.WEBHOOKS["LEASE_MARGIN"]
    receivers = list(receivers)
    by_url = dict(Endpoint.objects.values_list("url", "pk"))
    healthy = set(by_url.values()) if healthy is None else set(healthy)
    pairs = expected_pairs()
    seen: dict[tuple[str, int], list[Seen]] = defaultdict(list)
    strays = 0
    for receiver in receivers:
        for item in seen_by(receiver):
            if item.url in by_url:
                seen[(item.webhook_id, by_url[item.url])].append(item)
            else:
                strays += 1
    attempts: dict[int, list[tuple[int, str]]] = defaultdict(list)
    written: dict[int, dict[int, float]] = defaultdict(dict)  # 2xx Attempts: number -> when
    unsuccessful: dict[int, int] = defaultdict(int)
    timings: dict[int, list[str]] = defaultdict(list)
    wall = time.time() - time.monotonic()  # Attempt times are wall-clock, spans monotonic
    for (
        delivery_id,
        number,
        error_type,
        status_code,
        created_at,
        duration_ms,
    ) in Attempt.objects.values_list(
        "delivery_id", "number", "error_type", "status_code", "created_at", "duration_ms"
    ):
        attempts[delivery_id].append((number, error_type or status_code))
        if status_code is not None and 200 <= status_code < 300:
            written[delivery_id][number] = created_at.timestamp() - wall
        else:
            unsuccessful[delivery_id] += 1
        at = created_at.timestamp() - wall - started
        timings[delivery_id].append(f"#{number} written at {at:.2f} s after {duration_ms} ms")
    rows = {
        (event_id, endpoint_id): (pk, status, count)
        for pk, event_id, endpoint_id, status, count in Delivery.objects.values_list(
            "pk", "event_id", "endpoint_id", "status", "attempt_count"
        )
    }
    problems = figures.problems
    figures.events = Event.objects.count()
    figures.deliveries = len(pairs)
    figures.attempts = sum(len(a) for a in attempts.values())
    figures.requests = sum(len(s) for s in seen.values()) + strays
    if strays:
        problems.append(f"{strays} requests to URLs of no endpoint")
    if missing := pairs - rows.keys():
        problems.append(f"{len(missing)} pairs never fanned out, e.g. {sorted(missing)[:3]}")
    if extra := rows.keys() - pairs:
        problems.append(f"{len(extra)} deliveries to endpoints that do not match, e.g. {extra}")
    if orphans := seen.keys() - pairs:
        problems.append(f"{len(orphans)} (event, endpoint) pairs received but never sent")
    for pair in sorted(pairs):
        pk, status, count = rows.get(pair, (None, None, 0))
        tries = sorted(attempts.get(pk, [])) if pk else []
        numbers = [number for number, _ in tries]
        expired = sum(1 for _, kind in tries if kind == EXPIRED)
        unsent = sum(1 for _, kind in tries if kind == NOT_SENT)  # stalled past the deadline
        requests = sorted(seen.get(pair, []), key=lambda s: s.started)
        accepted = sum(1 for s in requests if s.accepted)
        late = 0
        if len(requests) == len(tries) and not unsent:  # then the k-th request is Attempt k
            for number, request in enumerate(requests, 1):
                expired_at = request.started + lease
                following = requests[number] if number < len(requests) else None
                # Late: written after its lease ran out, or not seen by the time another
                # worker claimed it after the lease (a worker frozen between taking the
                # Attempt's timestamp and its commit writes an early created_at).
                late += written.get(pk, {}).get(number, 0) > expired_at or (
                    number in written.get(pk, {})
                    and following is not None
                    and following.started > expired_at
                )
        figures.expired += expired
        figures.late += late
        figures.duplicates += max(0, accepted - 1)
        spans = [span(r, started) for r in requests]
        where = (
            f"delivery {pk} {pair}: status={status} attempts={tries} requests={len(requests)} "
            f"(spans {spans}; attempts {sorted(timings.get(pk, []))})"
        )
        if pair[1] in healthy and not (status == "succeeded" and accepted):
            figures.lost += 1
            problems.append(f"lost: {where}")
        if numbers != list(range(1, len(numbers) + 1)) or count != len(numbers):
            problems.append(f"attempt numbers {numbers} with attempt_count={count}: {where}")
        if not len(tries) - expired - unsent <= len(requests) <= len(tries) - unsent:
            problems.append(f"requests and Attempts disagree: {where}")
        if accepted > 1 + unsuccessful.get(pk, 0) + late:
            problems.append(f"{accepted - 1} duplicates that no failed try explains: {where}")
        for previous, following in itertools.pairwise(requests):
            if previous.ended is None or following.started < previous.ended:
                figures.overlaps += 1
                problems.append(f"two requests overlap in time: {where}")
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


# --- the processes around the test ----------------------------------------------------------


def command_output() -> dict[str, io.StringIO]:
    return {"stdout": io.StringIO(), "stderr": io.StringIO()}


class Cluster:
    """Workers, sweepers and producers of one scenario, on one broker and one queue.

    The test process uses the same ``WEBHOOKS`` settings as the subprocesses
    (``settings``, in force while the cluster is open), so its sweeps and
    wake-ups go to the cluster's queue.
    """

    def __init__(
        self, new_app: Callable[[], Celery], broker: str, broker_url: str | None, queue: str
    ) -> None:
        self.new_app = new_app
        self.app = self._connect()
        self.broker = broker
        self.broker_url = broker_url
        self.queue = queue
        self.db_name = connection.settings_dict["NAME"]
        self.workers: list[WorkerProcess] = []
        self.sweepers: list[subprocess.Popen] = []
        self._override: override_settings | None = None

    def _connect(self) -> Celery:
        app = self.new_app()
        app.set_current()
        app.set_default()  # also for wake-ups sent from other threads of this process
        return app

    def configure(self, **webhooks) -> Cluster:
        """The scenario's ``WEBHOOKS`` settings: the test settings, these changes, its queue."""
        if self._override:
            self._override.disable()
        self._override = override_settings(
            WEBHOOKS={
                **settings.WEBHOOKS,
                "LEASE_MARGIN": LEASE_MARGIN,
                **webhooks,
                "QUEUE": self.queue,
            }
        )
        self._override.enable()
        return self

    def env(self) -> dict[str, str]:
        return service_env(self.db_name, dict(settings.WEBHOOKS), self.broker_url)

    def start_workers(self, count: int = 1) -> list[WorkerProcess]:
        """Start ``count`` workers at once and wait until each answers a ping."""
        started = [
            WorkerProcess(
                self.db_name, self.queue, dict(settings.WEBHOOKS), broker_url=self.broker_url
            ).start()
            for _ in range(count)
        ]
        self.workers += started
        for worker in started:
            worker.wait_ready(self.app, timeout=60)
        return started

    def start_sweeper(self, interval: float) -> subprocess.Popen:
        """``manage.py webhooks_sweep --loop`` in a process of its own."""
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "webhooks_sweep", "--loop", f"--interval={interval}"],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.sweepers.append(process)
        return process

    def run_producer(self, events: int, event_type: str) -> subprocess.Popen:
        """tests/faults/producer.py: commits ``events`` and dies before its wake-up."""
        return subprocess.Popen(
            [sys.executable, "-m", "tests.faults.producer", str(events), event_type],
            cwd=ROOT,
            env=self.env(),
        )

    def restart_redis_empty(self) -> int:
        """Empty the broker (Redis) and drop its connections; returns how many were dropped.

        This process's pooled broker connections are among them: like an
        application that reconnects, it drops them with its Celery app and
        makes a new one. Call it from the thread that sends (the new app is
        current in it).
        """
        dropped = restart_redis_empty(settings.CELERY_BROKER_URL)
        kombu.pools.reset()  # connections pooled per broker URL, for every app
        _close_quietly(self.app)
        self.app = self._connect()
        return dropped

    def sweep(self) -> None:
        """One ``webhooks_sweep`` pass in the test process."""
        call_command("webhooks_sweep", **command_output())

    def settle(self, done: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
        """Sweep every ``every`` seconds until ``done()`` (or ``timeout``); return done()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.sweep()
            time.sleep(every)
        return done()

    def close(self) -> None:
        for process in self.sweepers:
            process.terminate()
        for process in self.sweepers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for worker in self.workers:
            worker.stop()
        if self._override:
            self._override.disable()
        try:
            with self.app.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception:  # tidying up only; the broker may be unreachable
            pass
        _close_quietly(self.app)


def _close_quietly(app: Celery) -> None:
    try:
        app.close()
    except Exception:  # its connections may be broken already: that is why it goes
        pass


def unique_queue() -> str:
    return f"webhooks_faults_{uuid.uuid4().hex[:8]}"


# --- sending and waiting ------------------------------------------------------------------------


def send_events(count: int, *, per_transaction: int, event_type: str = "fault.event") -> None:
    """Commit ``count`` events, ``per_transaction`` to a transaction (one wake-up each)."""
    for first in range(0, count, per_transaction):
        with transaction.atomic():
            for n in range(first, min(count, first + per_transaction)):
                send_event(event_type, {"n": n})


def all_done() -> Callable[[], bool]:
    """True once every pair is fanned out and no delivery to an active endpoint is pending."""

    def done() -> bool:
        return (
            Delivery.objects.count() >= len(expected_pairs())
            and not Delivery.objects.filter(status="pending", endpoint__is_active=True).exists()
        )

    return done


def undone() -> int:
    """Pairs not yet fanned out, plus deliveries still pending."""
    missing = len(expected_pairs()) - Delivery.objects.count()
    return missing + Delivery.objects.filter(status="pending").count()


def still_pending(limit: int = 10) -> str:
    """What keeps a scenario from settling: the pending deliveries, for its failure message."""
    now = timezone.now()
    rows = Delivery.objects.filter(status="pending", endpoint__is_active=True).values_list(
        "pk",
        "endpoint__url",
        "endpoint__paused_until",
        "attempt_count",
        "next_attempt_at",
        "locked_until",
    )
    lines = [
        f"delivery {pk} to {url}: tries {count}, due in {_seconds(due, now)}, "
        f"leased for {_seconds(lease, now)}, endpoint paused for {_seconds(paused, now)}"
        for pk, url, paused, count, due, lease in rows[:limit]
    ]
    missing = len(expected_pairs()) - Delivery.objects.count()
    return "\n".join([f"{missing} pairs not fanned out; pending (at most {limit}):", *lines])


def _seconds(at, now) -> str:
    return "-" if at is None else f"{(at - now).total_seconds():.1f} s"


def wait_quiet(receivers: list, quiet: float, timeout: float) -> None:
    """Wait until the receivers have seen no new request for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = requests_seen(receivers)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


# --- fault injectors -------------------------------------------------------------------------


def restart_redis_empty(broker_url: str) -> int:
    """Empty the broker's Redis database and drop every connection to it, as a restart would.

    Only clients on that database number are disconnected; returns how many.
    """
    import redis  # the services extra

    client = redis.Redis.from_url(broker_url)
    try:
        database = client.connection_pool.connection_kwargs.get("db", 0)
        client.flushdb()
        me = client.client_id()
        dropped = 0
        for info in client.client_list():
            if int(info["db"]) == database and int(info["id"]) != me:
                dropped += client.client_kill_filter(_id=info["id"])
        return dropped
    finally:
        client.close()


def terminate_backends(db_name: str, spare: Iterable[int]) -> int:
    """``pg_terminate_backend`` every connection to ``db_name`` but ``spare``; returns how many."""
    import psycopg  # the services extra

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db_name,
        autocommit=True,
    ) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND NOT pid = ANY(%s)",
            (db_name, list(spare)),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
