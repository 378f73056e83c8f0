"""Event ids and sequence numbers (webhooks_app.ids): pure."""

from __future__ import annotations

import threading
import time

from webhooks_app.ids import Sequence, new_event_id, next_sequence


def test_sequence_increases_when_the_clock_stands_still_or_steps_back():
    readings = iter([100, 100, 90, 250, 250])
    sequence = Sequence(lambda: next(readings))
    assert [sequence.next() for _ in range(5)] == [100, 101, 102, 250, 251]


def test_sequence_follows_the_wall_clock():
    before = time.time_ns()
    value = next_sequence()
    assert before <= value <= time.time_ns() + 1_000_000


def test_sequence_numbers_are_unique_and_ordered_across_threads():
    sequence = Sequence(lambda: 7)  # a clock that never moves: only the lock keeps them apart
    taken: list[list[int]] = [[] for _ in range(8)]

    def take(into: list[int]) -> None:
        into.extend(sequence.next() for _ in range(1000))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for values in taken for value in values]
    assert sorted(every) == list(range(7, 7 + 8000))
    assert all(values == sorted(values) for values in taken)


def test_event_ids_sort_by_creation_time():
    first = new_event_id()
    time.sleep(0.002)
    assert new_event_id() > first
