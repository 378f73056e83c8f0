"""One delivery, sent by the plain function to a real HTTP server on 127.0.0.1."""

import json
import socket
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from tests.conftest import Reply
from tests.hostile import parse_headers, read_request
from webhooks_app import __version__, operations, send_event, signals
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.sending import attempt, engine, results
from webhooks_app.sending.sweep import sweep

pytestmark = pytest.mark.django_db(transaction=True)

TEST_WEBHOOKS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (2, 1),
    "LEASE_MARGIN": 1,
    "RETRY_SCHEDULE": [10, 20],
}


@pytest.fixture(autouse=True)
def _settings():
    with override_settings(WEBHOOKS=TEST_WEBHOOKS):
        yield


@pytest.fixture
def endpoint(http_server):
    return Endpoint.objects.create(url=http_server.url())


def make_delivery(event_type="order.paid", payload=None) -> Delivery:
    """A due delivery to the newest endpoint, written directly: no task is enqueued,
    so a worker running for other tests cannot race the direct calls made here."""
    event = Event.objects.create(
        event_type=event_type, payload=payload if payload is not None else {"order_id": 42}
    )
    endpoint = Endpoint.objects.order_by("-pk").first()
    return Delivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())


class Recorder:
    def __init__(self, signal):
        self.calls = []
        signal.connect(self.receive, weak=False)
        self.signal = signal

    def receive(self, sender, **kwargs):
        self.calls.append(kwargs)

    def disconnect(self):
        self.signal.disconnect(self.receive)


@pytest.fixture
def record_signal():
    recorders = []

    def connect(signal):
        recorders.append(Recorder(signal))
        return recorders[-1]

    yield connect
    for recorder in recorders:
        recorder.disconnect()


def test_success_sends_a_signed_standard_webhook(http_server, endpoint, record_signal):
    succeeded = record_signal(signals.delivery_succeeded)
    item = make_delivery(payload={"order_id": 42})

    outcome = engine.deliver(item.pk)

    (request,) = http_server.requests
    event = item.event
    assert request.headers["webhook-id"] == str(event.id)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"webhooks_app/{__version__}"
    body = request.json()
    assert body == {
        "type": "order.paid",
        "timestamp": event.created_at.isoformat(),
        "data": {"order_id": 42},
    }
    # The reference implementation accepts our signature.
    Webhook(endpoint.secret).verify(request.body, request.headers)

    item.refresh_from_db()
    assert outcome.attempt.status_code == 200
    assert item.status == "succeeded"
    assert item.attempt_count == 1
    assert item.next_attempt_at is None and item.locked_until is None
    assert item.finished_at is not None
    (attempt,) = item.attempts.all()
    assert (attempt.number, attempt.status_code, attempt.error, attempt.trigger) == (
        1,
        200,
        "",
        "scheduled",
    )
    assert attempt.response_body == "ok"
    assert [c["delivery"].pk for c in succeeded.calls] == [item.pk]


def test_body_is_identical_on_every_attempt(http_server, endpoint):
    http_server.reply(Reply(status=500))
    item = make_delivery()
    engine.deliver(item.pk)
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    engine.deliver(item.pk)
    first, second = http_server.requests
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_rotation_signs_with_both_secrets_during_the_grace_period(http_server, endpoint):
    old_secret = endpoint.secret
    new_secret = endpoint.rotate_secret()
    assert new_secret != old_secret and new_secret.startswith("whsec_")

    engine.deliver(make_delivery().pk)

    (request,) = http_server.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(old_secret).verify(request.body, request.headers)


def test_rotated_out_secret_stops_signing_after_its_grace_period(http_server, endpoint):
    old_secret = endpoint.secret
    endpoint.rotate_secret(grace=0)
    engine.deliver(make_delivery().pk)
    (request,) = http_server.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(endpoint.secret).verify(request.body, request.headers)
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(old_secret).verify(request.body, request.headers)


