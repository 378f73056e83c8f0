"""Log lines per outcome: real deliveries to a real server, real receiver requests.

Loggers ``webhooks_app.delivery`` (one line per try) and ``webhooks_app.receivers``
(one line per received event); no secret in either.
"""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from django.db import transaction

from tests.conftest import ROOT, Reply, wait_until
from tests.receivers import STANDARD_SECRET, behaviour
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.sending import attempt, claims, engine, recording
from webhooks_app.testing import WebhookClient

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pa55-w0rd-in-url"
TOKEN = "query-token-value"


@pytest.fixture
def delivery_log(caplog):
    caplog.set_level(logging.INFO, logger="webhooks_app.delivery")

    def lines() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records if r.name == "webhooks_app.delivery" and hasattr(r, "verdict")
        ]

    return lines


def secret_endpoint(server) -> Endpoint:
    url = server.url("/hook").replace("http://", f"http://ops:{PASSWORD}@") + f"?token={TOKEN}"
    return Endpoint.objects.create(url=url, headers={"Authorization": "Bearer header-secret"})


def assert_no_secrets(record: logging.LogRecord, endpoint: Endpoint) -> None:
    text = record.getMessage() + repr(vars(record))
    for secret in (PASSWORD, TOKEN, "header-secret", endpoint.secret):
        assert secret not in text


def test_a_success_is_one_info_line_with_its_fields(http_server, no_wakeups, delivery_log):
    endpoint = secret_endpoint(http_server)
    event = send_event("order.paid", {"order": 1})
    engine.run()

    (line,) = delivery_log()
    item = Delivery.objects.get()
    assert line.levelno == logging.INFO
    assert line.delivery_id == item.pk
    assert line.event_id == str(event.pk)
    assert line.event_type == "order.paid"
    assert line.endpoint_id == endpoint.pk
    assert line.attempt == 1
    assert line.status_code == 200
    assert line.verdict == "succeeded"
    assert line.next_attempt_at is None
    assert line.duration_ms == item.attempts.get().duration_ms
    assert "ops:********@127.0.0.1" in line.url
    assert "token=********" in line.url
    message = line.getMessage()
    assert str(event.pk) in message
    assert "200" in message
    assert "succeeded" in message
    assert_no_secrets(line, endpoint)


def test_a_scheduled_retry_is_a_warning_with_the_next_attempt(
    http_server, no_wakeups, delivery_log, settings
):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [60]}
    http_server.default = Reply(status=503)
    endpoint = secret_endpoint(http_server)
    send_event("order.paid", {})
    engine.run()

    (line,) = delivery_log()
    item = Delivery.objects.get()
    assert line.levelno == logging.WARNING
    assert line.verdict == "retry"
    assert line.status_code == 503
    assert line.next_attempt_at == item.next_attempt_at.isoformat()
    assert "retry at " + item.next_attempt_at.isoformat() in line.getMessage()
    assert_no_secrets(line, endpoint)


