"""The fault suite: hundreds of events through real workers while something breaks.

Each scenario ends with the same audit (``harness.audit``): every committed
event reached every matching endpoint (0 lost), each delivery's Attempts
account for the requests its receiver saw, duplicates appear only where a lost
try explains them, and no two requests for one delivery overlap in time. The
figures of every run go to benchmarks/results/faults.json and into the
terminal summary; docs/reliability.md shows the last run's.

Needs PostgreSQL and Redis (``-m faults`` with DATABASE_URL and
CELERY_BROKER_URL set); the ``rabbitmq`` runs also need RabbitMQ.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tests.conftest import SERVICES, Received, RecordingServer, Reply
from tests.faults import harness
from tests.faults.harness import (
    Figures,
    all_done,
    audit,
    header,
    send_events,
    undone,
    wait_quiet,
)
from tests.faults.producer import EXIT_CODE
from tests.hostile import (
    HostileServer,
    close_mid_body,
    drip_body,
    drip_headers,
    garbage_status_line,
    gzip_bomb,
    huge_body,
    nul_bytes,
    reset_before_status,
    unknown_charset,
)
from webhooks_app import send_event
from webhooks_app.models import Attempt, Delivery, Endpoint

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not SERVICES, reason="the fault suite needs PostgreSQL and Redis"),
]

BROKERS = pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
SETTLE = 60  # seconds a scenario may take to finish its deliveries (they take far less)


@pytest.fixture
def receiver(http_server: RecordingServer) -> RecordingServer:
    """The scenarios' healthy receiver (tests/conftest.py's recording server)."""
    return http_server


def endpoints(server: RecordingServer, *paths: str) -> list[Endpoint]:
    return [Endpoint.objects.create(url=server.url(path)) for path in paths]


def first_try_fails(status: int) -> Callable[[Received], Reply]:
    """A reply chooser: ``status`` to each delivery's first request, 200 after."""
    tried: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def respond(item):
        key = (item.path, header(item.headers, "webhook-id"))
        with lock:
            first = key not in tried
            tried.add(key)
        return Reply(status=status) if first else Reply()

    return respond


def check(figures: Figures) -> None:
    """Record the figures, then fail on any broken promise."""
    figures.record()
    print(figures.summary())
    assert figures.problems == [], "\n".join(figures.problems[:20])
    assert figures.lost == 0


# --- 1. a worker SIGKILLed mid-batch -----------------------------------------------------------


@BROKERS
def test_a_worker_sigkilled_mid_batch(cluster, broker, receiver):
    """300 events to 2 endpoints; the only worker is SIGKILLed (main process and pool at
    once) while a request is in flight, after 200 requests. A fresh worker and the sweep
    finish the job: the killed tries are recorded ``lease_expired`` and sent again."""
    started = time.monotonic()
    figures = Figures("1. worker SIGKILLed mid-batch", broker)
    group = cluster(TIMEOUT=(1, 2))
    receiver.default = Reply(delay=0.02)
    endpoints(receiver, "/a", "/b")
    (worker,) = group.start_workers(1)
    killed, lock = threading.Event(), threading.Lock()

    def kill_mid_batch(item) -> None:  # runs before this request is answered
        with lock:
            if not killed.is_set() and len(receiver.requests) >= 200:
                worker.kill()
                killed.set()

    receiver.on_request = kill_mid_batch
    send_events(300, per_transaction=20)
    assert killed.wait(SETTLE), f"only {len(receiver.requests)} requests arrived"
    figures.stranded = undone()
    group.start_workers(1)
    assert group.settle(all_done(), SETTLE), harness.still_pending()
    wait_quiet([receiver], quiet=0.5, timeout=10)

    check(audit(figures, [receiver], started=started))
    assert figures.expired >= 1  # the request in flight at the kill, at least


# --- 2. the broker restarted empty -------------------------------------------------------------


