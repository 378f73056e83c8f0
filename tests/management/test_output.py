"""The management commands follow Django's conventions: verbosity, CommandError, plurals."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from webhooks_app.models import Delivery, Endpoint, Event, InboundEvent

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(*args, verbosity: int = 1, stderr=None) -> tuple[str, str]:
    out, err = StringIO(), stderr if stderr is not None else StringIO()
    call_command(*args, verbosity=verbosity, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def history():
    """Old, finished history for prune; one failed delivery for retry; one failed inbound."""
    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    old = timezone.now() - timedelta(days=40)
    for _ in range(3):
        event = Event.objects.create(event_type="t", payload={}, created_at=old)
        Delivery.objects.create(event=event, endpoint=endpoint, status="succeeded")
    failed = Event.objects.create(event_type="t", payload={})
    Delivery.objects.create(event=failed, endpoint=endpoint, status="failed")
    InboundEvent.objects.create(
        source="nowhere", event_id="1", payload={}, status="failed", received_at=old
    )
    return endpoint


COMMANDS = [
    ("webhooks_sweep",),
    ("webhooks_retry",),
    ("webhooks_retry", "--dry-run"),
    ("webhooks_reprocess", "--dry-run"),
    ("webhooks_reprocess",),
    ("webhooks_prune", "--days", "30", "--dry-run"),
    ("webhooks_prune", "--days", "30", "--batch-size", "1"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_verbosity_0_prints_nothing(history, args):
    assert run(*args, verbosity=0, stderr=Terminal()) == ("", "")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_verbosity_1_prints_the_outcome(history, args):
    out, err = run(*args)
    assert out.strip()
    assert err == ""  # no progress into a log or a pipe


def test_send_test_at_verbosity_0_prints_nothing(no_wakeups):
    endpoint = Endpoint.objects.create(url="https://a.invalid/")
    assert run("webhooks_send_test", str(endpoint.pk), "--queue", verbosity=0) == ("", "")
    assert "Queued test delivery" in run("webhooks_send_test", str(endpoint.pk), "--queue")[0]


def test_prune_shows_progress_on_a_terminal_or_at_verbosity_2(history):
    _, err = run("webhooks_prune", "--days", "30", "--batch-size", "1", stderr=Terminal())
    assert "Events: [" in err and "1/3" in err
    Event.objects.update(created_at=timezone.now() - timedelta(days=99))
    _, err = run("webhooks_prune", "--days", "30", verbosity=2)
    assert "Events: [" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("webhooks_retry", "--dry-run"), "1 failed delivery would be retried."),
        (("webhooks_retry",), "Retrying 1 failed delivery."),
        (("webhooks_retry", "--status", "pending"), "Retrying 0 pending deliveries."),
        (("webhooks_reprocess", "--dry-run"), "1 inbound event would be reprocessed."),
        (("webhooks_sweep",), "Woke workers for 0 due deliveries."),
        (
            ("webhooks_prune", "--days", "30", "--dry-run"),
            "Would delete 3 events and 1 inbound event older than",
        ),
    ],
)
def test_counts_are_singular_or_plural(history, args, expected):
    assert expected in run(*args)[0]


@pytest.mark.parametrize(
    "args",
    [
        ("webhooks_sweep", "--interval", "-1"),
        ("webhooks_sweep", "--interval", "0"),
        ("webhooks_sweep", "--loop", "--max-passes", "0"),
        ("webhooks_prune", "--days", "0"),
        ("webhooks_retry", "--endpoint", "999"),
        ("webhooks_reprocess", "--since-hours", "-1"),
    ],
)
def test_bad_values_are_command_errors(args):
    """A CommandError (Django prints it and exits 1), never a bare SystemExit."""
    with pytest.raises(CommandError):
        run(*args)
