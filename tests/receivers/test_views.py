"""WebhookReceiverView: HTTP behaviour and exactly-once processing."""

import hmac
import html
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import IntegrityError
from django.test import override_settings
from django.utils import timezone

from tests import receivers
from tests.conftest import wait_until
from tests.receivers import GITHUB_SECRET, STANDARD_SECRET, STRIPE_SECRET, behaviour
from webhooks_app import checks, signals, signing, tasks
from webhooks_app.models import Delivery, Endpoint, Event, InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.receivers.processing import reprocess
from webhooks_app.sending import engine
from webhooks_app.testing import (
    WebhookClient,
    encode,
    github_headers,
    shopify_headers,
    slack_headers,
    standard_webhooks_headers,
    stripe_headers,
)

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
        deploy_problems = checks.check_receiver_secrets()
    # A missing secret is a warning, an error under `check --deploy` (a build step has none).
    assert sorted(p.id for p in problems) == ["webhooks_app.E003", "webhooks_app.W004"]
    assert [p.id for p in deploy_problems] == ["webhooks_app.E004"]
    assert checks.check_receiver_secrets() == []


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
    """64 copies of one signed event at once, through a real threaded server, while the
    handler sleeps: one run, one row (PostgreSQL's row lock in the services run,
    SQLite's write lock otherwise), 63 duplicates."""
    copies = 64
    behaviour.sleep = 0.5
    body = encode({"type": "order.paid", "data": {"id": 1}})
    headers = {
        **standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_race"),
        "Content-Type": "application/json",
    }
    barrier = threading.Barrier(copies)
    statuses, errors = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            request = Request(django_server + "/hooks/standard/", body, headers, method="POST")
            with urlopen(request, timeout=60) as response:
                statuses.append((response.status, json.load(response)["status"]))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert errors == []
    assert behaviour.runs == 1
    assert sorted(statuses).count((200, "processed")) == 1
    assert sorted(statuses).count((200, "duplicate")) == copies - 1
    event = InboundEvent.objects.get()
    assert event.status == "processed" and event.duplicate_count == copies - 1
    assert event.processing_attempts == 1
    assert groups() == ["standard:msg_race"]


def test_concurrent_copies_of_an_event_whose_first_run_fails_run_it_once_more(django_server):
    """16 copies at once, the first run failing while the others wait for its lock: the
    failure is recorded and answered 500, one copy then processes the event, every other
    one is a duplicate; the failed run's writes are gone and each copy is counted."""
    copies = 16
    behaviour.sleep, behaviour.fail_times = 0.3, 1
    body = encode({"type": "order.paid", "data": {"id": 1}})
    headers = {
        **standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_race_fail"),
        "Content-Type": "application/json",
    }
    barrier = threading.Barrier(copies)
    statuses, errors = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            request = Request(django_server + "/hooks/standard/", body, headers, method="POST")
            try:
                with urlopen(request, timeout=60) as response:
                    statuses.append((response.status, json.load(response)["status"]))
            except HTTPError as answer:
                statuses.append((answer.code, json.load(answer)["status"]))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert errors == []
    assert behaviour.runs == 2
    assert sorted(statuses) == sorted(
        [(500, "failed"), (200, "processed")] + [(200, "duplicate")] * (copies - 2)
    )
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("processed", "")
    assert (event.duplicate_count, event.processing_attempts) == (copies - 1, 2)
    assert groups() == ["standard:msg_race_fail"]


def test_a_handler_that_swallows_a_database_error_fails_and_keeps_the_row(client):
    """The handler catches the IntegrityError of its own INSERT (outside an atomic block of
    its own): Django then refuses the transaction's next statement, so the event is recorded
    as failed (500), not as processed without the handler's writes, and the retry runs it."""

    def handle(self, event):
        Group.objects.create(name="taken")
        try:
            Group.objects.create(name="taken")
        except IntegrityError:
            pass

    original = receivers.StandardReceiver.handle
    receivers.StandardReceiver.handle = handle
    try:
        failed = post_standard(client, {"type": "t"})
        event = InboundEvent.objects.get()
        assert (failed.status_code, event.status) == (500, "failed")
        assert event.error.startswith("TransactionManagementError")
        assert groups() == []
    finally:
        receivers.StandardReceiver.handle = original
    retry = post_standard(client, {"type": "t"})
    assert (retry.status_code, retry.json()["status"]) == (200, "processed")
    assert groups() == ["standard:msg_1"]


