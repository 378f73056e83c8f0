"""webhooks_app.json_values: JSON every database can store and our code can walk."""

from __future__ import annotations

import pytest

from webhooks_app.json_values import MAX_DEPTH, Problem, deeper_than, problem


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": ["b", 1, None, 2.5, True]}, None),
        ("\U0001f600", None),  # a pair, decoded: one code point
        ("a\x00b", Problem.NUL),
        ({"k\x00": 1}, Problem.NUL),
        (["\ud800"], Problem.SURROGATE),
        ({"\udfff": 1}, Problem.SURROGATE),
        (nested(MAX_DEPTH), None),
        (nested(MAX_DEPTH + 1), Problem.TOO_DEEP),
        ({"a": nested(MAX_DEPTH)}, Problem.TOO_DEEP),
        (nested(100_000), Problem.TOO_DEEP),  # walked without recursion
    ],
)
def test_problem(value, expected):
    assert problem(value) == expected


def test_deeper_than():
    assert not deeper_than(nested(3), 3)
    assert deeper_than(nested(4), 3)
    assert not deeper_than("text", 0)


def test_nul_may_be_left_to_the_fields():
    assert problem({"a": "\x00"}, nul=False) is None
    assert problem({"a": "\x00", "b": "\ud800"}, nul=False) == Problem.SURROGATE
    assert problem([nested(MAX_DEPTH), "\x00"], nul=False) == Problem.TOO_DEEP
