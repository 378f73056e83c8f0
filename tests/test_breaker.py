"""The circuit breaker's rule and window (webhooks_app.breaker), on plain values."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from webhooks_app import breaker
from webhooks_app.breaker import Policy, Window

POLICY = Policy(window=60, failure_rate=0.5, min_requests=20, streak=5)
T0 = datetime(2026, 12, 8, 15, 3, 0, tzinfo=UTC)  # a window starts here (a whole minute)


def replay(outcomes: Iterable[bool], *, per_second: float, policy: Policy = POLICY) -> int | None:
    """Feed tries (True: it failed) one by one, ``per_second`` of them, through the window
    and the rule as recording does; the number of the try that opened the circuit, or None."""
    window, streak = Window(), 0
    for number, failed in enumerate(outcomes, start=1):
        now = T0 + timedelta(seconds=number / per_second)
        window = breaker.counted(window, now, policy.window, requests=1, failures=int(failed))
        streak = streak + 1 if failed else 0
        if failed and breaker.trips(window, streak, policy):
            return number
    return None


def pattern(*runs: tuple[bool, int]) -> list[bool]:
    """``(failed, count), ...`` spelled out."""
    return [failed for failed, count in runs for _ in range(count)]


# 70 % success, with runs of 6 failures in a row.
FLAKY = pattern((False, 14), (True, 6)) * 100


# --- the rule -----------------------------------------------------------------------------------


def test_a_dead_endpoint_opens_after_the_threshold_in_a_row():
    assert replay([True] * 10, per_second=10) == 5


def test_a_dead_endpoint_opens_after_the_threshold_however_slowly_it_is_tried():
    assert replay([True] * 10, per_second=0.01) == 5  # one try every 100 s


def test_an_endpoint_that_answers_70_percent_never_opens_whatever_its_runs():
    for per_second in (0.5, 2, 20, 200):
        assert replay(FLAKY, per_second=per_second) is None, per_second


def test_an_endpoint_that_answers_70_percent_at_random_never_opens():
    chance = random.Random(17)
    tries = [chance.random() < 0.3 for _ in range(20_000)]
    assert max(len(run) for run in "".join("F" if t else "S" for t in tries).split("S")) >= 7
    assert replay(tries, per_second=50) is None


def test_a_busy_healthy_endpoint_that_goes_down_opens_after_the_threshold():
    """Its successes of the last minute must not outvote the failures of a dead host."""
    assert replay([False] * 3000 + [True] * 10, per_second=50) == 3005
    flaky_then_down = FLAKY[:394] + [True] * 30  # 394: after a cycle's successes
    assert replay(flaky_then_down, per_second=50) == 394 + 12  # at 30 %, a run of 12


def test_half_the_tries_failing_opens_at_the_minimum_number_of_tries():
    """No run of failures at all: the rate alone, once the window holds 20 tries."""
    alternating = [False, True] * 50
    assert replay(alternating, per_second=10) == 20
    assert replay(alternating, per_second=10, policy=replace(min_requests=40)) == 40


def test_a_rate_below_the_setting_never_opens_on_the_rate():
    mostly_ok = pattern((False, 3), (True, 2)) * 200  # 40 % failed
    assert replay(mostly_ok, per_second=10) is None
    assert replay(mostly_ok, per_second=10, policy=replace(failure_rate=0.4)) == 20


@pytest.mark.parametrize(
    ("requests", "failures", "streak", "opens"),
    [
        (20, 10, 1, True),  # the rate, with enough tries
        (19, 10, 1, False),  # not enough tries for the rate alone
        (20, 9, 1, False),  # 45 %
        (9, 5, 5, True),  # the threshold in a row, failures the majority
        (9, 5, 4, False),  # one short of it
        (19, 5, 5, False),  # in a row after 14 successes only: too little to go on
        (105, 5, 5, True),  # in a row after a hundred successes: it went down
        (106, 36, 6, False),  # six in a row at 30 %: chance
        (112, 42, 12, True),  # twelve in a row at 30 %: less than once in a million
        (111, 41, 11, False),
    ],
)
def test_the_rule(requests, failures, streak, opens):
    assert breaker.trips(Window(T0, requests, failures), streak, POLICY) is opens


def test_a_share_is_compared_as_it_was_written():
    """0.7 * 10 is 7.000000000000001 in floating point: 7 failures of 10 still reach 0.7."""
    policy = replace(failure_rate=0.7, min_requests=10)
    assert breaker.trips(Window(T0, 10, 7), 1, policy)
    assert not breaker.trips(Window(T0, 10, 6), 1, policy)


def test_a_failed_probe_opens_the_circuit_again():
    healthy_looking = Window(T0, 100, 1)
    assert not breaker.trips(healthy_looking, 1, POLICY)
    assert breaker.trips(healthy_looking, 1, POLICY, circuit_open=True)


def replace(**changes) -> Policy:
    return Policy(**{**POLICY.__dict__, **changes})


# --- the window ---------------------------------------------------------------------------------


def test_windows_start_on_the_clock_so_every_worker_agrees():
    assert breaker.window_start(T0, 60) == T0
    assert breaker.window_start(T0 + timedelta(seconds=59.999999), 60) == T0
    assert breaker.window_start(T0 + timedelta(seconds=60), 60) == T0 + timedelta(seconds=60)
    assert breaker.window_start(T0 + timedelta(seconds=0.7), 0.5) == T0 + timedelta(seconds=0.5)


def test_tries_of_one_window_add_up():
    window = breaker.counted(Window(), T0 + timedelta(seconds=1), 60, requests=3, failures=1)
    assert window == Window(T0, 3, 1)
    window = breaker.counted(window, T0 + timedelta(seconds=59), 60, requests=2, failures=2)
    assert window == Window(T0, 5, 3)
    assert window.failure_rate == 0.6


def test_the_window_before_counts_half_and_older_ones_not_at_all():
    window = Window(T0, 41, 11)
    later = T0 + timedelta(seconds=61)
    assert breaker.counted(window, later, 60, requests=1) == Window(
        T0 + timedelta(seconds=60), 21, 5
    )
    much_later = T0 + timedelta(seconds=120)
    assert breaker.counted(window, much_later, 60, 1, 1) == Window(much_later, 1, 1)
    assert breaker.counted(window, much_later, 60) == Window(much_later, 0, 0)


def test_an_empty_window_has_no_failure_rate():
    assert Window().failure_rate is None
    assert Window(T0, 4, 0).failure_rate == 0
