"""An endpoint's state and a delivery's next try, read from plain values (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from webhooks_app.sending import state

NOW = datetime(2026, 12, 8, 15, 3, 2, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
EARLIER = NOW - timedelta(minutes=5)


def endpoint(**values) -> SimpleNamespace:
    healthy = {
        "is_active": True,
        "disabled_reason": "",
        "disabled_at": None,
        "failure_streak": 0,
        "failing_since": None,
        "paused_until": None,
        "circuit_failures": 0,
        "circuit_opened_at": None,
        "window_started_at": None,
        "window_requests": 0,
        "window_failures": 0,
        "rate_limit": None,
    }
    return SimpleNamespace(**{**healthy, **values})


def delivery(**values) -> SimpleNamespace:
    pending = {"status": "pending", "next_attempt_at": NOW, "locked_until": None, "last_error": ""}
    return SimpleNamespace(**{**pending, **values})


AFTER_SIX_503S = endpoint(
    failure_streak=6,
    failing_since=EARLIER,
    circuit_failures=6,
    circuit_opened_at=NOW - timedelta(seconds=1),
    paused_until=LATER,
)


def test_a_healthy_endpoint_is_active():
    described = state.describe_endpoint(endpoint(), NOW)
    assert (described.code, described.reason, described.until) == ("active", "", None)
    assert (described.label, described.tone) == ("Active", "ok")


def test_after_six_503s_the_circuit_is_open_until_its_probe():
    described = state.describe_endpoint(AFTER_SIX_503S, NOW)
    assert described.code == "circuit_open"
    assert described.label == "Active, circuit open" and described.tone == "warn"
    assert described.until == LATER
    assert "6 timeouts or errors in a row" in described.reason
    assert described.streak == 6
    assert described.as_dict() == {
        "code": "circuit_open",
        "reason": described.reason,
        "until": LATER,
        "window": {"seconds": 60, "requests": 0, "failures": 0, "failure_rate": None},
    }


def test_an_open_circuit_past_its_cool_down_is_probing():
    described = state.describe_endpoint(
        endpoint(circuit_opened_at=EARLIER, paused_until=EARLIER), NOW
    )
    assert (described.code, described.until) == ("probing", None)
    assert "one probe request at a time" in described.reason


def test_a_429_pause_is_paused_until_retry_after():
    paused = endpoint(failure_streak=1, failing_since=EARLIER, paused_until=LATER)
    described = state.describe_endpoint(paused, NOW)
    assert (described.code, described.until) == ("paused", LATER)
    assert "429" in described.reason and "rate limit" not in described.reason
    paused.rate_limit = 5
    assert "rate limit" in state.describe_endpoint(paused, NOW).reason


def test_a_rate_limits_spacing_alone_is_sending_as_usual():
    assert state.describe_endpoint(endpoint(paused_until=LATER, rate_limit=5), NOW).code == "active"


def test_a_pause_that_is_over_is_no_pause():
    failing = endpoint(failure_streak=2, failing_since=EARLIER, paused_until=EARLIER)
    described = state.describe_endpoint(failing, NOW)
    assert (described.code, described.until, described.since) == ("failing", None, EARLIER)
    assert described.reason == "2 failed attempts in a row."


def test_disabled_says_why_masked_and_wins_over_everything():
    described = state.describe_endpoint(
        endpoint(
            is_active=False,
            disabled_reason="410 Gone from https://x.example/h?token=abc",
            disabled_at=EARLIER,
            circuit_opened_at=EARLIER,
            paused_until=LATER,
        ),
        NOW,
    )
    assert (described.code, described.tone, described.since) == ("disabled", "bad", EARLIER)
    assert "abc" not in described.reason and "410 Gone" in described.reason
    assert state.describe_endpoint(endpoint(is_active=False), NOW).reason == "Disabled."


# --- the circuit breaker's window -----------------------------------------------------------

MINUTE = NOW.replace(second=0)  # the window NOW is in (60 s, on the clock)


def test_an_endpoint_says_its_recent_failure_rate():
    recent = state.describe_endpoint(
        endpoint(window_started_at=MINUTE, window_requests=40, window_failures=12), NOW
    ).recent
    assert (recent.requests, recent.failures, recent.failure_rate) == (40, 12, 0.3)
    assert recent.summary == "failure rate 30 % over roughly the last 60 s (12 of 40 requests)"
    assert recent.as_dict() == {
        "seconds": 60,
        "requests": 40,
        "failures": 12,
        "failure_rate": 0.3,
    }


@pytest.mark.parametrize(
    ("started", "counted"),
    [
        (MINUTE, (3, 1)),
        (MINUTE - timedelta(seconds=60), (1, 0)),  # the window before: half, rounded down
        (MINUTE - timedelta(seconds=120), (0, 0)),
        (None, (0, 0)),
    ],
)
def test_the_rate_is_read_as_of_now(started, counted):
    """Counts recorded a while ago are shown as the breaker would count them now."""
    quiet = endpoint(window_started_at=started, window_requests=3, window_failures=1)
    recent = state.recent_tries(quiet, NOW)
    assert (recent.requests, recent.failures) == counted


def test_no_recent_request_says_nothing():
    recent = state.recent_tries(endpoint(), NOW)
    assert (recent.summary, recent.failure_rate) == ("", None)


def test_one_request_and_uneven_shares_read_well():
    one = state.RecentTries(60, 1, 1)
    assert one.summary == "failure rate 100 % over roughly the last 60 s (1 of 1 request)"
    assert state.RecentTries(0.5, 3, 1).summary == (
        "failure rate 33.3 % over roughly the last 0.5 s (1 of 3 requests)"
    )


def test_a_circuit_opened_on_its_failure_rate_says_so():
    """Two failures in a row only: not "after 2 timeouts or errors in a row"."""
    opened = endpoint(
        failure_streak=2,
        circuit_failures=2,
        circuit_opened_at=NOW,
        paused_until=LATER,
        window_started_at=MINUTE,
        window_requests=40,
        window_failures=20,
    )
    described = state.describe_endpoint(opened, NOW)
    assert described.code == "circuit_open"
    assert described.reason == (
        "The circuit breaker opened: 20 of the last 40 requests failed (50 % over roughly "
        "60 s); nothing is sent until one probe request is tried."
    )


def test_a_deliverys_state_has_no_window():
    assert "window" not in state.describe_delivery(delivery(), endpoint(), NOW).as_dict()


# --- a delivery's next try ------------------------------------------------------------


def test_a_due_delivery_of_an_open_circuit_waits_until_it_reopens():
    """Not "next try at 15:03:02", a time already past: the endpoint's probe time."""
    described = state.describe_delivery(delivery(next_attempt_at=EARLIER), AFTER_SIX_503S, NOW)
    assert (described.code, described.until) == ("waiting", LATER)
    assert "circuit breaker" in described.reason


