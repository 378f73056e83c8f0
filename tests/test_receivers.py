"""WebhookReceiverView: HTTP behaviour and exactly-once processing."""

import json
import socket
import threading
import time
from datetime import timedelta
from urllib.request import Request, urlopen

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from tests import receivers
from tests.conftest import wait_until
from tests.receivers import GITHUB_SECRET, STANDARD_SECRET, STRIPE_SECRET, behaviour
from webhooks_app import checks, delivery, signals, tasks
from webhooks_app.models import Delivery, Endpoint, Event, InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.receivers.processing import reprocess
from webhooks_app.testing import WebhookClient, encode, standard_webhooks_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


@pytest.fixture
def client():
    return WebhookClient()


def post_standard(client, payload, *, msg_id="msg_1", path="/hooks/standard/", **kwargs):
    return client.post_standard_webhooks(
        path, payload, secret=STANDARD_SECRET, msg_id=msg_id, **kwargs
    )


def groups() -> list[str]:
    return sorted(Group.objects.values_list("name", flat=True))


def test_valid_request_is_recorded_and_handled_once(client):
    response = post_standard(client, {"type": "order.paid", "data": {"id": 1}})

    assert response.status_code == 200
    assert response.json() == {"status": "processed", "event_id": "msg_1"}
    event = InboundEvent.objects.get()
    assert (event.source, event.event_id, event.event_type, event.status) == (
        "standard",
        "msg_1",
        "order.paid",
        "processed",
    )
    assert event.payload == {"type": "order.paid", "data": {"id": 1}}
    assert event.processed_at is not None and event.processing_attempts == 1
    assert event.receiver == "tests.receivers.StandardReceiver"
    assert groups() == ["standard:msg_1"]