def test_our_sender_and_our_receiver_agree(django_server):
    """Contract: a delivery from the outbound pipeline verifies in a receiver."""
    endpoint = Endpoint.objects.create(
        url=django_server + "/hooks/standard/", secret=STANDARD_SECRET
    )
    event = Event.objects.create(event_type="order.paid", payload={"order_id": 42})
    item = Delivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())

    outcome = engine.deliver(item.pk)

    assert outcome.attempt.status_code == 200
    inbound = InboundEvent.objects.get()
    assert inbound.event_id == str(event.id)
    assert inbound.event_type == "order.paid"
    assert inbound.payload["data"] == {"order_id": 42}
    # Rotation on the sending side: the receiver still knows only the old secret.
    endpoint.rotate_secret()
    second = Event.objects.create(event_type="order.paid", payload={})
    item = Delivery.objects.create(event=second, endpoint=endpoint, next_attempt_at=timezone.now())
    assert engine.deliver(item.pk).attempt.status_code == 200


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


# --- hostile input: absurd timestamps, secrets in debug pages, deep JSON, surrogates ------

HUGE_TIMESTAMP = "9" * 400


def _signed_with_timestamp(provider: str, timestamp: str) -> tuple[str, bytes, dict, str]:
    from tests.receivers import SLACK_SECRET

    body = encode({"id": "evt_t", "event_id": "Ev_t", "type": "order.paid"})
    if provider == "standard":
        signature = signing.sign(STANDARD_SECRET, "msg_t", 0, body)  # any: never checked
        headers = {
            "webhook-id": "msg_t",
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        }
        return "/hooks/standard/", body, headers, STANDARD_SECRET
    if provider == "stripe":
        headers = {"Stripe-Signature": f"t={timestamp},v1=" + "0" * 64}
        return "/hooks/stripe/", body, headers, STRIPE_SECRET
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "0" * 64}
    return "/hooks/slack/", body, headers, SLACK_SECRET


def assert_secret_absent(content: bytes, secret: str) -> None:
    text = content.decode("utf-8", "replace")
    for form in {secret, html.escape(secret), secret.removeprefix("whsec_")}:
        assert form not in text


