"""Hostile receivers and unusable endpoint settings: every try ends in one Attempt.

A scripted raw-socket server on 127.0.0.1 plays one misbehaviour per test, byte
by byte: resets, stalls, drips, short or undecodable bodies. Whatever it does,
``attempt.deliver`` returns (it never raises), ends the try by one overall
deadline (connect + read timeouts, shorter than the lease), and records what
went wrong in exactly one Attempt row. Stored endpoint settings that cannot be
used (a header, the secret, the URL) fail the delivery at once, with no request
sent. Run through a real worker with a sweep alongside, no misbehaviour makes a
delivery loop past its schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.hostile import (
    UNKNOWN_CHARSET_BODY,
    Behaviour,
    HostileServer,
    answer,
    close_before_status,
    close_mid_body,
    drip_body,
    drip_headers,
    drip_status_line,
    invalid_gzip,
    reset_after_headers,
    reset_before_status,
    stall_after_headers,
    unknown_charset,
)
from webhooks_app import send_event
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.retry import Verdict
from webhooks_app.sending import engine
from webhooks_app.sending.sweep import sweep

pytestmark = pytest.mark.django_db(transaction=True)

CONNECT, READ, LEASE_MARGIN = 1, 1, 1
DEADLINE = CONNECT + READ  # one overall deadline per request: head and body together
SLACK = 1.0  # what a try may take beyond its deadline (scheduling, writing the Attempt)
LEASE = CONNECT + READ + LEASE_MARGIN
TEST_WEBHOOKS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (CONNECT, READ),
    "LEASE_MARGIN": LEASE_MARGIN,
    "RETRY_SCHEDULE": [0.2, 0.4],  # three tries
}
TRIES = len(TEST_WEBHOOKS["RETRY_SCHEDULE"]) + 1


@pytest.fixture(autouse=True)
def _settings():
    with override_settings(WEBHOOKS=TEST_WEBHOOKS):
        yield


@pytest.fixture
def hostile() -> Iterator[Callable[[Behaviour], HostileServer]]:
    """Start a HostileServer playing a behaviour; every one is stopped after the test."""
    servers: list[HostileServer] = []

    def start(behaviour: Behaviour) -> HostileServer:
        servers.append(HostileServer(behaviour).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# --- helpers ------------------------------------------------------------------------------------


def make_delivery(url: str) -> Delivery:
    """A due delivery to a new endpoint at ``url``, written directly (nothing is enqueued)."""
    endpoint = Endpoint.objects.create(url=url)
    event = Event.objects.create(event_type="order.paid", payload={"order_id": 42})
    return Delivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())


class Tried:
    """One call of ``deliver``, checked to have written exactly one Attempt (number 1)."""

    def __init__(self, item: Delivery) -> None:
        started = time.monotonic()
        self.outcome = engine.deliver(item.pk)
        self.elapsed = time.monotonic() - started
        assert self.outcome is not None, "deliver() did nothing with a due delivery"
        attempts = list(Attempt.objects.filter(delivery=item).order_by("number"))
        assert [a.number for a in attempts] == [1], [
            (a.number, a.status_code, a.error_type) for a in attempts
        ]
        self.attempt = attempts[0]
        assert self.outcome.attempt.pk == self.attempt.pk
        self.verdict = self.outcome.decision.verdict
        item.refresh_from_db()
        self.delivery = item

    def __repr__(self) -> str:
        a = self.attempt
        return (
            f"<try in {self.elapsed:.2f}s: status={a.status_code} error_type={a.error_type!r} "
            f"error={a.error!r} verdict={self.verdict} delivery={self.delivery.status}>"
        )

    def assert_within_deadline(self) -> None:
        assert self.elapsed < DEADLINE + SLACK, (
            f"the try took {self.elapsed:.2f}s; its deadline is connect + read = {DEADLINE}s "
            f"(+{SLACK}s slack), within the {LEASE}s lease: {self!r}"
        )
        assert self.attempt.duration_ms < (DEADLINE + SLACK) * 1000, self


def no_request_reached(server: HostileServer) -> bool:
    time.sleep(0.2)  # anything sent would have been read by now
    return server.requests == []


# --- one try, called directly --------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [drip_status_line, drip_headers], ids=lambda b: b.__name__)
def test_a_head_that_never_completes_times_out_by_the_overall_deadline(hostile, behaviour):
    """Bytes arriving every 0.3 s never trip a 1 s read timeout; the overall deadline
    (connect + read) still ends the try, before its lease, as a retried timeout."""
    server = hostile(behaviour)
    tried = Tried(make_delivery(server.url))

    tried.assert_within_deadline()
    assert tried.attempt.error_type == "timeout", tried
    assert tried.attempt.status_code is None, tried
    assert tried.verdict is Verdict.RETRY, tried
    assert tried.delivery.status == "pending" and tried.delivery.locked_until is None
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "behaviour", [reset_before_status, close_before_status], ids=lambda b: b.__name__
)
def test_a_connection_dropped_before_a_status_line_is_retried(hostile, behaviour):
    """A reset or a close before any status line is a "connection" error, retried."""
    server = hostile(behaviour)
    tried = Tried(make_delivery(server.url))

    tried.assert_within_deadline()
    assert tried.attempt.error_type == "connection", tried
    assert tried.attempt.status_code is None and tried.attempt.error, tried
    assert tried.verdict is Verdict.RETRY, tried
    assert tried.delivery.status == "pending"


BROKEN_BODIES = [reset_after_headers, close_mid_body, stall_after_headers, drip_body, invalid_gzip]


@pytest.mark.parametrize(
    ("status", "verdict", "final"),
    [(200, Verdict.SUCCEEDED, "succeeded"), (500, Verdict.RETRY, "pending")],
    ids=["200", "500"],
)
@pytest.mark.parametrize("broken", BROKEN_BODIES, ids=lambda b: b.__name__)
def test_a_body_that_cannot_be_read_whole_keeps_the_status(hostile, broken, status, verdict, final):
    """A status line arrived, then the body broke (reset, short, stalled, dripping past the
    deadline, bad gzip): a "response_body" error that keeps the status, whose verdict
    follows the status, within the overall deadline."""
    server = hostile(broken(status))
    tried = Tried(make_delivery(server.url))

    tried.assert_within_deadline()
    assert tried.attempt.error_type == "response_body", tried
    assert tried.attempt.status_code == status, tried
    assert tried.attempt.error, tried  # what went wrong with the body
    assert tried.verdict is verdict, tried
    assert tried.delivery.status == final, tried
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "verdict", "final"),
    [(200, Verdict.SUCCEEDED, "succeeded"), (500, Verdict.RETRY, "pending")],
    ids=["200", "500"],
)
def test_an_unknown_charset_is_read_as_utf8(hostile, status, verdict, final):
    """``charset=no-such-codec`` is no error: the body is stored decoded as UTF-8 with
    replacement characters, and the verdict follows the status."""
    server = hostile(unknown_charset(status))
    tried = Tried(make_delivery(server.url))

    assert tried.attempt.status_code == status, tried
    assert tried.attempt.response_body == "café ok \ufffd", tried
    assert tried.verdict is verdict, tried
    assert tried.delivery.status == final, tried
    if status == 200:
        assert not tried.attempt.error_type and tried.attempt.error == "", tried


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "hex", "uu"])
def test_a_charset_that_is_no_text_encoding_is_read_as_utf8(hostile, charset):
    """``codecs.lookup`` knows ``base64`` or ``rot13``, but they are no text encodings:
    decoding with them fails. A 200 is a success all the same (one try, no retry)."""
    reply = answer(200, UNKNOWN_CHARSET_BODY, f"Content-Type: text/plain; charset={charset}")
    server = hostile(reply)
    tried = Tried(make_delivery(server.url))

    assert tried.attempt.status_code == 200, tried
    assert tried.attempt.response_body == "café ok \ufffd", tried
    assert not tried.attempt.error_type and tried.attempt.error == "", tried
    assert tried.verdict is Verdict.SUCCEEDED, tried
    assert tried.delivery.status == "succeeded", tried
    assert len(server.requests) == 1


def test_nul_bytes_in_a_response_body_are_replaced(hostile):
    """NUL cannot be stored in a PostgreSQL text column: each one is stored as U+FFFD,
    and the try succeeds as its status says (on SQLite and PostgreSQL alike)."""
    server = hostile(answer(200, b"ok\x00\x00bad", "Content-Type: text/plain; charset=utf-8"))
    tried = Tried(make_delivery(server.url))

    tried.attempt.refresh_from_db()
    assert tried.attempt.response_body == "ok\ufffd\ufffdbad", tried
    assert tried.attempt.status_code == 200 and not tried.attempt.error_type, tried
    assert tried.verdict is Verdict.SUCCEEDED
    assert tried.delivery.status == "succeeded"


# --- stored settings that cannot be used ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["café ☕", "a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rX-Injected: 1"],
    ids=["not-latin-1", "crlf", "lf", "cr"],
)
def test_a_stored_header_that_cannot_be_sent_fails_at_once(hostile, value):
    """A stored header value that is not latin-1 or holds CR/LF fails the delivery at once
    ("invalid_header", no retry, no request); the error names the header, never its value."""
    server = hostile(answer(200, b"ok"))
    item = make_delivery(server.url)
    Endpoint.objects.filter(pk=item.endpoint_id).update(
        headers={"X-Tenant": "acme", "X-Note": value}
    )
    tried = Tried(item)

    assert tried.attempt.error_type == "invalid_header", tried
    assert tried.verdict is Verdict.FAILED, tried
    assert tried.delivery.status == "failed" and tried.delivery.attempt_count == 1, tried
    assert "x-note" in tried.attempt.error.lower(), tried
    for text in (tried.attempt.error, tried.delivery.last_error):
        for leaked in (value, "café", "☕", "X-Injected"):
            assert leaked not in text, tried
    assert no_request_reached(server)


@pytest.mark.parametrize("headers", [["X-Tenant"], "X-Tenant: acme"], ids=["list", "string"])
def test_stored_headers_that_are_not_an_object_fail_at_once(hostile, headers):
    """Headers stored as something other than a JSON object cannot be sent either:
    one "invalid_header" Attempt, failed at once, no request."""
    server = hostile(answer(200, b"ok"))
    item = make_delivery(server.url)
    Endpoint.objects.filter(pk=item.endpoint_id).update(headers=headers)
    tried = Tried(item)

    assert tried.attempt.error_type == "invalid_header", tried
    assert tried.verdict is Verdict.FAILED, tried
    assert tried.delivery.status == "failed", tried
    assert no_request_reached(server)


@pytest.mark.parametrize("secret", ["not-a-secret", "whsec_!!!!", "whsec_"])
def test_an_unusable_secret_fails_at_once_without_a_request(hostile, secret):
    """A stored secret that is not ``whsec_`` + base64 cannot sign: one "invalid_secret"
    Attempt, failed at once, no request; the error never contains the secret."""
    server = hostile(answer(200, b"ok"))
    item = make_delivery(server.url)
    Endpoint.objects.filter(pk=item.endpoint_id).update(secret=secret)
    tried = Tried(item)

    assert tried.attempt.error_type == "invalid_secret", tried
    assert tried.verdict is Verdict.FAILED, tried
    assert tried.delivery.status == "failed" and tried.delivery.attempt_count == 1, tried
    if secret != "whsec_":  # the bare prefix may well be named in the explanation
        assert secret not in tried.attempt.error and secret not in tried.delivery.last_error
    assert no_request_reached(server)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hook", "http://[::1/hook", "http://127.0.0.1:99999/hook"]
)
def test_an_unusable_stored_url_is_one_failed_attempt(url):
    """A URL stored past validation (wrong scheme, unparsable, bad port) is an
    "invalid_url" Attempt, failed at once: deliver never raises on it."""
    item = make_delivery("http://127.0.0.1:9/hook")
    Endpoint.objects.filter(pk=item.endpoint_id).update(url=url)
    tried = Tried(item)

    assert tried.attempt.error_type == "invalid_url", tried
    assert tried.verdict is Verdict.FAILED, tried
    assert tried.delivery.status == "failed", tried


# --- nothing loops: a real worker, and a sweep running alongside -----------------------------

SETTLE_TIMEOUT = 15.0  # seconds for the delivery to leave "pending"
SWEEP_EVERY = 0.2
TAIL = LEASE + 0.5  # keep sweeping after that, past any lease a lost try would hold


def sweep_for(seconds: float, until: Callable[[], bool] = lambda: False) -> bool:
    """Run the sweep every SWEEP_EVERY for ``seconds`` or until ``until()``; return until()."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if until():
            return True
        sweep()
        time.sleep(SWEEP_EVERY)
    return until()