def test_the_broker_restarted_empty(cluster, receiver):
    """Redis is emptied and every connection to it dropped, as a restart without
    persistence would, twice. First mid-run: 300 events to a healthy and a flaky endpoint
    (503 to each first try, retried 3 s later on a Celery countdown), the restart after
    the first 150 events and 100 requests. Then while the workers are down (a deploy):
    the worker stops, 100 events are committed, their wake-ups wait on the broker, the
    broker restarts empty and a new worker starts with nothing to do. The sweep recovers
    all of it."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        pytest.skip("empties a Redis broker")
    started = time.monotonic()
    figures = Figures("2. broker restarted empty", "redis")
    # The breaker would pause the flaky endpoint after its first 503s: not this fault.
    group = cluster(
        TIMEOUT=(1, 2),
        RETRY_SCHEDULE=[3, 3],
        CIRCUIT_BREAKER_THRESHOLD=100_000,
        CIRCUIT_BREAKER_MIN_REQUESTS=100_000,
    )
    flaky = first_try_fails(503)
    receiver.respond = lambda item: flaky(item) if item.path == "/flaky" else None
    endpoints(receiver, "/ok", "/flaky")
    (worker,) = group.start_workers(1)
    send_events(150, per_transaction=10)
    receiver.wait_for(100, timeout=SETTLE)  # the worker is busy with the rest
    restarts = [group.restart_redis_empty()]
    send_events(150, per_transaction=10)

    worker.shutdown()  # warm: its runs finish first, so no try is lost with it
    before = len(receiver.requests)
    send_events(100, per_transaction=10)  # their wake-ups wait on the broker
    restarts.append(group.restart_redis_empty())
    group.start_workers(1)
    wait_quiet([receiver], quiet=1.0, timeout=10)
    figures.stranded = undone()
    assert len(receiver.requests) == before, "a wake-up survived the restart"
    assert group.settle(all_done(), SETTLE), harness.still_pending()
    wait_quiet([receiver], quiet=0.5, timeout=10)

    figures.notes["connections dropped per restart"] = restarts
    check(audit(figures, [receiver], started=started))
    assert figures.expired == 0 and figures.duplicates == 0
    assert figures.stranded >= 200  # the 100 events of the second restart, to 2 endpoints


# --- 3. database connections killed during delivery -----------------------------------------


def test_database_connections_killed_during_delivery(cluster, receiver):
    """300 events to 2 endpoints, two workers; after 100, 250 and 400 requests every
    PostgreSQL backend of the workers is ended with ``pg_terminate_backend``."""
    started = time.monotonic()
    figures = Figures("3. database connections killed", "redis")
    group = cluster(TIMEOUT=(1, 2))
    receiver.default = Reply(delay=0.02)
    endpoints(receiver, "/a", "/b")
    group.start_workers(2)
    spare = [harness.backend_pid()]  # this test's own connection
    thresholds, terminated, lock = [100, 250, 400], [], threading.Lock()

    def terminate(item) -> None:
        with lock:
            if thresholds and len(receiver.requests) >= thresholds[0]:
                thresholds.pop(0)
                terminated.append(harness.terminate_backends(group.db_name, spare))

    receiver.on_request = terminate
    send_events(300, per_transaction=20)
    assert group.settle(all_done(), SETTLE), harness.still_pending()
    wait_quiet([receiver], quiet=0.5, timeout=10)

    figures.notes["backends terminated"] = terminated
    check(audit(figures, [receiver], started=started))
    assert len(terminated) == 3 and sum(terminated) > 0


# --- 4. a hostile receiver matrix ------------------------------------------------------------

TRIES = 3
HOSTILE_WEBHOOKS = {
    "TIMEOUT": (0.5, 1),
    "RETRY_SCHEDULE": [0.3, 0.6],  # TRIES tries
    "MAX_IN_FLIGHT_PER_ENDPOINT": 16,
    # The breaker would pause the failing endpoints for its cool-down: this scenario
    # is about each try, so only a 429's Retry-After slows an endpoint down.
    "CIRCUIT_BREAKER_THRESHOLD": 100_000,
    "CIRCUIT_BREAKER_MIN_REQUESTS": 100_000,
}
LEASE = 0.5 + 1 + harness.LEASE_MARGIN
# name: (behaviour, accepted, requests each delivery gets (None: 1..TRIES), final status)
RAW_CASES = {
    "slow headers": (drip_headers, False, TRIES, "failed"),
    "slow body (200)": (drip_body(200), True, 1, "succeeded"),
    "reset": (reset_before_status, False, TRIES, "failed"),
    "short body (200)": (close_mid_body(200), True, 1, "succeeded"),
    "short body (500)": (close_mid_body(500), False, TRIES, "failed"),
    "garbage status line": (garbage_status_line, False, None, None),
    "huge body (200)": (huge_body(200), True, 1, "succeeded"),
    "gzip bomb (200)": (gzip_bomb(200), True, 1, "succeeded"),
    "bad charset (200)": (unknown_charset(200), True, 1, "succeeded"),
    "NUL bytes (200)": (nul_bytes(200), True, 1, "succeeded"),
}
HTTP_CASES = {  # path: (requests each delivery gets, final status)
    "/healthy-1": (1, "succeeded"),
    "/healthy-2": (1, "succeeded"),
    "/429": (TRIES, "failed"),  # always 429 with Retry-After: 1
    "/503-burst": (2, "succeeded"),  # 503 to each delivery's first try
    "/410": (None, None),  # 410 Gone: that endpoint is disabled
}
HOSTILE_TYPE, HEALTHY_TYPE = "fault.hostile", "fault.healthy"


def test_a_hostile_receiver_matrix(cluster, receiver):
    """240 events at once: the healthy endpoints take them all, each of 13 hostile ones
    the 40 of type fault.hostile. Healthy endpoints get everything, each hostile try is
    exactly one Attempt, every delivery gets the tries its receiver's answers call for
    and never more than the schedule allows, and nothing loops afterwards."""
    started = time.monotonic()
    figures = Figures("4. hostile receiver matrix", "redis")
    group = cluster(**HOSTILE_WEBHOOKS)
    burst = first_try_fails(503)

    def respond(item):
        if item.path == "/429":
            return Reply(status=429, headers={"Retry-After": "1"})
        if item.path == "/410":
            return Reply(status=410)
        return burst(item) if item.path == "/503-burst" else Reply()

    receiver.respond = respond
    servers = {name: HostileServer(b, accepts=a).start() for name, (b, a, *_) in RAW_CASES.items()}
    try:
        expect: dict[int, tuple[str, int | None, str | None]] = {}
        for name, server in servers.items():
            endpoint = Endpoint.objects.create(url=server.url, event_types=[HOSTILE_TYPE])
            expect[endpoint.pk] = (name, *RAW_CASES[name][2:])
        for path, outcome in HTTP_CASES.items():
            types = [] if path.startswith("/healthy") else [HOSTILE_TYPE]
            endpoint = Endpoint.objects.create(url=receiver.url(path), event_types=types)
            expect[endpoint.pk] = (path, *outcome)
        group.start_workers(2)
        for first in range(0, 240, 60):
            with transaction.atomic():
                for n in range(first, first + 60):
                    send_event(HOSTILE_TYPE if n % 6 == 0 else HEALTHY_TYPE, {"n": n})
        receivers = [receiver, *servers.values()]
        assert group.settle(all_done(), SETTLE), harness.still_pending()
        # Nothing loops: sweeping on past any lease adds no try.
        before = (Attempt.objects.count(), harness.requests_seen(receivers))
        group.settle(lambda: False, LEASE + 1, every=0.25)
        after = (Attempt.objects.count(), harness.requests_seen(receivers))

        healthy = [pk for pk, (_, _, final) in expect.items() if final == "succeeded"]
        audit(figures, receivers, healthy=healthy, started=started)
        figures.notes["tries after settling"] = after[0] - before[0]
        problems = figures.problems
        if after != before:
            problems.append(f"tries went on after every delivery settled: {before} -> {after}")
        per_case: dict[str, dict[str, int]] = {}
        for item in Delivery.objects.values("endpoint_id", "status", "attempt_count"):
            name, tries, final = expect[item["endpoint_id"]]
            tally = per_case.setdefault(name, {})
            key = f"{item['status']}/{item['attempt_count']}"
            tally[key] = tally.get(key, 0) + 1
            if item["attempt_count"] > TRIES:
                problems.append(f"{name}: {item['attempt_count']} tries, the schedule has {TRIES}")
            if tries is not None and item["attempt_count"] != tries:
                problems.append(f"{name}: {item['attempt_count']} tries, expected {tries}")
            if final is not None and item["status"] != final:
                problems.append(f"{name}: delivery {item['status']}, expected {final}")
        figures.notes["deliveries by case (status/tries)"] = per_case
        gone = Endpoint.objects.get(url=receiver.url("/410"))
        if gone.is_active:
            problems.append("the endpoint that answered 410 is still active")
        if gone.deliveries.filter(attempt_count__gt=1).exists():
            problems.append("a 410 was retried")
        capped = settings.WEBHOOKS.get("MAX_RESPONSE_BODY", 20_480)
        bodies = Attempt.objects.values_list("response_body", flat=True)
        if (longest := max(map(len, bodies))) > capped:
            problems.append(f"a stored response body of {longest} characters (cap {capped})")
        check(figures)
        assert figures.expired == 0 and figures.duplicates == 0
    finally:
        for server in servers.values():
            server.stop()


# --- 5. commit, then crash before the wake-up ---------------------------------------------------


def test_a_producer_dying_between_commit_and_wake_up(cluster, receiver):
    """Four producer processes each commit 75 events in one transaction and die
    (``os._exit``) in the first on-commit callback, before ``send_event``'s wake-up. With
    no wake-up on the broker the idle worker sends nothing; the sweep delivers them all."""
    started = time.monotonic()
    figures = Figures("5. commit, then crash", "redis")
    group = cluster()
    endpoints(receiver, "/a", "/b")
    group.start_workers(1)
    producers = [group.run_producer(75, "fault.crash") for _ in range(4)]
    assert [p.wait(timeout=SETTLE) for p in producers] == [EXIT_CODE] * 4
    wait_quiet([receiver], quiet=1.0, timeout=10)
    figures.stranded = undone()
    assert receiver.requests == [], "something woke the worker: the crash did not strand them"
    assert group.settle(all_done(), SETTLE), harness.still_pending()
    wait_quiet([receiver], quiet=0.5, timeout=10)

    check(audit(figures, [receiver], started=started))
    assert figures.events == 300 and figures.stranded == 600
    assert figures.expired == 0 and figures.duplicates == 0


# --- 6. several workers and sweeps at once ------------------------------------------------------


@BROKERS
def test_several_workers_and_sweeps_at_once(cluster, broker, receiver):
    """300 events to 3 endpoints in 30 transactions; three worker processes (prefork 2),
    two ``webhooks_sweep --loop --interval 0.1`` processes and this test's own sweeps every
    0.2 s, all at once: every wake-up beyond the first is a no-op, nothing is sent twice."""
    started = time.monotonic()
    figures = Figures("6. 3 workers and 3 sweepers at once", broker)
    group = cluster()
    receiver.default = Reply(delay=0.01)
    endpoints(receiver, "/a", "/b", "/c")
    group.start_workers(3)
    for _ in range(2):
        group.start_sweeper(interval=0.1)
    send_events(300, per_transaction=10)
    assert group.settle(all_done(), SETTLE, every=0.2)
    wait_quiet([receiver], quiet=0.5, timeout=10)

    check(audit(figures, [receiver], started=started))
    assert figures.expired == 0 and figures.duplicates == 0


# --- 8. a worker frozen past its leases --------------------------------------------------------


def claimed_unsent(seen: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(path, event id) of the deliveries under a lease whose request nobody has seen."""
    leased = Delivery.objects.filter(status="pending", locked_until__gt=timezone.now())
    pairs = {
        (urlsplit(url).path, event_id)
        for url, event_id in leased.values_list("endpoint__url", "event_id")
    }
    return pairs - seen