def test_a_connection_error_names_its_kind_and_masks_the_url(no_wakeups, delivery_log, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": []}
    # A port nothing listens on: refused at once, and the error text may quote the URL.
    url = f"http://ops:{PASSWORD}@127.0.0.1:9/hook?token={TOKEN}"
    endpoint = Endpoint.objects.create(url=url)
    send_event("order.paid", {})
    engine.run()

    (line,) = delivery_log()
    assert line.levelno == logging.WARNING
    assert line.status_code is None
    assert line.error_type == "connection"
    assert line.verdict == "failed"
    assert "connection" in line.getMessage()
    assert "failed for good" in line.getMessage()
    assert_no_secrets(line, endpoint)


def test_gone_disables_the_endpoint_and_says_so(http_server, no_wakeups, delivery_log):
    http_server.default = Reply(status=410)
    endpoint = secret_endpoint(http_server)
    send_event("order.paid", {})
    engine.run()

    (line,) = delivery_log()
    assert line.levelno == logging.WARNING
    assert line.verdict == "gone"
    assert line.endpoint_disabled is True
    assert "endpoint disabled" in line.getMessage()
    assert_no_secrets(line, endpoint)


def test_only_warnings_are_built_when_info_is_off(http_server, no_wakeups, caplog):
    caplog.set_level(logging.WARNING, logger="webhooks_app.delivery")
    http_server.routes["/bad"] = Reply(status=400)
    Endpoint.objects.create(url=http_server.url("/ok"))
    Endpoint.objects.create(url=http_server.url("/bad"))
    send_event("order.paid", {})
    engine.run()

    lines = [r for r in caplog.records if hasattr(r, "verdict")]
    assert [(r.levelno, r.verdict) for r in lines] == [(logging.WARNING, "failed")]


def test_a_recording_rolled_back_logs_nothing(http_server, no_wakeups, delivery_log):
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    from webhooks_app.sending import fanout

    fanout.expand_pending()

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        (item,) = claims.claim(1)
        recording.record([attempt.send(item)])
        raise Abandon
    assert http_server.requests  # the try was sent ...
    assert delivery_log() == []  # ... but its recording never committed

    (item,) = claims.claim(1, only=[Delivery.objects.get().pk])
    recording.record([attempt.send(item)])
    assert [r.verdict for r in delivery_log()] == ["succeeded"]


def test_a_worker_logs_each_try(http_server, celery_worker, delivery_log):
    http_server.reply(Reply(status=500))
    endpoint = secret_endpoint(http_server)
    send_event("order.paid", {})

    wait_until(lambda: len(delivery_log()) == 2)
    first, second = delivery_log()
    assert (first.attempt, first.verdict, first.status_code) == (1, "retry", 500)
    assert (second.attempt, second.verdict, second.status_code) == (2, "succeeded", 200)
    for line in (first, second):
        assert_no_secrets(line, endpoint)


# --- inbound -----------------------------------------------------------------------------------


@pytest.fixture
def inbound_log(caplog):
    caplog.set_level(logging.INFO, logger="webhooks_app.receivers")
    behaviour.reset()
    yield lambda: [r for r in caplog.records if hasattr(r, "outcome")]
    behaviour.reset()


def post(payload, msg_id, path="/hooks/standard/"):
    return WebhookClient().post_standard_webhooks(
        path, payload, secret=STANDARD_SECRET, msg_id=msg_id
    )


def test_received_events_are_logged_by_outcome(inbound_log):
    assert post({"type": "order.paid"}, "msg_a").status_code == 200
    assert post({"type": "order.paid"}, "msg_a").status_code == 200
    behaviour.fail_times = 1
    assert post({"type": "order.paid"}, "msg_b").status_code == 500

    lines = inbound_log()
    assert [(r.levelno, r.outcome, r.event_id) for r in lines] == [
        (logging.INFO, "processed", "msg_a"),
        (logging.INFO, "duplicate", "msg_a"),
        (logging.WARNING, "failed", "msg_b"),
    ]
    assert all(r.source == "standard" for r in lines)
    assert lines[2].error_type == "RuntimeError"
    assert "handler failed on purpose" not in lines[2].getMessage()
    assert STANDARD_SECRET not in repr([vars(r) for r in lines])


def test_an_async_receiver_logs_acceptance(inbound_log, no_wakeups):
    assert post({"type": "order.paid"}, "msg_c", path="/hooks/async/").status_code == 202
    assert [(r.outcome, r.source) for r in inbound_log()] == [("accepted", "async")]


def docs_logging_example() -> dict:
    """The ``LOGGING = {...}`` example of docs/observability.md, as a project copies it."""
    text = (ROOT / "docs" / "observability.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (example,) = [block for block in blocks if block.startswith("LOGGING = ")]
    namespace: dict = {}
    exec(example, namespace)  # the docs' own code, nothing else
    return namespace["LOGGING"]


def test_the_docs_logging_example_prints_each_line_once_under_celery(
    http_server, broker_worker_process, tmp_path
):
    """Celery takes over the root logger; the example's lines must not reach it as well."""
    output = (tmp_path / "worker.log").open("w+")
    broker_worker_process(
        env={
            "DJANGO_SETTINGS_MODULE": "tests.settings_docs_logging",
            "WEBHOOKS_TEST_LOGGING": json.dumps(docs_logging_example()),
        },
        output=output,
    )
    Endpoint.objects.create(url=http_server.url())
    event = send_event("order.paid", {})
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists(), timeout=30)
    line = f"of {event.id} (order.paid) to endpoint"
    wait_until(lambda: line in (tmp_path / "worker.log").read_text())
    time.sleep(0.5)  # a second copy would be written right after the first
    printed = [text for text in (tmp_path / "worker.log").read_text().splitlines() if line in text]
    assert len(printed) == 1, printed
    output.close()