@pytest.mark.parametrize(
    ("behaviour", "requests", "final"),
    [
        pytest.param(reset_after_headers(500), TRIES, "failed", id="reset_after_headers-500"),
        pytest.param(drip_headers, TRIES, "failed", id="drip_headers"),
        pytest.param(close_mid_body(500), TRIES, "failed", id="short_body-500"),
        pytest.param(close_mid_body(200), 1, "succeeded", id="short_body-200"),
        pytest.param(invalid_gzip(500), TRIES, "failed", id="invalid_gzip-500"),
        pytest.param(unknown_charset(500), TRIES, "failed", id="unknown_charset-500"),
        pytest.param(unknown_charset(200), 1, "succeeded", id="unknown_charset-200"),
    ],
)
def test_nothing_loops_with_a_worker_and_a_sweep(
    celery_worker, hostile, behaviour, requests, final
):
    """Sent by a real worker with the sweep running every 0.2 s, a hostile receiver gets
    at most the scheduled tries (all of them when each fails retryably), each try has
    exactly one Attempt numbered 1..n, and the delivery ends failed or succeeded."""
    server = hostile(behaviour)
    Endpoint.objects.create(url=server.url)
    event = send_event("order.paid", {"order_id": 42})
    deliveries = Delivery.objects.filter(event=event)  # fan-out may happen in the worker

    def finished() -> bool:
        return deliveries.exclude(status="pending").exists()

    settled = sweep_for(SETTLE_TIMEOUT, finished)
    sweep_for(TAIL)

    assert deliveries.count() == 1, f"{deliveries.count()} deliveries for one endpoint"
    item = deliveries.get()
    attempts = list(
        item.attempts.order_by("number").values_list("number", "status_code", "error_type")
    )
    summary = (
        f"status={item.status} attempt_count={item.attempt_count} "
        f"requests={len(server.requests)} attempts={attempts}"
    )
    assert settled, f"still pending after {SETTLE_TIMEOUT}s: {summary}"
    assert len(server.requests) <= TRIES, summary
    assert len(server.requests) == requests, summary
    assert item.attempt_count == len(attempts) == len(server.requests), summary
    assert [number for number, _, _ in attempts] == list(range(1, len(attempts) + 1)), summary
    assert all(kind != "lease_expired" for _, _, kind in attempts), summary  # no try was lost
    assert item.status == final, summary