def test_a_worker_frozen_past_its_leases(cluster, receiver):
    """A worker's whole process group is stopped (SIGSTOP: a long GC pause, a starved or
    suspended VM) at a moment when it holds leases on deliveries it has not sent yet (it is
    frozen again and again, 20 requests apart, until the database shows such a moment). It
    is resumed (SIGCONT) once another worker has taken over the expired leases and sends
    them again. The frozen worker's late tries must not undo the new lease holder's: every
    try is still exactly one Attempt, no two requests of a delivery overlap, a delivery is
    sent again only where a try failed or was recorded after its lease ran out, and the
    tries it had claimed but not sent when it froze are not sent (their deadline is over),
    but for those stopped between the deadline check and the write itself."""
    started = time.monotonic()
    figures = Figures("8. worker frozen past its leases", "redis")
    # Lease: 1 + 2 + 1 = 4 s. The frozen tries time out: no breaker pause for that here.
    group = cluster(
        TIMEOUT=(1, 2),
        LEASE_MARGIN=1,
        CIRCUIT_BREAKER_THRESHOLD=100_000,
        CIRCUIT_BREAKER_MIN_REQUESTS=100_000,
    )
    seen: set[tuple[str, str]] = set()
    lock = threading.Lock()
    freeze_at = [40]  # the number of requests seen at which to freeze next
    frozen, resumed, caught = threading.Event(), threading.Event(), threading.Event()

    def respond(item) -> Reply:
        key = (item.path, header(item.headers, "webhook-id"))
        with lock:
            again = key in seen
            seen.add(key)
            if not caught.is_set() and len(seen) >= freeze_at[0] and not frozen.is_set():
                worker.freeze()  # this request, at least, is in flight
                frozen.set()
            if again and caught.is_set() and not resumed.is_set():
                worker.resume()  # this request keeps the new lease holder busy for 1 s
                resumed.set()
        return Reply(delay=1.0 if again else 0.2)

    receiver.respond = respond
    endpoints(receiver, "/a", "/b")
    (worker,) = group.start_workers(1)
    try:
        send_events(200, per_transaction=200)
        while not caught.is_set():
            assert frozen.wait(SETTLE), f"{len(seen)} requests, none caught the worker"
            time.sleep(0.2)  # what the worker wrote before it froze has been read by now
            with lock:
                unsent = claimed_unsent(seen)
                if unsent:
                    figures.notes["leased, unsent when frozen"] = len(unsent)
                    caught.set()
                else:  # try again, a little later
                    freeze_at[0] = len(seen) + 20
                    worker.resume()
                    frozen.clear()
        group.start_workers(1)
        assert group.settle(resumed.is_set, SETTLE, every=0.2)
        assert group.settle(all_done(), SETTLE), harness.still_pending()
        wait_quiet([receiver], quiet=1.0, timeout=10)
    finally:
        worker.resume()

    audit(figures, [receiver], started=started)
    sent_late = 0
    for item in Delivery.objects.select_related("endpoint"):
        key = (urlsplit(item.endpoint.url).path, item.event_id)
        if key in unsent:
            requests = sum(
                1 for r in receiver.requests if (r.path, header(r.headers, "webhook-id")) == key
            )
            sent_late += requests >= item.attempt_count  # its first try reached the receiver
    figures.notes["sent after their lease ran out"] = sent_late
    # What no process can rule out: a sender thread that has checked its deadline and is
    # stopped before its write syscall sends when it resumes (a window of a few bytecodes,
    # widened by waits for the GIL). Such a try overlaps the new lease holder's; it is
    # counted and reported (docs/reliability.md), not a failure. Every other promise holds.
    residual = [problem for problem in figures.problems if problem.startswith("two requests")]
    figures.notes["overlaps from tries stopped mid-send"] = len(residual)
    figures.problems[:] = [p for p in figures.problems if p not in residual]
    assert len(residual) <= sent_late, "an overlap that no late send explains"
    assert sent_late < len(unsent) or len(unsent) == 0, (
        f"all {len(unsent)} tries claimed, unsent, when the worker froze were sent after it "
        "resumed, their deadline and lease long over: the deadline is not checked before sending"
    )
    check(figures)