@pytest.mark.parametrize("provider", ["standard", "stripe", "slack"])
def test_an_absurd_timestamp_is_401_even_with_debug_on(provider):
    """Finding 7: OverflowError answered 500 and DEBUG's page showed the secret."""
    path, body, headers, secret = _signed_with_timestamp(provider, HUGE_TIMESTAMP)
    client = WebhookClient(raise_request_exception=False)
    with override_settings(DEBUG=True):
        response = client.post(path, body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert_secret_absent(response.content, secret)
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", ["/hooks/standard/", "/hooks/stripe/", "/hooks/github/"])
def test_an_error_inside_verification_never_shows_a_secret(path, monkeypatch):
    """Whatever goes wrong while signatures are compared, no page shows a secret."""
    from tests.receivers import GITHUB_SECRET as github

    def broken(*args):
        raise RuntimeError("compare_digest broke")

    monkeypatch.setattr(hmac, "compare_digest", broken)
    client = WebhookClient(raise_request_exception=False)
    payload = {"id": "evt_d", "type": "order.paid"}
    with override_settings(DEBUG=True):
        if path == "/hooks/standard/":
            response, secret = post_standard(client, payload), STANDARD_SECRET
        elif path == "/hooks/stripe/":
            response = client.post_stripe(path, payload, secret=STRIPE_SECRET)
            secret = STRIPE_SECRET
        else:
            response, secret = client.post_github(path, payload, secret=github), github
    assert response.status_code == 500
    assert_secret_absent(response.content, secret)
    assert b"compare_digest broke" not in response.content
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("depth", [100_000, 990, 900])
def test_deeply_nested_json_is_400_with_nothing_stored(client, depth):
    """Finding 8: RecursionError while parsing (or storing) answered 500."""
    body = b'{"type": "t", "data": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post_standard_webhooks("/hooks/standard/", body, secret=STANDARD_SECRET)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()
    assert behaviour.runs == 0


@pytest.mark.parametrize("field", ["id", "type"])
def test_a_lone_surrogate_in_the_event_id_or_type_is_400(client, field):
    """Finding 8: a lone surrogate could not be encoded at INSERT and answered 500."""
    payload = {"id": "evt_s", "type": "order.paid"}
    body = encode(payload).replace(f'"{payload[field]}"'.encode(), b'"evt_\\ud800"')
    response = client.post_stripe("/hooks/stripe/", body, secret=STRIPE_SECRET)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()
    assert behaviour.runs == 0


# --- a plain Django view: the project's DRF, CSRF, login and transaction settings ---------

LOGIN_REQUIRED = [
    *settings.MIDDLEWARE,
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]
# REST framework reads its DEFAULT_* classes when rest_framework.views is imported,
# so override_settings cannot bring them in: a fresh process with them in its settings.
PROJECT_REST_FRAMEWORK = {
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": "1/min"},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.TemplateHTMLRenderer"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
THREE_WEBHOOKS = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
from django.conf import settings
settings.REST_FRAMEWORK = json.loads(sys.argv[1])
import django
django.setup()
from tests.receivers import STANDARD_SECRET
from webhooks_app.testing import WebhookClient
client = WebhookClient()
answers = [
    client.post_standard_webhooks(
        "/hooks/standard/", {"type": "t"}, secret=STANDARD_SECRET, msg_id=f"m{i}"
    )
    for i in range(3)
]
print(json.dumps([[a.status_code, a["Content-Type"]] for a in answers]))
"""


def test_the_projects_rest_framework_settings_do_not_apply():
    """Finding 9: with AnonRateThrottle at 1/min three webhooks got 200, 429, 429."""
    from django.db import connection

    env = {**os.environ, "WEBHOOKS_USE_TEST_DB": connection.settings_dict["NAME"]}
    run = subprocess.run(
        [sys.executable, "-c", THREE_WEBHOOKS, json.dumps(PROJECT_REST_FRAMEWORK)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [[200, "application/json"]] * 3
    assert InboundEvent.objects.filter(status="processed").count() == 3


def test_login_required_middleware_does_not_apply(client):
    """Finding 9: LoginRequiredMiddleware redirected the sender to the login page."""
    with override_settings(MIDDLEWARE=LOGIN_REQUIRED):
        response = post_standard(client, {"type": "t"})
        assert client.get("/admin/webhooks_app/").status_code == 302  # it is in force
    assert (response.status_code, response.json()["status"]) == (200, "processed")


def test_csrf_middleware_enforcing_checks_does_not_apply():
    client = WebhookClient(enforce_csrf_checks=True)
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    response = post_standard(client, {"type": "t"})
    assert (response.status_code, response.json()["status"]) == (200, "processed")


def test_atomic_requests_keeps_a_failed_event_for_the_retry(client, monkeypatch):
    """ATOMIC_REQUESTS is read from the connection's settings, which override_settings
    (DATABASES) does not reach: set it where the request handler looks."""
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    behaviour.fail_times = 1
    failed = post_standard(client, {"type": "t"})
    assert failed.status_code == 500
    assert InboundEvent.objects.get().status == "failed"  # kept, though the request failed
    retry = post_standard(client, {"type": "t"})
    duplicate = post_standard(client, {"type": "t"})
    assert [retry.json()["status"], duplicate.json()["status"]] == ["processed", "duplicate"]
    assert InboundEvent.objects.get().duplicate_count == 2
    assert groups() == ["standard:msg_1"]


def test_the_receiver_is_a_plain_django_view():
    from rest_framework.views import APIView

    from webhooks_app.receivers import WebhookReceiverView

    assert not issubclass(WebhookReceiverView, APIView)
    view = receivers.StandardReceiver.as_view()
    assert view.csrf_exempt and view.login_required is False
    assert view._non_atomic_requests == {"default"}


# --- bodies without a length: 411 where the server cannot stream them ---------------------


def _chunked_request(path: str, body: bytes, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Transfer-Encoding: chunked", "Connection: close", "", ""]
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:]))
    return "\r\n".join(lines).encode() + chunks + b"0\r\n\r\n"


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_chunked_body_under_wsgi_is_411_not_401(django_server):
    """Finding 10: WSGI hands Django an empty body, which then failed its signature."""
    body = encode({"type": "order.paid"})
    headers = standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_chunked")
    port = int(django_server.rsplit(":", 1)[1])
    answer = _exchange(port, _chunked_request("/hooks/standard/", body, headers))
    assert answer.startswith(b"HTTP/1.1 411")
    assert not InboundEvent.objects.exists()


@pytest.fixture(scope="module")
def asgi_server(django_db_setup) -> Iterator[int]:
    """This project under uvicorn (a real ASGI server) on 127.0.0.1; yields its port."""
    import uvicorn
    from django.core.asgi import get_asgi_application

    config = uvicorn.Config(
        get_asgi_application(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def test_a_chunked_body_under_asgi_is_read_and_processed(asgi_server):
    body = encode({"type": "order.paid", "data": {"id": 7}})
    headers = standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_asgi")
    answer = _exchange(asgi_server, _chunked_request("/hooks/standard/", body, headers))
    assert answer.startswith(b"HTTP/1.1 200")
    event = InboundEvent.objects.get()
    assert (event.event_id, event.payload) == (
        "msg_asgi",
        {"type": "order.paid", "data": {"id": 7}},
    )
    assert groups() == ["standard:msg_asgi"]


def test_an_oversize_chunked_body_under_asgi_is_413(asgi_server):
    body = encode({"type": "big", "data": "x" * 300})
    headers = standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_big")
    with override_settings(WEBHOOKS={"MAX_INBOUND_BODY": 100}):
        answer = _exchange(asgi_server, _chunked_request("/hooks/standard/", body, headers))
    assert answer.startswith(b"HTTP/1.1 413")
    assert not InboundEvent.objects.exists()


# --- form-encoded bodies: GitHub's form content type, Slack's commands and interactivity ---

FORM = "application/x-www-form-urlencoded"
SLACK_EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_EXAMPLE_HEADERS = {  # Slack's "Verifying requests from Slack" example
    "X-Slack-Request-Timestamp": "1531420618",
    "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}


def test_github_form_content_type_is_verified_and_parsed(client):
    """Finding 11: payload=<urlencoded JSON> verified, then answered 400 and was lost."""
    payload = {"action": "opened", "issue": {"number": 1, "title": "a & b = c"}}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = github_headers(GITHUB_SECRET, body, event="issues", delivery_id="d-form")
    response = client.post("/hooks/github/", body, content_type=FORM, headers=headers)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.event_id, event.event_type, event.payload) == ("d-form", "issues.opened", payload)
    assert behaviour.runs == 1
    # The signature covers the raw form bytes: the same JSON re-encoded does not verify.
    tampered = urlencode({"payload": json.dumps(payload, indent=1)}).encode()
    refused = client.post("/hooks/github/", tampered, content_type=FORM, headers=headers)
    assert refused.status_code == 401


def test_slack_slash_command_is_verified_with_slacks_example_and_parsed(client):
    response = client.post(
        "/hooks/slack-form/", SLACK_EXAMPLE_BODY, content_type=FORM, headers=SLACK_EXAMPLE_HEADERS
    )
    assert response.status_code == 200
    assert response.content == b""  # Slack shows any text in the reply to the user
    event = InboundEvent.objects.get()
    assert event.event_type == "slash_command"
    assert event.event_id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert event.payload["command"] == "/webhook-collect"
    assert event.payload["text"] == ""
    assert event.payload["response_url"].startswith("https://hooks.slack.com/commands/")
    forged = client.post(
        "/hooks/slack-form/",
        SLACK_EXAMPLE_BODY.replace(b"text=", b"text=rm"),
        content_type=FORM,
        headers=SLACK_EXAMPLE_HEADERS,
    )
    assert forged.status_code == 401


def test_slack_interactivity_payload_is_verified_and_parsed(client):
    from tests.receivers import SLACK_SECRET

    payload = {
        "type": "block_actions",
        "trigger_id": "12466734323.1395872398",
        "user": {"id": "U0CA5"},
        "actions": [{"action_id": "approve", "value": "yes"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = slack_headers(SLACK_SECRET, body)
    response = client.post("/hooks/slack/", body, content_type=FORM, headers=headers)
    assert (response.status_code, response.content) == (200, b"")
    event = InboundEvent.objects.get()
    assert (event.event_type, event.event_id) == ("block_actions", "12466734323.1395872398")
    assert event.payload == payload


@pytest.mark.parametrize(
    "body",
    [b"payload=%7Bnot-json", b"payload=%ED%A0%80", b"\xff\xfe=1", b"payload=" + b"%5B" * 5000],
    ids=["bad-json", "encoded-surrogate", "not-utf8", "deep"],
)
def test_a_malformed_form_body_is_400_with_nothing_stored(client, body):
    headers = github_headers(GITHUB_SECRET, body, event="push", delivery_id="d-bad")
    response = client.post("/hooks/github/", body, content_type=FORM, headers=headers)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


# --- one event, whatever Content-Type labels it ---------------------------------------------

JSON = "application/json"


def _stripe_event(body_id: str = "evt_1") -> tuple[str, bytes, dict]:
    body = encode({"id": body_id, "type": "invoice.paid", "data": {"object": {"id": "in_1"}}})
    return "/hooks/stripe/", body, stripe_headers(STRIPE_SECRET, body)


def _standard_event() -> tuple[str, bytes, dict]:
    body = encode({"type": "order.paid", "data": {"order_id": 42}})
    return "/hooks/standard/", body, standard_webhooks_headers(STANDARD_SECRET, body, msg_id="m1")


def _shopify_event() -> tuple[str, bytes, dict]:
    from tests.receivers import SHOPIFY_SECRET

    body = encode({"id": 820982911946154500, "email": "a@example.com"})
    return "/hooks/shopify/", body, shopify_headers(SHOPIFY_SECRET, body, webhook_id="w-1")


def _github_event() -> tuple[str, bytes, dict]:
    body = encode({"action": "opened", "issue": {"number": 1}})
    return "/hooks/github/", body, github_headers(GITHUB_SECRET, body, event="issues")


def _slack_event() -> tuple[str, bytes, dict]:
    from tests.receivers import SLACK_SECRET

    body = encode({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}})
    return "/hooks/slack/", body, slack_headers(SLACK_SECRET, body)


@pytest.mark.parametrize("labels", [(JSON, FORM), (FORM, JSON)], ids=["json-first", "form-first"])
@pytest.mark.parametrize(
    ("event", "event_type"),
    [
        (_stripe_event, "invoice.paid"),
        (_standard_event, "order.paid"),
        (_shopify_event, "orders/create"),
        (_github_event, "issues.opened"),
        (_slack_event, "app_mention"),
    ],
    ids=["stripe", "standard-webhooks", "shopify", "github", "slack"],
)
def test_a_json_event_labelled_as_a_form_is_the_same_event(client, event, event_type, labels):
    """A JSON body labelled application/x-www-form-urlencoded (as Python's urllib labels
    any body by default) is read as the JSON it is: one event with its id, type and
    payload, the copy a duplicate, and the handler run once."""
    path, body, headers = event()
    for content_type in labels:
        response = client.post(path, body, content_type=content_type, headers=headers)
        assert response.status_code == 200, response.content
    stored = InboundEvent.objects.get()
    assert (stored.event_type, stored.payload) == (event_type, json.loads(body))
    assert not stored.event_id.startswith("sha256:")
    assert stored.duplicate_count == 1
    assert behaviour.runs == 1


def test_a_form_body_to_a_json_only_provider_is_400(client):
    body = b"id=evt_3&type=invoice.paid"
    response = client.post(
        "/hooks/stripe/", body, content_type=FORM, headers=stripe_headers(STRIPE_SECRET, body)
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists() and behaviour.runs == 0


@pytest.mark.parametrize("label", [FORM, FORM.upper() + "; charset=utf-8"])
def test_githubs_two_encodings_of_one_delivery_are_one_event(client, label):
    """GitHub's json and form content types carry the same JSON (form: ``payload=<JSON>``):
    both encodings of one delivery are one event, with the same payload."""
    payload = {"action": "opened", "issue": {"number": 1, "title": "a & b = c"}}
    as_json = encode(payload)
    as_form = urlencode({"payload": json.dumps(payload)}).encode()
    for body, content_type in ((as_json, JSON), (as_form, label)):
        headers = github_headers(GITHUB_SECRET, body, event="issues", delivery_id="d-1")
        response = client.post("/hooks/github/", body, content_type=content_type, headers=headers)
        assert response.status_code == 200, response.content
    stored = InboundEvent.objects.get()
    assert (stored.event_id, stored.event_type, stored.payload) == ("d-1", "issues.opened", payload)
    assert stored.duplicate_count == 1
    assert behaviour.runs == 1


# --- Shopify's header names and duplicate marker -------------------------------------------


def _shopify(body: bytes, prefix: str, *, webhook_id: str, event_id: str | None) -> dict:
    from tests.receivers import SHOPIFY_SECRET

    headers = {
        f"{prefix}Hmac-Sha256": shopify_headers(SHOPIFY_SECRET, body)["X-Shopify-Hmac-Sha256"],
        f"{prefix}Topic": "orders/paid",
        f"{prefix}Webhook-Id": webhook_id,
    }
    if event_id:
        headers[f"{prefix}Event-Id"] = event_id
    return headers


@pytest.mark.parametrize("prefix", ["X-Shopify-", "shopify-"])
def test_shopify_resent_event_is_a_duplicate_by_its_event_id(client, prefix):
    """Finding 12: new header names answered 401; a re-sent event ran twice."""
    body = encode({"id": 820982911946154500})
    first = client.post(
        "/hooks/shopify/",
        body,
        content_type="application/json",
        headers=_shopify(body, prefix, webhook_id="w-1", event_id="e-1"),
    )
    resent = client.post(
        "/hooks/shopify/",
        body,
        content_type="application/json",
        headers=_shopify(body, prefix, webhook_id="w-2", event_id="e-1"),
    )
    without_event_id = client.post(
        "/hooks/shopify/",
        body,
        content_type="application/json",
        headers=_shopify(body, prefix, webhook_id="w-3", event_id=None),
    )
    assert [r.status_code for r in (first, resent, without_event_id)] == [200, 200, 200]
    assert [first.json()["status"], resent.json()["status"]] == ["processed", "duplicate"]
    assert behaviour.runs == 2
    assert sorted(InboundEvent.objects.values_list("event_id", "event_type")) == [
        ("e-1", "orders/paid"),
        ("w-3", "orders/paid"),
    ]


# --- the event type: unsigned headers, and binding it to the signed body -------------------

PING = {"zen": "Design for failure.", "hook_id": 1}


def test_unbound_github_type_header_is_trusted_as_documented(client):
    """What finding 13 is about: the header that picks the handler is not signed."""
    body = encode(PING)
    client.post(
        "/hooks/github-release/",
        body,
        content_type="application/json",
        headers=github_headers(GITHUB_SECRET, body, event="ping", delivery_id="d-1"),
    )
    replay = github_headers(GITHUB_SECRET, body, event="release", delivery_id="d-2")
    response = client.post(
        "/hooks/github-release/", body, content_type="application/json", headers=replay
    )
    assert response.status_code == 200
    assert "release:d-2" in groups()  # the replayed ping ran the release handler


def test_a_type_bound_to_the_body_refuses_the_replayed_ping(client):
    """Finding 13: get_event_type may refuse a type the signed body does not carry."""
    body = encode(PING)
    ping = github_headers(GITHUB_SECRET, body, event="ping", delivery_id="d-1")
    genuine = client.post(
        "/hooks/github-bound/", body, content_type="application/json", headers=ping
    )
    replay = github_headers(GITHUB_SECRET, body, event="release", delivery_id="d-2")
    replayed = client.post(
        "/hooks/github-bound/", body, content_type="application/json", headers=replay
    )
    assert genuine.status_code == 200
    assert replayed.status_code == 401
    assert list(InboundEvent.objects.values_list("event_id", "event_type")) == [("d-1", "ping")]
    assert not any(name.startswith("release:") for name in groups())


def test_hmac_type_field_refuses_a_replay_under_another_type_header(client):
    from tests.receivers import HMAC_SECRET

    body = encode({"type": "ping"})
    digest = hmac.new(HMAC_SECRET.encode(), body, "sha256").hexdigest()

    def send(event_id, event_type):
        headers = {
            "X-Signature": f"sha256={digest}",
            "X-Event-Id": event_id,
            "X-Event-Type": event_type,
        }
        return client.post(
            "/hooks/hmac-typed/", body, content_type="application/json", headers=headers
        )

    assert send("h-1", "ping").status_code == 200
    assert send("h-2", "release").status_code == 401
    assert groups() == ["hmac-typed:h-1", "type:ping"]


# --- system checks: receivers that supply their verifier by a method ---------------------


def test_e003_accepts_receivers_that_override_verify_or_get_verifier():
    """Finding 14: overriding verify() or get_verifier() (documented) still raised E003."""
    with override_settings(ROOT_URLCONF="tests.urls_verifier_overrides"):
        problems = checks.check_receivers()
    assert [(p.id, p.msg.split()[0]) for p in problems] == [
        ("webhooks_app.E003", "tests.urls_verifier_overrides.Neither")
    ]


def test_a_receiver_with_get_verifier_overridden_works(client):
    with override_settings(ROOT_URLCONF="tests.urls_verifier_overrides"):
        answers = [
            post_standard(client, {"type": "t"}, msg_id=f"m-{name}", path=f"/{name}/")
            for name in ("verify", "get-verifier")
        ]
    assert [a.status_code for a in answers] == [200, 200]


def test_error_reports_of_a_failed_verification_hide_every_local(monkeypatch, caplog):
    """With DEBUG off, error reports in HTML (AdminEmailHandler(include_html=True)) show
    frame locals: the verification runs under sensitive_variables(), so none is shown."""
    from django.views.debug import ExceptionReporter

    def broken(*args):
        raise RuntimeError("compare_digest broke")

    monkeypatch.setattr(hmac, "compare_digest", broken)
    with caplog.at_level("ERROR", logger="webhooks_app.receivers.views"):
        response = post_standard(WebhookClient(), {"type": "t"})
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.exc_info]
    report = ExceptionReporter(None, *record.exc_info, is_email=True).get_traceback_html()
    assert "compare_digest broke" in report and "Local Vars" in report  # frames shown
    assert_secret_absent(report.encode(), STANDARD_SECRET)


@pytest.fixture(scope="module")
def gunicorn_server(django_db_setup, django_db_blocker) -> Iterator[int]:
    """This project under gunicorn (sync workers, a separate process) on the test database."""
    from django.db import connection

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WEBHOOKS_USE_TEST_DB": connection.settings_dict["NAME"],
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            f"--bind=fd://{listener.fileno()}",
            "--workers=1",
            "--log-level=warning",
            "django.core.wsgi:get_wsgi_application()",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        pass_fds=[listener.fileno()],
    )
    listener.close()
    try:
        wait_until(lambda: _exchange(port, b"HEAD /hooks/standard/ HTTP/1.0\r\n\r\n"), timeout=20)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_chunked_body_under_gunicorn_is_read_and_processed(gunicorn_server):
    """gunicorn decodes chunked bodies and says so (wsgi.input_terminated): read it there."""
    body = encode({"type": "order.paid", "data": {"id": 8}})
    headers = standard_webhooks_headers(STANDARD_SECRET, body, msg_id="msg_gunicorn")
    answer = _exchange(gunicorn_server, _chunked_request("/hooks/standard/", body, headers))
    assert answer.startswith(b"HTTP/1.1 200")
    event = InboundEvent.objects.get()
    assert (event.event_id, event.payload["data"]) == ("msg_gunicorn", {"id": 8})


# --- inside the caller's transaction (a project's TestCase, a view of its own) ------------


@pytest.mark.django_db  # not transaction=True: every request runs inside the test's transaction
def test_the_receiver_works_inside_an_outer_transaction(client):
    """Tests that use plain ``django_db`` (or TestCase) post to the receiver inside a
    transaction: the upsert and the handler then run in savepoints of it."""
    behaviour.fail_times = 1
    failed = post_standard(client, {"type": "t"})
    retry = post_standard(client, {"type": "t"})
    copy = post_standard(client, {"type": "t"})
    assert [failed.status_code, retry.status_code, copy.status_code] == [500, 200, 200]
    assert [retry.json()["status"], copy.json()["status"]] == ["processed", "duplicate"]
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 2, 2)
    assert groups() == ["standard:msg_1"]


@pytest.mark.django_db
def test_an_unstorable_payload_leaves_the_outer_transaction_usable():
    """PostgreSQL refuses a NUL in JSON (the statement fails on the server), SQLite a lone
    surrogate (the driver cannot encode it): either way the caller's transaction goes on."""
    from django.db import connection, transaction

    if connection.vendor == "postgresql":
        event_id, payload = "evt_1", {"text": "nul \x00"}
    else:
        event_id, payload = "evt_\ud800", {}
    with transaction.atomic():
        with pytest.raises(processing.UnstorablePayload):
            processing.record("s", event_id, event_type="t", payload=payload, headers={})
        assert not InboundEvent.objects.exists()  # the transaction still answers