def test_a_later_try_than_the_pause_keeps_its_own_time():
    at = LATER + timedelta(minutes=5)
    described = state.describe_delivery(delivery(next_attempt_at=at), AFTER_SIX_503S, NOW)
    assert (described.code, described.until) == ("scheduled", at)


@pytest.mark.parametrize("at", [EARLIER, NOW, None])
def test_a_past_time_is_never_a_next_try(at):
    described = state.describe_delivery(delivery(next_attempt_at=at), endpoint(), NOW)
    assert (described.code, described.until) == ("due", None)


def test_a_delivery_of_a_disabled_endpoint_waits_with_no_time():
    described = state.describe_delivery(delivery(), endpoint(is_active=False), NOW)
    assert (described.code, described.until) == ("waiting", None)
    assert "enabled again" in described.reason


def test_a_delivery_behind_an_earlier_one_of_its_ordering_key_waits_for_it():
    described = state.describe_delivery(delivery(earlier_in_key=True), endpoint(), NOW)
    assert (described.code, described.until) == ("waiting", None)
    assert "earlier events of its ordering key" in described.reason
    assert state.describe_delivery(delivery(earlier_in_key=False), endpoint(), NOW).code == "due"
    leased = delivery(earlier_in_key=True, locked_until=LATER)  # cannot be, but sending wins
    assert state.describe_delivery(leased, endpoint(), NOW).code == "sending"


def test_a_leased_delivery_is_being_sent():
    described = state.describe_delivery(delivery(locked_until=LATER), AFTER_SIX_503S, NOW)
    assert described.code == "sending"
    expired_lease = delivery(locked_until=EARLIER, next_attempt_at=LATER)
    assert state.describe_delivery(expired_lease, endpoint(), NOW).code == "scheduled"


def test_the_rate_limits_spacing_delays_the_try_without_a_reason():
    spaced = endpoint(paused_until=LATER, rate_limit=1)
    described = state.describe_delivery(delivery(), spaced, NOW)
    assert (described.code, described.until, described.reason) == ("scheduled", LATER, "")


def test_finished_deliveries():
    assert (
        state.describe_delivery(delivery(status="succeeded"), endpoint(), NOW).code == "succeeded"
    )
    failed = delivery(status="failed", last_error="POST https://x.example/?key=k1 failed: 500")
    described = state.describe_delivery(failed, endpoint(), NOW)
    assert (described.code, described.tone, described.until) == ("failed", "bad", None)
    assert "k1" not in described.reason and "500" in described.reason
