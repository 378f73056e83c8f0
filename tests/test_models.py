"""Models, migrations and system checks."""

import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from webhooks_app.checks import check_sqlite_transaction_mode, sqlite_transaction_warnings
from webhooks_app.event_patterns import event_type_matches
from webhooks_app.models import Endpoint


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "webhooks_app", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        ([], "order.paid", True),
        (["order.paid"], "order.paid", True),
        (["order.paid"], "order.refunded", False),
        (["order.*"], "order.refunded", True),
        (["order.*"], "orders.paid", False),
        (["*"], "anything", True),
        (["user.created", "order.*"], "order.paid", True),
        ("order.paid", "order.paid", True),  # a bare string is one pattern, not characters
        ("order.paid", "o", False),
    ],
)
def test_event_type_filter(patterns, event_type, expected):
    assert event_type_matches(patterns, event_type) is expected


@pytest.mark.django_db
def test_secret_is_generated_only_when_blank():
    generated = Endpoint.objects.create(url="https://a.invalid/")
    given = Endpoint.objects.create(url="https://b.invalid/", secret="whsec_c2VjcmV0")
    assert generated.secret.startswith("whsec_") and len(generated.secret) > 30
    assert given.secret == "whsec_c2VjcmV0"


@pytest.mark.django_db
def test_enable_clears_the_disabled_state():
    endpoint = Endpoint.objects.create(
        url="https://a.invalid/", is_active=False, disabled_reason="410", failure_streak=9
    )
    endpoint.enable()
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == "" and endpoint.failure_streak == 0


@pytest.mark.django_db
def test_enable_starts_the_circuit_breakers_window_afresh():
    """The tries that failed before it was disabled say nothing of it now."""
    endpoint = Endpoint.objects.create(
        url="https://a.invalid/",
        is_active=False,
        window_started_at=timezone.now(),
        window_requests=40,
        window_failures=40,
    )
    endpoint.enable()
    endpoint.refresh_from_db()
    assert (endpoint.window_started_at, endpoint.window_requests, endpoint.window_failures) == (
        None,
        0,
        0,
    )


def test_sqlite_without_immediate_transactions_is_warned_about():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}
    immediate = {**sqlite, "OPTIONS": {"transaction_mode": "IMMEDIATE"}}
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}
    warnings = sqlite_transaction_warnings({"a": sqlite, "b": immediate, "c": postgres})
    assert [w.id for w in warnings] == ["webhooks_app.W002"]
    assert "'a'" in warnings[0].msg


@pytest.mark.skipif(
    os.environ.get("WEBHOOKS_TEST_SQLITE_MODE", "IMMEDIATE") != "IMMEDIATE",
    reason="the run on SQLite's deferred transactions is warned about on purpose",
)
def test_the_test_settings_pass_every_check():
    assert check_sqlite_transaction_mode() == []


@pytest.mark.django_db
def test_events_are_immutable_once_written():
    from webhooks_app.models import Event

    event = Event.objects.create(event_type="order.paid", payload={"a": 1})
    event.payload = {"a": 2}
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    assert Event.objects.get().payload == {"a": 1}


@pytest.mark.django_db
def test_disable_records_why_once_and_signals_once():
    from webhooks_app import signals

    received = []

    def handler(sender, endpoint, reason, **kwargs):
        received.append(reason)

    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    signals.endpoint_disabled.connect(handler)
    try:
        assert endpoint.disable("410 Gone") is True
        assert Endpoint.objects.get().disable("again") is False
    finally:
        signals.endpoint_disabled.disconnect(handler)
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "410 Gone")
    assert endpoint.disabled_at is not None
    assert received == ["410 Gone"]
