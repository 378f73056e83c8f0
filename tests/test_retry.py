"""The retry policy as pure functions: verdicts, jitter, schedule, Retry-After, decide()."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from webhooks_app.retry import (
    Decision,
    ErrorKind,
    Verdict,
    classify,
    decide,
    jittered,
    next_delay,
    parse_retry_after,
)

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def within_jitter(value: float, scheduled: float) -> bool:
    return scheduled * 0.75 <= value <= scheduled * 1.25


# --- classify --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_succeeds(status):
    assert classify(status) is Verdict.SUCCEEDED


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308, 399])
def test_3xx_fails_without_retry(status):
    assert classify(status) is Verdict.FAILED


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_client_errors_fail_without_retry(status):
    assert classify(status) is Verdict.FAILED


@pytest.mark.parametrize("status", [408, 425, 429, 500, 501, 502, 503, 504, 599])
def test_transient_statuses_are_retried(status):
    assert classify(status) is Verdict.RETRY


def test_410_gone():
    assert classify(410) is Verdict.GONE


@pytest.mark.parametrize(
    "kind", ["timeout", "connection", "lease_expired", ErrorKind.TIMEOUT, ErrorKind.CONNECTION]
)
def test_transient_transport_errors_are_retried(kind):
    assert classify(None, kind) is Verdict.RETRY


@pytest.mark.parametrize(
    "kind", ["blocked_address", "invalid_url", ErrorKind.BLOCKED, ErrorKind.INVALID_URL, None]
)
def test_permanent_transport_errors_fail(kind):
    assert classify(None, kind) is Verdict.FAILED


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 499])
def test_retry_client_errors_flag_retries_other_4xx(status):
    assert classify(status, retry_client_errors=True) is Verdict.RETRY
    assert classify(status, retry_client_errors=False) is Verdict.FAILED


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (410, Verdict.GONE),
        (302, Verdict.FAILED),
        (399, Verdict.FAILED),
        (199, Verdict.FAILED),
        (200, Verdict.SUCCEEDED),
        (503, Verdict.RETRY),
    ],
)
def test_retry_client_errors_flag_leaves_other_classes_alone(status, verdict):
    assert classify(status, retry_client_errors=True) is verdict


def test_retry_client_errors_flag_does_not_retry_permanent_transport_errors():
    assert classify(None, "blocked_address", retry_client_errors=True) is Verdict.FAILED


# --- jitter ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [5, 300, 36000, 0.2])
def test_jitter_stays_within_25_percent(delay):
    samples = [jittered(delay) for _ in range(20_000)]
    assert all(within_jitter(s, delay) for s in samples)
    # It really is jitter: values spread on both sides of the scheduled delay.
    assert min(samples) < delay * 0.95
    assert max(samples) > delay * 1.05
    assert len(set(samples)) > 19_000


def test_jitter_with_a_seeded_rng_is_reproducible_and_bounded():
    first = [jittered(100, random.Random(1234)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng_a, rng_b = random.Random(7), random.Random(7)
    seq_a = [jittered(100, rng_a) for _ in range(5000)]
    seq_b = [jittered(100, rng_b) for _ in range(5000)]
    assert seq_a == seq_b
    assert all(75 <= s <= 125 for s in seq_a)
    assert len(set(seq_a)) == 5000


def test_jitter_of_zero_is_zero():
    assert jittered(0) == 0


# --- schedule ----------------------------------------------------------------------------------


def test_next_delay_follows_the_schedule():
    rng = random.Random(0)
    for number, scheduled in enumerate(SCHEDULE, start=1):
        assert within_jitter(next_delay(number, SCHEDULE, rng=rng), scheduled)


def test_next_delay_accepts_float_seconds():
    assert within_jitter(next_delay(1, [0.2, 0.4]), 0.2)
    assert within_jitter(next_delay(2, [0.2, 0.4]), 0.4)


@pytest.mark.parametrize("number", [len(SCHEDULE) + 1, len(SCHEDULE) + 5, 0, -1])
def test_next_delay_is_none_outside_the_schedule(number):
    assert next_delay(number, SCHEDULE) is None


@pytest.mark.parametrize("schedule", [[], [1], [1, 2, 3], SCHEDULE])
def test_number_of_attempts_is_schedule_length_plus_one(schedule):
    attempts = 1
    while next_delay(attempts, schedule) is not None:
        attempts += 1
        assert attempts < 100
    assert attempts == len(schedule) + 1


def test_next_delay_honours_a_longer_retry_after():
    assert next_delay(1, [5], retry_after=120) == 120


def test_next_delay_caps_retry_after():
    assert next_delay(1, [5], retry_after=1_000_000, max_retry_after=3600) == 3600
    assert next_delay(1, [5], retry_after=1_000_000) == 3600  # the default cap


def test_a_shorter_retry_after_does_not_shorten_the_schedule():
    rng = random.Random(3)
    for _ in range(1000):
        assert within_jitter(next_delay(1, [1000], retry_after=1, rng=rng), 1000)


def test_retry_after_does_not_add_attempts():
    assert next_delay(2, [5], retry_after=60) is None


# --- Retry-After parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), (" 7 ", 7.0)])
def test_retry_after_in_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_as_http_date():
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0


def test_retry_after_as_http_date_in_the_past_is_zero():
    now = datetime(2015, 10, 21, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


def test_retry_after_http_date_defaults_to_now():
    when = datetime.now(UTC) + timedelta(minutes=10)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert 590 <= seconds <= 600


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "1.5e3",
        "Wed, 99 Foo 2015 07:28:00 GMT",
        "\u00b2",  # "²": byte 0xB2 read as Latin-1, and str.isdigit() accepts it
        "1\u00b3",
    ],
)
def test_garbage_retry_after_is_none(value):
    assert parse_retry_after(value) is None


# --- decide ------------------------------------------------------------------------------------


def test_decide_success():
    assert decide(1, 200, None, SCHEDULE) == Decision(Verdict.SUCCEEDED)


def test_decide_gone():
    decision = decide(1, 410, None, SCHEDULE)
    assert decision.verdict is Verdict.GONE
    assert decision.delay is None
    assert "410" in decision.reason


@pytest.mark.parametrize("status", [302, 400, 404, 422])
def test_decide_permanent_failure(status):
    decision = decide(1, status, None, SCHEDULE)
    assert decision.verdict is Verdict.FAILED
    assert decision.delay is None
    assert str(status) in decision.reason


def test_decide_blocked_address_fails_at_once():
    decision = decide(1, None, "blocked_address", SCHEDULE)
    assert decision.verdict is Verdict.FAILED
    assert "blocked_address" in decision.reason


@pytest.mark.parametrize(("status", "kind"), [(503, None), (429, None), (None, "timeout")])
def test_decide_retries_on_the_schedule(status, kind):
    rng = random.Random(11)
    for number, scheduled in enumerate(SCHEDULE, start=1):
        decision = decide(number, status, kind, SCHEDULE, rng=rng)
        assert decision.verdict is Verdict.RETRY
        assert within_jitter(decision.delay, scheduled)


def test_decide_out_of_attempts_fails():
    decision = decide(len(SCHEDULE) + 1, 503, None, SCHEDULE)
    assert decision.verdict is Verdict.FAILED
    assert decision.delay is None
    assert "out of attempts" in decision.reason


def test_decide_end_to_end_attempt_count():
    schedule = [1, 2, 3]
    attempts = 0
    while True:
        attempts += 1
        decision = decide(attempts, 500, None, schedule)
        if decision.verdict is not Verdict.RETRY:
            break
    assert decision.verdict is Verdict.FAILED
    assert attempts == len(schedule) + 1


def test_decide_honours_retry_after_seconds():
    decision = decide(1, 429, None, [5], retry_after="120")
    assert decision == Decision(Verdict.RETRY, 120.0, "HTTP 429")


def test_decide_honours_retry_after_http_date():
    when = datetime.now(UTC) + timedelta(seconds=900)
    decision = decide(1, 503, None, [5], retry_after=format_datetime(when, usegmt=True))
    assert decision.verdict is Verdict.RETRY
    assert 890 <= decision.delay <= 900


def test_decide_caps_retry_after():
    decision = decide(1, 503, None, [5], retry_after="86400", max_retry_after=600)
    assert decision.delay == 600


def test_decide_short_retry_after_keeps_the_schedule():
    decision = decide(1, 503, None, [1000], retry_after="1")
    assert within_jitter(decision.delay, 1000)


@pytest.mark.parametrize("value", ["soon", "\u00b2"])
def test_decide_ignores_a_malformed_retry_after(value):
    decision = decide(1, 503, None, [100], retry_after=value)
    assert decision.verdict is Verdict.RETRY
    assert within_jitter(decision.delay, 100)


def test_decide_retry_client_errors():
    assert decide(1, 404, None, [5], retry_client_errors=True).verdict is Verdict.RETRY
    assert decide(2, 404, None, [5], retry_client_errors=True).verdict is Verdict.FAILED
    assert decide(1, 404, None, [5]).verdict is Verdict.FAILED


def test_decide_with_a_seeded_rng_is_reproducible():
    a = decide(3, 500, None, SCHEDULE, rng=random.Random(99))
    b = decide(3, 500, None, SCHEDULE, rng=random.Random(99))
    assert a == b
    assert within_jitter(a.delay, SCHEDULE[2])