def test_endpoint_headers_are_sent_but_cannot_replace_ours(http_server):
    Endpoint.objects.create(
        url=http_server.url(),
        headers={
            "X-Tenant": "acme",
            "Webhook-Signature": "v1,forged",
            "content-type": "text/plain",
            "WEBHOOK-ID": "msg_forged",
        },
    )
    engine.deliver(make_delivery().pk)
    (request,) = http_server.requests
    assert request.headers["X-Tenant"] == "acme"
    lowered = [name.lower() for name in request.headers]
    assert lowered.count("content-type") == lowered.count("webhook-id") == 1
    sent = {name.lower(): value for name, value in request.headers.items()}
    assert sent["content-type"] == "application/json"
    assert "forged" not in sent["webhook-signature"]
    assert sent["webhook-id"] != "msg_forged"


class KeepAliveServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1 that keeps each connection open and
    records every request it reads there as (connection number, request bytes); it
    frames requests by their Content-Length, as any receiver does."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed by stop()
            number, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._answer, args=(conn, number), daemon=True).start()

    def _answer(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(5)
        with conn:
            try:
                while (raw := read_request(conn)) is not None:
                    self.requests.append((number, raw))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                return

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def keep_alive_server():
    server = KeepAliveServer()
    yield server
    server.stop()


RESERVED_WRITTEN_PAST_VALIDATION = {
    "Host": "evil.example",
    "content-length": "0",
    "Transfer-Encoding": "chunked",
    "CONNECTION": "close",
    "User-Agent": "forged",
    "X-Tenant": "acme",
}


def test_reserved_headers_written_past_validation_are_never_sent(keep_alive_server):
    """Headers put into Endpoint.headers by .update() (or fixtures, or the shell) skip
    validation: the ones every delivery sets itself are dropped when sending, so the
    receiver sees the real Host and Content-Length, and the next request on the same
    kept-alive connection is read as a request of its own."""
    endpoint = Endpoint.objects.create(url=keep_alive_server.url)
    Endpoint.objects.filter(pk=endpoint.pk).update(headers=RESERVED_WRITTEN_PAST_VALIDATION)
    first, second = make_delivery(), make_delivery()

    engine.deliver(first.pk)
    engine.deliver(second.pk)

    assert [number for number, _ in keep_alive_server.requests] == [0, 0]  # one connection
    port = keep_alive_server.listener.getsockname()[1]
    for (_, raw), item in zip(keep_alive_server.requests, [first, second], strict=True):
        headers = parse_headers(raw)
        body = raw.partition(b"\r\n\r\n")[2]
        assert raw.startswith(b"POST /hook HTTP/1.1\r\n"), raw
        assert headers["host"] == f"127.0.0.1:{port}"
        assert headers["content-length"] == str(len(body)) and len(body) > 0
        assert "transfer-encoding" not in headers and "connection" not in headers
        assert headers["user-agent"] == f"webhooks_app/{__version__}"
        assert headers["x-tenant"] == "acme"
        assert json.loads(body)["data"] == {"order_id": 42}
        assert headers["webhook-id"] == item.event_id
    assert Attempt.objects.filter(status_code=200).count() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.parametrize("status", [500, 502, 503, 408, 425, 429])
def test_retryable_answers_are_retried_on_the_schedule(http_server, endpoint, status):
    http_server.reply(Reply(status=status, body=b"busy"))
    item = make_delivery()
    before = timezone.now()

    outcome = engine.deliver(item.pk)

    item.refresh_from_db()
    assert item.status == "pending"
    assert item.locked_until is None
    wait = (item.next_attempt_at - before).total_seconds()
    assert 10 * 0.75 <= wait <= 10 * 1.25 + 1  # RETRY_SCHEDULE[0] with jitter
    assert outcome.decision.delay == pytest.approx(wait, abs=1)
    attempt = item.attempts.get()
    assert (attempt.status_code, attempt.response_body) == (status, "busy")
    assert f"HTTP {status}" in attempt.error


def test_out_of_attempts_fails_for_good_and_signals(http_server, endpoint, record_signal):
    failed = record_signal(signals.delivery_failed)
    http_server.default = Reply(status=500)
    item = make_delivery()
    for _ in range(len(TEST_WEBHOOKS["RETRY_SCHEDULE"]) + 1):
        Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
        assert engine.deliver(item.pk) is not None

    item.refresh_from_db()
    assert item.status == "failed"
    assert item.attempt_count == 3 == item.attempts.count()
    assert item.next_attempt_at is None
    assert len(http_server.requests) == 3
    (call,) = failed.calls
    assert call["delivery"].pk == item.pk and "out of attempts" in call["reason"]
    # A finished delivery is never sent again.
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    assert engine.deliver(item.pk) is None
    assert len(http_server.requests) == 3


def test_retry_after_in_seconds_is_honoured(http_server, endpoint):
    http_server.reply(Reply(status=429, headers={"Retry-After": "120"}))
    item = make_delivery()
    before = timezone.now()
    engine.deliver(item.pk)
    item.refresh_from_db()
    assert 119 <= (item.next_attempt_at - before).total_seconds() <= 122


def test_retry_after_is_capped(http_server, endpoint):
    http_server.reply(Reply(status=503, headers={"Retry-After": "999999"}))
    item = make_delivery()
    before = timezone.now()
    with override_settings(WEBHOOKS={**TEST_WEBHOOKS, "MAX_RETRY_AFTER": 60}):
        engine.deliver(item.pk)
    item.refresh_from_db()
    assert 59 <= (item.next_attempt_at - before).total_seconds() <= 62


def test_410_gone_fails_and_disables_the_endpoint(http_server, endpoint, record_signal):
    disabled = record_signal(signals.endpoint_disabled)
    failed = record_signal(signals.delivery_failed)
    http_server.reply(Reply(status=410))
    item = make_delivery()

    engine.deliver(item.pk)

    item.refresh_from_db()
    endpoint.refresh_from_db()
    assert item.status == "failed"
    assert not endpoint.is_active
    assert "410" in endpoint.disabled_reason
    assert endpoint.disabled_at is not None
    assert [c["endpoint"].pk for c in disabled.calls] == [endpoint.pk]
    assert len(failed.calls) == 1
    # A disabled endpoint gets no new deliveries.
    send_event("order.paid", {})
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_fail_at_once(http_server, endpoint, status):
    http_server.reply(Reply(status=status))
    item = make_delivery()
    engine.deliver(item.pk)
    item.refresh_from_db()
    endpoint.refresh_from_db()
    assert item.status == "failed"
    assert item.attempt_count == 1
    assert endpoint.is_active


def test_client_errors_can_be_made_retryable(http_server, endpoint):
    http_server.reply(Reply(status=404))
    item = make_delivery()
    with override_settings(WEBHOOKS={**TEST_WEBHOOKS, "RETRY_CLIENT_ERRORS": True}):
        engine.deliver(item.pk)
    item.refresh_from_db()
    assert item.status == "pending"


def test_redirect_is_not_followed(http_server, endpoint):
    http_server.reply(Reply(status=302, headers={"Location": http_server.url("/elsewhere")}))
    item = make_delivery()
    engine.deliver(item.pk)
    item.refresh_from_db()
    assert [r.path for r in http_server.requests] == ["/hook"]
    assert item.status == "failed"
    assert item.attempts.get().status_code == 302


def test_timeout_is_retried(http_server, endpoint):
    http_server.reply(Reply(delay=2.5))  # read timeout is 1 s
    item = make_delivery()
    engine.deliver(item.pk)
    item.refresh_from_db()
    attempt = item.attempts.get()
    assert item.status == "pending"
    assert attempt.status_code is None
    assert attempt.error_type == "timeout"
    assert attempt.duration_ms >= 900


def test_connection_refused_is_retried():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Endpoint.objects.create(url=f"http://127.0.0.1:{port}/hook")
    item = make_delivery()
    engine.deliver(item.pk)
    item.refresh_from_db()
    attempt = item.attempts.get()
    assert item.status == "pending"
    assert attempt.error_type == "connection"
    assert attempt.error


def test_loopback_target_without_the_allowance_gets_no_request(http_server, endpoint):
    item = make_delivery()
    with override_settings(WEBHOOKS={**TEST_WEBHOOKS, "ALLOWED_NETWORKS": []}):
        engine.deliver(item.pk)
    item.refresh_from_db()
    attempt = item.attempts.get()
    assert http_server.requests == []
    assert attempt.error_type == "blocked_address"
    assert "127.0.0.1" in attempt.error and "ALLOWED_NETWORKS" in attempt.error
    assert item.status == "failed"


def test_response_body_is_capped(http_server, endpoint):
    http_server.reply(Reply(status=200, body=b"x" * 100_000))
    item = make_delivery()
    with override_settings(WEBHOOKS={**TEST_WEBHOOKS, "MAX_RESPONSE_BODY": 1000}):
        engine.deliver(item.pk)
    assert item.attempts.get().response_body == "x" * 1000


def test_default_cap_stores_about_20_kb(http_server, endpoint):
    http_server.reply(Reply(status=200, body=b"y" * 100_000))
    item = make_delivery()
    engine.deliver(item.pk)
    assert 10_000 <= len(item.attempts.get().response_body) <= 20_480


def test_not_yet_due_pending_is_a_no_op(http_server, endpoint):
    item = make_delivery()
    Delivery.objects.filter(pk=item.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert engine.deliver(item.pk) is None
    assert http_server.requests == []
    assert not Attempt.objects.exists()


def test_unknown_delivery_is_a_no_op():
    assert engine.deliver(999_999) is None


def test_duplicate_call_after_success_sends_nothing(http_server, endpoint):
    item = make_delivery()
    assert engine.deliver(item.pk) is not None
    assert engine.deliver(item.pk) is None
    assert len(http_server.requests) == 1
    assert Attempt.objects.count() == 1


def test_concurrent_duplicates_send_once(http_server, endpoint):
    http_server.default = Reply(delay=0.3)
    item = make_delivery()
    results = []

    def run():
        try:
            results.append(engine.deliver(item.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert len(http_server.requests) == 1
    assert sum(r is not None for r in results) == 1
    assert Attempt.objects.count() == 1


def test_no_transaction_or_row_lock_is_held_during_the_http_call(http_server, endpoint):
    item = make_delivery()
    seen = {}

    def probe(_request):
        # Runs in the server's thread, on its own database connection, while the
        # deliverer waits for the answer. A held row lock or write transaction
        # would make these fail (or time out the delivery).
        try:
            with transaction.atomic():
                row = (
                    Delivery.objects.select_for_update(
                        nowait=connection.features.has_select_for_update_nowait
                    )
                    .filter(pk=item.pk)
                    .values("locked_until", "attempt_count")
                    .get()
                )
                Delivery.objects.filter(pk=item.pk).update(last_error="probe")
            seen.update(row)
        finally:
            connection.close()

    http_server.on_request = probe
    outcome = engine.deliver(item.pk)

    assert outcome.attempt.status_code == 200
    # The lease was committed before the request went out.
    assert seen["attempt_count"] == 1
    assert seen["locked_until"] > timezone.now()


def test_lease_covers_timeouts_plus_margin(http_server, endpoint):
    item = make_delivery()
    seen = {}

    def probe(_request):
        try:
            seen["locked_until"] = Delivery.objects.get(pk=item.pk).locked_until
        finally:
            connection.close()

    http_server.on_request = probe
    before = timezone.now()
    engine.deliver(item.pk)
    lease = (seen["locked_until"] - before).total_seconds()
    assert 2 + 1 + 1 - 0.5 <= lease <= 2 + 1 + 1 + 0.5  # connect + read + margin


def test_a_lost_attempt_is_recorded_when_its_lease_expires(http_server, endpoint):
    item = make_delivery()
    # A worker claimed attempt 1 and died: its lease is set but no Attempt exists.
    Delivery.objects.filter(pk=item.pk).update(
        attempt_count=1, locked_until=timezone.now() - timedelta(seconds=1)
    )

    engine.deliver(item.pk)

    lost, sent = item.attempts.order_by("number")
    assert (lost.number, lost.error_type, lost.status_code) == (1, "lease_expired", None)
    assert (sent.number, sent.status_code) == (2, 200)
    item.refresh_from_db()
    assert item.status == "succeeded"


def test_a_live_lease_blocks_other_workers(http_server, endpoint):
    item = make_delivery()
    Delivery.objects.filter(pk=item.pk).update(
        attempt_count=1, locked_until=timezone.now() + timedelta(seconds=30)
    )
    assert engine.deliver(item.pk) is None
    assert http_server.requests == []


def test_failure_streak_disables_the_endpoint(http_server, endpoint, record_signal):
    disabled = record_signal(signals.endpoint_disabled)
    http_server.default = Reply(status=500)
    config = {**TEST_WEBHOOKS, "DISABLE_AFTER_FAILURES": 3, "DISABLE_AFTER_SECONDS": 0}
    with override_settings(WEBHOOKS=config):
        for _ in range(3):
            engine.deliver(make_delivery().pk)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "3 failed attempts in a row" in endpoint.disabled_reason
    assert len(disabled.calls) == 1
    # Its pending deliveries stay pending and are not sent while it is disabled.
    pending = Delivery.objects.filter(status="pending").first()
    Delivery.objects.update(next_attempt_at=timezone.now())
    assert engine.deliver(pending.pk) is None
    assert sweep() == 0


def test_streak_must_also_last_long_enough(http_server, endpoint):
    http_server.default = Reply(status=500)
    config = {**TEST_WEBHOOKS, "DISABLE_AFTER_FAILURES": 2, "DISABLE_AFTER_SECONDS": 3600}
    with override_settings(WEBHOOKS=config):
        for _ in range(4):
            engine.deliver(make_delivery().pk)
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.failure_streak == 4


def test_success_resets_the_streak(http_server, endpoint):
    http_server.reply(Reply(status=500), Reply(status=500), Reply(status=200))
    for _ in range(3):
        engine.deliver(make_delivery().pk)
    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 0 and endpoint.failing_since is None


def test_reenabling_resumes_pending_deliveries(http_server, endpoint):
    item = make_delivery()
    Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason="test")
    assert engine.deliver(item.pk) is None
    endpoint.refresh_from_db()
    endpoint.enable()
    assert engine.deliver(item.pk) is not None
    assert len(http_server.requests) == 1


def test_retry_now_makes_a_failed_delivery_due_as_a_manual_try(http_server, endpoint, broker):
    http_server.reply(Reply(status=400))
    item = make_delivery()
    engine.deliver(item.pk)
    assert operations.retry_deliveries(Delivery.objects.filter(pk=item.pk)) == 1
    sent = [(task.name, task.args, task.kwargs) for task in broker.taken()]
    assert sent == [("webhooks_app.tasks.deliver", (item.pk,), {"manual": True})]
    engine.deliver(item.pk, manual=True)
    item.refresh_from_db()
    assert item.status == "succeeded"
    assert list(item.attempts.values_list("number", "trigger")) == [
        (1, "scheduled"),
        (2, "manual"),
    ]


def test_tokens_quoted_in_an_error_are_masked_when_stored(http_server):
    from webhooks_app import transport
    from webhooks_app.sending import claims, recording

    Endpoint.objects.create(url=http_server.url("/hook?token=sekrit123"))
    make_delivery()
    (item,) = claims.claim(1)
    quoted = f"ProtocolError: while reading {item.endpoint.url} (user:hunter2@host)"
    response = transport.Response(None, "", {}, 5, "connection", quoted)
    (outcome,) = recording.record([results.Result(item, response, attempt.decide(1, response))])
    item.refresh_from_db()
    stored = [outcome.attempt.error, item.attempts.get().error, item.last_error]
    assert all("sekrit123" not in text and "token=" in text for text in stored), stored
