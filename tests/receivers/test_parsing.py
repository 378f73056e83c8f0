"""Parsing verified bodies: JSON, form data, and what is refused (pure functions)."""

import json

import pytest

from webhooks_app.receivers import parsing
from webhooks_app.receivers.parsing import FORM_CONTENT_TYPE, MAX_DEPTH, MalformedBody, parse_body


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_json_is_parsed_whatever_the_content_type_but_form():
    for content_type in ("application/json", "text/plain", "", "application/json; charset=utf-8"):
        assert parse_body(b'{"a": [1, 2]}', content_type) == {"a": [1, 2]}


def test_nesting_up_to_the_limit_is_parsed_and_one_more_level_is_refused():
    assert parse_body(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(MalformedBody):
        parse_body(nested(MAX_DEPTH + 1))
    with pytest.raises(MalformedBody):  # past the interpreter's recursion limit
        parse_body(nested(100_000))


def test_many_flat_containers_are_not_deep():
    body = json.dumps({"items": [[i] for i in range(5 * MAX_DEPTH)]}).encode()
    assert len(parse_body(body)["items"]) == 5 * MAX_DEPTH


@pytest.mark.parametrize("body", [b"", b"{", b"null", b"NaN", b"[Infinity]", b"\xff"])
def test_what_is_not_json_is_refused(body):
    with pytest.raises(MalformedBody):
        parse_body(body, "application/json")


def test_a_form_with_a_payload_field_is_that_json():
    body = b"payload=%7B%22action%22%3A%22opened%22%2C%22n%22%3A1%7D"
    assert parse_body(body, FORM_CONTENT_TYPE) == {"action": "opened", "n": 1}
    assert parse_body(body, FORM_CONTENT_TYPE.upper() + "; charset=utf-8")["n"] == 1


def test_any_other_form_is_a_dict_of_its_fields():
    body = b"command=%2Fweather&text=94070&empty=&plus=a+b"
    assert parse_body(body, FORM_CONTENT_TYPE) == {
        "command": "/weather",
        "text": "94070",
        "empty": "",
        "plus": "a b",
    }


@pytest.mark.parametrize(
    "body",
    [b"", b"payload=not-json", b"payload=%ED%A0%80", b"\xff=1", b"&".join([b"a=1"] * 1001)],
    ids=["empty", "payload-not-json", "encoded-surrogate", "not-utf8", "too-many-fields"],
)
def test_what_is_not_form_data_is_refused(body):
    with pytest.raises(MalformedBody):
        parse_body(body, FORM_CONTENT_TYPE)


@pytest.mark.parametrize(
    ("body_format", "label", "body", "read_as_form"),
    [
        (parsing.JSON, FORM_CONTENT_TYPE, b'{"id": 1}', False),
        (parsing.JSON, FORM_CONTENT_TYPE, b"payload=%7B%7D", False),
        (parsing.FORM, "application/json", b"a=1", True),
        (parsing.ANY, FORM_CONTENT_TYPE, b'{"id": 1}', True),
        (parsing.ANY, "", b"a=1", False),
        (parsing.JSON_OR_FORM, FORM_CONTENT_TYPE, b'  {"id": 1}', False),
        (parsing.JSON_OR_FORM, FORM_CONTENT_TYPE, b"[1]", False),
        (parsing.JSON_OR_FORM, FORM_CONTENT_TYPE + "; charset=utf-8", b"payload=%7B%7D", True),
        (parsing.JSON_OR_FORM, "application/json", b"payload=%7B%7D", False),
        (parsing.JSON_OR_FORM, "", b"payload=%7B%7D", False),
    ],
)
def test_read_as_follows_the_providers_body_format(body_format, label, body, read_as_form):
    assert (parsing.read_as(body_format, label, body) == FORM_CONTENT_TYPE) is read_as_form