def test_replay_answers_200_and_runs_nothing(client):
    post_standard(client, {"type": "order.paid"})
    again = post_standard(client, {"type": "order.paid"})

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert behaviour.runs == 1
    event = InboundEvent.objects.get()
    assert event.duplicate_count == 1
    assert groups() == ["standard:msg_1"]


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "missing_signature", "stale", "future"],
)
def test_bad_signature_is_401_with_nothing_stored_or_run(client, tamper):
    body = encode({"type": "order.paid"})
    secret = "whsec_d3Jvbmctc2VjcmV0" if tamper == "secret" else STANDARD_SECRET
    timestamp = int(time.time()) + {"stale": -301, "future": 301}.get(tamper, 0)
    headers = standard_webhooks_headers(secret, body, msg_id="msg_x", timestamp=timestamp)
    if tamper == "body":
        body = encode({"type": "order.refunded"})
    if tamper == "missing_signature":
        del headers["webhook-signature"]

    response = client.post(
        "/hooks/standard/", body, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
    assert behaviour.runs == 0


def test_signature_tolerance_setting_applies(client):
    body = encode({"type": "order.paid"})
    headers = standard_webhooks_headers(STANDARD_SECRET, body, timestamp=int(time.time()) - 100)
    with override_settings(WEBHOOKS={"SIGNATURE_TOLERANCE": 60}):
        response = client.post(
            "/hooks/standard/", body, content_type="application/json", headers=headers
        )
    assert response.status_code == 401


def test_malformed_json_is_400_and_nothing_is_stored(client):
    response = client.post_standard_webhooks(
        "/hooks/standard/", b"{not json", secret=STANDARD_SECRET
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_only_post_is_accepted(client):
    assert client.get("/hooks/standard/").status_code == 405
    assert client.put("/hooks/standard/").status_code == 405
    assert client.head("/hooks/standard/").status_code == 200
    assert client.options("/hooks/standard/").status_code == 200


def test_oversize_body_is_413_and_nothing_is_stored(client):
    with override_settings(WEBHOOKS={"MAX_INBOUND_BODY": 100}):
        response = post_standard(client, {"type": "big", "data": "x" * 200})
        small = post_standard(client, {"type": "small"}, msg_id="msg_small")
    assert response.status_code == 413
    assert small.status_code == 200
    assert list(InboundEvent.objects.values_list("event_id", flat=True)) == ["msg_small"]


def test_oversize_is_refused_from_content_length_before_the_body_is_read(django_server):
    # Announce 50 MB but send none of it: the answer must come without waiting for it.
    port = int(django_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /hooks/standard/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")
    assert not InboundEvent.objects.exists()


def test_handler_error_rolls_back_keeps_the_row_and_answers_500(client):
    behaviour.fail_times = 1
    failed = []
    receiver = lambda sender, **kw: failed.append(kw)  # noqa: E731
    signals.inbound_failed.connect(receiver)
    try:
        response = post_standard(client, {"type": "order.paid"})
    finally:
        signals.inbound_failed.disconnect(receiver)

    assert response.status_code == 500
    assert response.json() == {"status": "failed", "event_id": "msg_1"}
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "RuntimeError: handler failed on purpose" in event.error
    assert groups() == []  # the handler's write was rolled back
    assert [kw["event"].pk for kw in failed] == [event.pk]
    assert isinstance(failed[0]["exception"], RuntimeError)

    # The sender retries: the same event is processed, once.
    retry = post_standard(client, {"type": "order.paid"})
    assert retry.status_code == 200 and retry.json()["status"] == "processed"
    event.refresh_from_db()
    assert event.status == "processed" and event.error == ""
    assert event.processing_attempts == 2
    assert groups() == ["standard:msg_1"]


def test_error_details_are_not_sent_back(client):
    behaviour.fail_times = 1
    response = post_standard(client, {"type": "order.paid"})
    assert b"on purpose" not in response.content


def test_processed_signal_is_sent_after_commit(client):
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(InboundEvent.objects.get(pk=event.pk).status)

    signals.inbound_processed.connect(receiver)
    try:
        post_standard(client, {"type": "order.paid"})
    finally:
        signals.inbound_processed.disconnect(receiver)
    assert seen == ["processed"]


def test_secrets_and_cookies_are_not_stored(client):
    post_standard(
        client,
        {"type": "order.paid"},
        headers={"Authorization": "Bearer x", "Cookie": "a=b", "X-Request-Id": "r1"},
    )
    stored = {k.lower() for k in InboundEvent.objects.get().headers}
    assert "x-request-id" in stored and "webhook-id" in stored
    assert not stored & {"authorization", "cookie", "webhook-signature"}


def test_handlers_by_event_type(client):
    post_standard(client, {"type": "order.paid"}, msg_id="a", path="/hooks/typed/")
    post_standard(client, {"type": "order.refunded"}, msg_id="b", path="/hooks/typed/")
    assert groups() == ["paid:a"]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_rotation_accepts_old_and_new_secret(client):
    old = post_standard(client, {"type": "t"}, msg_id="old", path="/hooks/rotating/")
    new = client.post_standard_webhooks(
        "/hooks/rotating/", {"type": "t"}, secret="whsec_bmV3LXNlY3JldA==", msg_id="new"
    )
    assert (old.status_code, new.status_code) == (200, 200)


def test_same_event_id_from_two_sources_is_two_events(client):
    post_standard(client, {"type": "t"}, msg_id="same")
    post_standard(client, {"type": "t"}, msg_id="same", path="/hooks/typed/")
    assert InboundEvent.objects.count() == 2


def test_stripe_and_github_receivers(client):
    stripe = client.post_stripe(
        "/hooks/stripe/", {"id": "evt_1", "type": "charge.succeeded"}, secret=STRIPE_SECRET
    )
    github = client.post_github(
        "/hooks/github/",
        {"action": "opened"},
        secret=GITHUB_SECRET,
        event="issues",
        delivery_id="d-1",
    )
    assert (stripe.status_code, github.status_code) == (200, 200)
    assert set(InboundEvent.objects.values_list("source", "event_id", "event_type")) == {
        ("stripe", "evt_1", "charge.succeeded"),
        ("github", "d-1", "issues.opened"),
    }


def test_reprocess_runs_failed_events_with_their_receiver(client):
    behaviour.fail_times = 1
    post_standard(client, {"type": "order.paid"})
    post_standard(client, {"type": "order.paid"}, msg_id="ok")

    counts = reprocess(InboundEvent.objects.all())

    assert counts == {"processed": 1, "duplicate": 0, "failed": 0}
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert behaviour.runs == 3


def test_reprocess_command(client, capsys):
    behaviour.fail_times = 1
    post_standard(client, {"type": "order.paid"})
    call_command("webhooks_reprocess", "--source", "standard")
    assert "1 processed" in capsys.readouterr().out
    assert InboundEvent.objects.get().status == "processed"


def test_reprocess_command_rejects_bad_arguments():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("webhooks_reprocess", "--since-hours", "-1")
    with pytest.raises(CommandError):
        call_command("webhooks_reprocess", "--status", "bogus")


def test_async_mode_answers_202_and_processes_in_a_worker(client, celery_worker):
    response = post_standard(client, {"type": "order.paid"}, path="/hooks/async/")
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    wait_until(lambda: InboundEvent.objects.filter(status="processed").exists())
    assert groups() == ["async:msg_1"]
    # A copy that arrives once it is processed is answered as a duplicate and runs nothing.
    late = post_standard(client, {"type": "order.paid"}, path="/hooks/async/")
    assert (late.status_code, late.json()["status"]) == (200, "duplicate")
    time.sleep(0.3)
    assert behaviour.runs == 1


def test_async_failure_is_retried_with_backoff(client, celery_worker, monkeypatch):
    monkeypatch.setattr(tasks.process_inbound, "retry_backoff", 1)
    behaviour.fail_times = 1
    post_standard(client, {"type": "order.paid"}, path="/hooks/async/")
    wait_until(lambda: InboundEvent.objects.filter(status="processed").exists(), timeout=20)
    event = InboundEvent.objects.get()
    assert event.processing_attempts == 2
    assert groups() == ["async:msg_1"]


def test_process_async_task_uses_autoretry_not_manual_retry():
    assert tasks.InboundProcessingFailed in tasks.process_inbound.autoretry_for
    assert tasks.process_inbound.retry_backoff


def test_system_checks_flag_receivers_without_a_usable_verifier():
    assert checks.check_receivers() == []  # the test URLconf is well configured
    with override_settings(ROOT_URLCONF="tests.urls_misconfigured"):
        problems = checks.check_receivers()
    assert sorted(p.id for p in problems) == ["webhooks_app.E003", "webhooks_app.E004"]


def test_a_receiver_without_a_secret_refuses_everything(client):
    from webhooks_app.receivers import StandardWebhooksVerifier

    monkey = StandardWebhooksVerifier(secret="")
    original = receivers.StandardReceiver.verifier
    receivers.StandardReceiver.verifier = monkey
    try:
        response = post_standard(client, {"type": "t"})
    finally:
        receivers.StandardReceiver.verifier = original
    assert response.status_code == 500
    assert not InboundEvent.objects.exists()


def test_concurrent_copies_run_the_handler_once(django_server):
    """32 threads send the same event at once while the handler sleeps."""
    behaviour.sleep = 0.5
    body = encode({"type": "order.paid", "data": {"id": 1}})
    headers = {
        **standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_race"),
        "Content-Type": "application/json",
    }
    barrier = threading.Barrier(32)
    statuses, errors = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            request = Request(django_server + "/hooks/standard/", body, headers, method="POST")
            with urlopen(request, timeout=60) as response:
                statuses.append((response.status, json.load(response)["status"]))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert errors == []
    assert behaviour.runs == 1
    assert sorted(statuses).count((200, "processed")) == 1
    assert sorted(statuses).count((200, "duplicate")) == 31
    event = InboundEvent.objects.get()
    assert event.status == "processed" and event.duplicate_count == 31
    assert groups() == ["standard:msg_race"]


def test_our_sender_and_our_receiver_agree(django_server):
    """Contract: a delivery from the outbound pipeline verifies in a receiver."""
    endpoint = Endpoint.objects.create(
        url=django_server + "/hooks/standard/", secret=STANDARD_SECRET
    )
    event = Event.objects.create(event_type="order.paid", payload={"order_id": 42})
    item = Delivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())

    outcome = delivery.deliver(item.pk)

    assert outcome.attempt.status_code == 200
    inbound = InboundEvent.objects.get()
    assert inbound.event_id == str(event.id)
    assert inbound.event_type == "order.paid"
    assert inbound.payload["data"] == {"order_id": 42}
    # Rotation on the sending side: the receiver still knows only the old secret.
    endpoint.rotate_secret()
    second = Event.objects.create(event_type="order.paid", payload={})
    item = Delivery.objects.create(event=second, endpoint=endpoint, next_attempt_at=timezone.now())
    assert delivery.deliver(item.pk).attempt.status_code == 200


def test_sweep_processes_inbound_events_left_pending(client, celery_worker, monkeypatch):
    with monkeypatch.context() as patch:
        # The broker loses the wake-up for an async event.
        patch.setattr(tasks.process_inbound, "apply_async", lambda *a, **kw: None)
        post_standard(client, {"type": "order.paid"}, path="/hooks/async/")
    event = InboundEvent.objects.get()
    assert event.status == "pending"
    assert processing.sweep_pending() == 0  # too recent: it may still be on its way

    InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    call_command("webhooks_sweep")

    wait_until(lambda: InboundEvent.objects.filter(status="processed").exists())
    assert behaviour.runs == 1


def test_slack_url_verification_is_echoed_and_not_recorded(client):
    from tests.receivers import SLACK_SECRET

    payload = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "token": "x",
    }
    response = client.post_slack("/hooks/slack/", payload, secret=SLACK_SECRET)
    assert response.status_code == 200
    assert response.json() == {"challenge": payload["challenge"]}
    assert not InboundEvent.objects.exists()
    forged = client.post_slack("/hooks/slack/", payload, secret="not-the-secret")
    assert forged.status_code == 401
