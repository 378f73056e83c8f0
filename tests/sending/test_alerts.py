"""Owner alerts: one signal and one e-mail per moment of a failing streak.

Real failures: deliveries go to a real HTTP server on 127.0.0.1 answering 500 (or
to a closed port), retried on a short schedule by ``engine.run()``, as a worker's
task runs it. E-mail goes to Django's locmem backend (pytest-django's
``mailoutbox``).
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from tests.conftest import Reply
from webhooks_app import send_event, signals
from webhooks_app.models import Attempt, ContactMailCount, Delivery, Endpoint
from webhooks_app.observability import metrics
from webhooks_app.sending import alerts, engine, fanout, owner_mail

pytestmark = pytest.mark.django_db(transaction=True)

Stage = Endpoint.Alert
CONTACT = "owner@example.com"
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "alert_templates"

SETTINGS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (1, 1),
    "LEASE_MARGIN": 1,
    "RETRY_SCHEDULE": [0.05] * 11,  # twelve tries, one after the other
    # 500s are transient: keep the circuit out of it.
    "CIRCUIT_BREAKER_THRESHOLD": 100,
    "CIRCUIT_BREAKER_MIN_REQUESTS": 100,
    "ALERT_AFTER_FAILURES": 2,
    "ALERT_DISABLE_WARNING": 0.5,  # with these thresholds: at 4 failures
    "DISABLE_AFTER_FAILURES": 8,
    "DISABLE_AFTER_SECONDS": 0,
}


def configure(**changes):
    return override_settings(WEBHOOKS={**SETTINGS, **changes})


@pytest.fixture(autouse=True)
def _settings(no_wakeups):
    # These tests run the engine themselves.
    with configure():
        yield


class Received:
    """Every sending of one signal, with its arguments."""

    def __init__(self, signal) -> None:
        self.calls: list[dict] = []
        self.signal = signal
        signal.connect(self.receive, weak=False)

    def receive(self, sender, **kwargs) -> None:
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def received():
    recorders: list[Received] = []

    def connect(signal) -> Received:
        recorders.append(Received(signal))
        return recorders[-1]

    yield connect
    for recorder in recorders:
        recorder.signal.disconnect(recorder.receive)


def deliver_one(tenant: str = "") -> Delivery:
    """One event, fanned out, then sent and retried by the engine until it is done."""
    send_event("order.paid", {"order_id": 42}, tenant=tenant)
    fanout.expand_pending()
    engine.run()
    return Delivery.objects.latest("created_at")


def subjects(mailoutbox) -> list[str]:
    return [message.subject for message in mailoutbox]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the three moments -------------------------------------------------------------------


def test_a_streak_to_disabling_sends_one_mail_and_signal_per_moment(
    http_server, mailoutbox, received
):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)
    warning = received(signals.endpoint_disable_warning)
    disabled = received(signals.endpoint_disabled)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )

    deliver_one()

    endpoint.refresh_from_db()
    assert not endpoint.is_active and len(http_server.requests) == 8
    assert subjects(mailoutbox) == [
        f"Your webhook endpoint #{endpoint.pk} is failing",
        f"Your webhook endpoint #{endpoint.pk} will soon be disabled",
        f"Your webhook endpoint #{endpoint.pk} has been disabled",
    ]
    assert all(message.to == [CONTACT] for message in mailoutbox)
    assert all(message.from_email == settings.DEFAULT_FROM_EMAIL for message in mailoutbox)
    ((failing_call,), (warning_call,)) = failing.calls, warning.calls
    assert failing_call["endpoint"].pk == endpoint.pk and failing_call["failure_streak"] == 2
    assert warning_call["failure_streak"] == 4 and warning_call["sender"] is Endpoint
    assert warning_call["failing_since"] == endpoint.failing_since
    assert "500" in failing_call["last_error"]
    (disabled_call,) = disabled.calls
    assert disabled_call["reason"].startswith("8 failed attempts in a row")
    # The disabling mail says why.
    assert "Reason: 8 failed attempts in a row since" in mailoutbox[2].body
    assert "Failed attempts in a row: 4" in mailoutbox[1].body
    assert "after 4 more failed attempts in a row" in mailoutbox[1].body
    assert "Last error: HTTP 500" in mailoutbox[0].body
    assert endpoint.alerted_stage == Stage.DISABLED


def test_without_a_contact_address_the_signals_go_and_no_mail(http_server, mailoutbox, received):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)
    warning = received(signals.endpoint_disable_warning)
    disabled = received(signals.endpoint_disabled)
    Endpoint.objects.create(url=http_server.url())

    deliver_one()

    assert mailoutbox == []
    assert (len(failing.calls), len(warning.calls), len(disabled.calls)) == (1, 1, 1)


@configure(ALERT_EMAILS=False)
def test_alert_emails_can_be_turned_off_keeping_the_signals(http_server, mailoutbox, received):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)
    Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    deliver_one()
    assert mailoutbox == [] and len(failing.calls) == 1


@configure(ALERT_AFTER_FAILURES=None, ALERT_DISABLE_WARNING=None)
def test_without_thresholds_only_the_disabling_is_told(http_server, mailoutbox, received):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)
    warning = received(signals.endpoint_disable_warning)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    deliver_one()
    assert subjects(mailoutbox) == [f"Your webhook endpoint #{endpoint.pk} has been disabled"]
    assert failing.calls == warning.calls == []


@configure(DISABLE_AFTER_FAILURES=1000, RETRY_SCHEDULE=[0.05] * 3)
def test_recovery_ends_the_streak_and_a_new_streak_is_told_again(http_server, mailoutbox, received):
    failing = received(signals.endpoint_failing)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    http_server.reply(Reply(status=500), Reply(status=500), Reply(status=500), Reply(status=200))

    assert deliver_one().status == Delivery.Status.SUCCEEDED

    assert len(mailoutbox) == 1  # at two failures; the third one sent nothing more
    endpoint.refresh_from_db()
    assert (endpoint.failure_streak, endpoint.alerted_stage) == (0, Stage.NONE)

    http_server.default = Reply(status=200)
    deliver_one()
    assert len(mailoutbox) == 1  # working again: nothing to tell

    http_server.default = Reply(status=500)
    assert deliver_one().status == Delivery.Status.FAILED  # four failures: a new streak
    assert subjects(mailoutbox) == [f"Your webhook endpoint #{endpoint.pk} is failing"] * 2
    assert [call["failure_streak"] for call in failing.calls] == [2, 2]


@configure(ALERT_MAX_PER_DAY=6)  # two streaks of three mails, to one address, in a day
def test_reenabling_starts_over(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    deliver_one()
    assert len(mailoutbox) == 3
    endpoint.refresh_from_db()

    endpoint.enable()

    assert endpoint.alerted_stage == Stage.NONE
    deliver_one()  # a new event, and the pending delivery resumes: both fail
    assert len(mailoutbox) == 6
    assert subjects(mailoutbox)[3:] == subjects(mailoutbox)[:3]


def test_410_gone_disables_with_the_reason_and_nothing_else_follows(http_server, mailoutbox):
    http_server.default = Reply(status=410)
    Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )

    deliver_one()

    (message,) = mailoutbox
    assert message.subject.endswith("has been disabled")
    assert "Reason: The endpoint answered 410 Gone" in message.body


def test_an_unusable_endpoint_disabled_by_the_fan_out_is_told(mailoutbox, received):
    disabled = received(signals.endpoint_disabled)
    endpoint = Endpoint.objects.create(
        url="http://127.0.0.1:9/hook", contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(event_types={"not": "a list"})

    send_event("order.paid", {})
    fanout.expand_pending()

    (message,) = mailoutbox
    assert "Reason: Its event types cannot be used" in message.body
    assert len(disabled.calls) == 1


def test_an_operator_disabling_an_endpoint_mails_nobody(http_server, mailoutbox, received):
    disabled = received(signals.endpoint_disabled)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    endpoint.disable("Disabled by admin in the admin")
    assert mailoutbox == [] and len(disabled.calls) == 1


def test_workers_recording_one_streak_together_alert_once(http_server, mailoutbox, received):
    http_server.default = Reply(status=500, delay=0.01)
    failing = received(signals.endpoint_failing)
    Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    for n in range(30):
        send_event("order.paid", {"n": n})
    fanout.expand_pending()

    with configure(RETRY_SCHEDULE=[], DISABLE_AFTER_FAILURES=1000, ALERT_DISABLE_WARNING=None):
        runs = [threading.Thread(target=run_engine) for _ in range(3)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()

    assert Attempt.objects.count() == 30 and len(http_server.requests) == 30
    assert len(mailoutbox) == 1 and len(failing.calls) == 1


def run_engine() -> None:
    try:
        engine.run()
    finally:
        connection.close()


# --- to whom: confirmed addresses, a few mails a day ---------------------------------------


def test_an_unconfirmed_address_gets_no_alert(http_server, mailoutbox, received):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)
    disabled = received(signals.endpoint_disabled)
    endpoint = Endpoint.objects.create(url=http_server.url(), contact_email=CONTACT)
    assert not endpoint.contact_email_confirmed

    deliver_one()

    assert mailoutbox == []
    assert len(failing.calls) == len(disabled.calls) == 1  # the signals go all the same


def test_a_changed_address_is_unconfirmed(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(contact_email="someone@example.net")
    endpoint.refresh_from_db()
    assert not endpoint.contact_email_confirmed
    deliver_one()
    assert mailoutbox == []


@configure(RETRY_SCHEDULE=[], DISABLE_AFTER_FAILURES=1000, ALERT_DISABLE_WARNING=None)
def test_a_receiver_ending_its_own_streaks_gets_three_mails_a_day(
    http_server, mailoutbox, caplog, received
):
    """The issue's reproduction: two failures then a 200, over and over, so that every
    streak is told; the address gets ALERT_MAX_PER_DAY (3) mails, the rest are dropped."""
    failing = received(signals.endpoint_failing)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    http_server.reply(*[Reply(status=500), Reply(status=500), Reply(status=200)] * 10)
    dropped_before = dropped_mails("alert")
    with caplog.at_level(logging.INFO, logger="webhooks_app"):
        for _ in range(30):
            deliver_one()

    assert len(failing.calls) == 10  # ten streaks, each told by its signal
    assert subjects(mailoutbox) == [f"Your webhook endpoint #{endpoint.pk} is failing"] * 3
    dropped = [r.getMessage() for r in caplog.records if "ALERT_MAX_PER_DAY" in r.getMessage()]
    assert len(dropped) == 7
    assert all(CONTACT not in line for line in dropped)  # the line names the endpoint only
    assert dropped_mails("alert") - dropped_before == 7


def dropped_mails(kind: str) -> float:
    """The counter of mails dropped by the cap (it lives as long as the process)."""
    metrics.instruments()
    value = REGISTRY.get_sample_value("webhooks_owner_mails_dropped_total", {"kind": kind})
    return value or 0.0


def test_the_cap_is_per_address_across_endpoints_and_per_utc_day(mailoutbox):
    one = Endpoint.objects.create(
        url="http://127.0.0.1:9/a", contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    shouting = CONTACT.upper()
    two = Endpoint.objects.create(
        url="http://127.0.0.1:9/b", contact_email=shouting, confirmed_contact_email=shouting
    )
    for endpoint in (one, two, one, two, one):
        alerts.disabled(endpoint, "gone")
    assert len(mailoutbox) == 3  # one address, whatever its case

    assert owner_mail.take_slot("other@example.com")  # another address has its own
    now = timezone.now()
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    assert not owner_mail.take_slot(CONTACT, midnight + timedelta(hours=23, minutes=59))
    assert owner_mail.take_slot(CONTACT, midnight + timedelta(days=1))  # the next UTC day
    with configure(ALERT_MAX_PER_DAY=None):
        assert all(owner_mail.take_slot(CONTACT) for _ in range(10))


def test_workers_racing_for_the_last_mails_of_the_day_take_three(mailoutbox):
    """Eight threads, each with its own database connection, take slots for one address at
    once: three get one."""
    start = threading.Barrier(8)
    taken: list[bool] = []

    def take() -> None:
        try:
            start.wait()
            taken.append(owner_mail.take_slot(CONTACT))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [False] * 5 + [True] * 3
    assert ContactMailCount.objects.get().count == 3


# --- what the mail says, and what it never says ---------------------------------------------

PHISHING = "URGENT: log in at https://evil.example/login"


def test_customer_text_is_never_in_the_subject_and_quoted_in_the_body(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    url = http_server.url("/URGENT-log-in-at-evil.example")
    endpoint = Endpoint.objects.create(
        url=url,
        description=f"Orders\n\n{PHISHING}\nThe operator",
        contact_email=CONTACT,
        confirmed_contact_email=CONTACT,
    )

    deliver_one()

    assert len(mailoutbox) == 3
    for message in mailoutbox:
        assert str(endpoint.pk) in message.subject
        for text in ("URGENT", "evil", url, "Orders", "log in"):
            assert text not in message.subject
        # Each on its own indented line, after a label: data, never the operator's sentences.
        assert f"URL, as given for it:\n    {url}\n" in message.body
        quoted = f"Description, as given for it:\n    Orders {PHISHING} The operator\n"
        assert quoted in message.body
        lines = [line for line in message.body.splitlines() if "URGENT" in line or "evil" in line]
        assert lines and all(line.startswith("    ") for line in lines)
        assert message.alternatives == []  # no HTML part, so no link made clickable


def test_mails_never_show_secrets_or_url_credentials(mailoutbox):
    port = closed_port()
    url = f"http://hook-user:pa55word@127.0.0.1:{port}/hook?token=t0ken-s3cret&v=1"
    endpoint = Endpoint.objects.create(
        url=url,
        contact_email=CONTACT,
        confirmed_contact_email=CONTACT,
        headers={"Authorization": "Bearer h3ader-secret"},
    )

    deliver_one()

    assert len(mailoutbox) == 3
    masked = f"http://hook-user:********@127.0.0.1:{port}/hook?token=********&v=********"
    for message in mailoutbox:
        text = message.subject + message.body
        assert masked in text
        for secret in ("pa55word", "t0ken-s3cret", "h3ader-secret", endpoint.secret):
            assert secret not in text
    assert "Last error:" in mailoutbox[0].body  # the connection error, masked


@configure(
    ALERT_FROM_EMAIL="Webhooks <hooks@example.com>",
    ALERT_LINK="https://example.com/{tenant}/{endpoint_id}/",
)
def test_the_sender_and_a_link_can_be_configured(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    endpoint = Endpoint.objects.create(
        url=http_server.url(),
        contact_email=CONTACT,
        confirmed_contact_email=CONTACT,
        tenant="acme corp",
    )
    deliver_one(tenant="acme corp")
    assert len(mailoutbox) == 3
    for message in mailoutbox:
        assert message.from_email == "Webhooks <hooks@example.com>"
        assert f"https://example.com/acme%20corp/{endpoint.pk}/" in message.body


def test_templates_can_be_overridden_with_an_html_body(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    Endpoint.objects.create(
        url=http_server.url(),
        contact_email=CONTACT,
        confirmed_contact_email=CONTACT,
        description="Orders",
    )
    templates = [{**settings.TEMPLATES[0], "DIRS": [TEMPLATE_DIR]}]

    with override_settings(TEMPLATES=templates):
        deliver_one()

    failing, warning, disabled = mailoutbox
    assert failing.subject == "[Shop] Orders is failing (2 in a row)"
    assert failing.body == f"Custom text for {http_server.url()}\n"
    ((html, mimetype),) = failing.alternatives
    assert mimetype == "text/html" and html == "<p>Custom <b>Orders</b></p>\n"
    # The others keep the app's templates, without an HTML part.
    assert warning.subject.endswith("will soon be disabled")
    assert disabled.alternatives == []


def mail_backend(path: str):
    """Settings sending mail through ``path``: MAILERS from Django 6.1 (EMAIL_BACKEND is
    deprecated there), EMAIL_BACKEND before."""
    if django.VERSION >= (6, 1):
        return override_settings(MAILERS={"default": {"BACKEND": path}})
    return override_settings(EMAIL_BACKEND=path)


class BrokenBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the mail server is down")


class BrokenReceiver(Exception):
    pass


def test_a_failing_mail_backend_or_receiver_stops_nothing(http_server, caplog, received):
    http_server.default = Reply(status=500)
    failing = received(signals.endpoint_failing)

    def broken(sender, **kwargs):
        raise BrokenReceiver

    signals.endpoint_failing.connect(broken)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    try:
        with (
            mail_backend("tests.sending.test_alerts.BrokenBackend"),
            caplog.at_level(logging.ERROR, logger="webhooks_app.alerts"),
        ):
            delivery = deliver_one()
    finally:
        signals.endpoint_failing.disconnect(broken)

    endpoint.refresh_from_db()
    assert not endpoint.is_active and delivery.attempts.count() == 8
    assert len(failing.calls) == 1
    logged = [r.getMessage() for r in caplog.records]
    assert any("endpoint_failing e-mail" in message for message in logged)
    assert any("endpoint_disabled e-mail" in message for message in logged)
    assert any("receiver of an alert" in message for message in logged)


# --- the moments, as pure rules -------------------------------------------------------------


@configure(ALERT_AFTER_FAILURES=5, DISABLE_AFTER_FAILURES=50, DISABLE_AFTER_SECONDS=3600)
def test_the_warning_needs_the_share_of_both_thresholds():
    now = timezone.now()
    assert alerts.reached(4, now, now) == Stage.NONE
    assert alerts.reached(5, now, now) == Stage.FAILING
    assert alerts.reached(30, now - timedelta(minutes=29), now) == Stage.FAILING  # too soon
    assert alerts.reached(24, now - timedelta(minutes=31), now) == Stage.FAILING  # too few
    assert alerts.reached(25, now - timedelta(minutes=30), now) == Stage.DISABLE_WARNING
    with configure(ALERT_DISABLE_WARNING=0.9, DISABLE_AFTER_FAILURES=50):
        assert alerts.reached(44, now - timedelta(hours=1), now) == Stage.FAILING
        assert alerts.reached(45, now - timedelta(hours=1), now) == Stage.DISABLE_WARNING


def test_the_warning_says_when_the_endpoint_can_be_disabled(http_server, mailoutbox):
    http_server.default = Reply(status=500)
    endpoint = Endpoint.objects.create(
        url=http_server.url(), contact_email=CONTACT, confirmed_contact_email=CONTACT
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=30, failing_since=timezone.now() - timedelta(minutes=40)
    )
    limits = {"DISABLE_AFTER_FAILURES": 50, "DISABLE_AFTER_SECONDS": 3600}
    with configure(**limits, RETRY_SCHEDULE=[]):
        deliver_one()
    endpoint.refresh_from_db()
    (warning,) = mailoutbox  # straight to the warning: the failing moment is superseded
    assert warning.subject == f"Your webhook endpoint #{endpoint.pk} will soon be disabled"
    not_before = endpoint.failing_since + timedelta(hours=1)
    expected = f"after 19 more failed attempts in a row, not before {not_before:%Y-%m-%d %H:%M} UTC"
    assert expected in warning.body
    assert endpoint.alerted_stage == Stage.DISABLE_WARNING
