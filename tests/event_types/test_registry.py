"""The event-type catalog: names, schemas and examples checked at registration, payload
validation in send_event, deprecation, the test helper and autodiscovery."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import webhooks_app
from webhooks_app import event_types, send_event
from webhooks_app.event_types import EventType, InvalidPayload, registry
from webhooks_app.models import Event
from webhooks_app.testing import isolated_event_types

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer"},
        "total": {"type": "string", "pattern": r"^\d+\.\d{2}$"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
                "required": ["sku", "price"],
            },
        },
    },
    "required": ["order_id"],
}
ORDER_EXAMPLE = {"order_id": 42, "total": "12.50", "items": [{"sku": "A-1", "price": 12.5}]}


@pytest.fixture(autouse=True)
def catalog():
    """Every test starts with an empty catalog, restored afterwards."""
    with isolated_event_types():
        yield


def register_order(**overrides) -> EventType:
    arguments = {
        "description": "An order was placed.",
        "schema": ORDER_SCHEMA,
        "example": ORDER_EXAMPLE,
        **overrides,
    }
    return event_types.register("order.placed", **arguments)


# --- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["order.paid", "order", "user.email_changed", "a.b.c.d", "V2.Order_Paid", "_", "x" * 255],
)
def test_names_of_dot_separated_segments_are_accepted(name):
    assert event_types.register(name).name == name
    assert event_types.get(name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "order.",
        ".order",
        "order..paid",
        "order paid",
        "order-paid",
        "order/paid",
        "order.*",
        "*",
        "ordér.paid",
        "order.paid\n",
        "x" * 256,
        None,
        42,
    ],
)
def test_other_names_are_refused(name):
    with pytest.raises(ImproperlyConfigured):
        event_types.register(name)
    assert event_types.all() == []


# --- registration ---------------------------------------------------------------------


def test_register_returns_the_type_and_all_lists_them_by_name():
    placed = register_order()
    paid = event_types.register("order.paid", deprecated=True)
    created = event_types.register("account.created", description="Hello")
    assert placed == EventType(
        "order.placed", "An order was placed.", ORDER_SCHEMA, ORDER_EXAMPLE, False
    )
    assert event_types.all() == [created, paid, placed]  # by name: "order.pa" < "order.pl"
    assert event_types.get("order.paid") is paid
    assert event_types.get("order.refunded") is None


def test_types_are_immutable_and_hashable():
    placed = register_order()
    with pytest.raises(dataclasses.FrozenInstanceError):
        placed.deprecated = True
    assert {placed: 1}[event_types.get("order.placed")] == 1


def test_registering_again_with_the_same_arguments_is_harmless():
    first = register_order()
    assert register_order(schema=dict(ORDER_SCHEMA)) is first
    assert event_types.all() == [first]


@pytest.mark.parametrize(
    "change",
    [
        {"description": "Another text."},
        {"schema": {"type": "object"}},
        {"schema": None},
        {"example": {"order_id": 7}},
        {"deprecated": True},
    ],
)
def test_registering_again_with_other_arguments_is_an_error(change):
    first = register_order()
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        register_order(**change)
    assert event_types.get("order.placed") is first


def test_the_schema_and_example_are_copied():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    example = {"n": 1, "tags": ("a", "b")}
    registered = event_types.register("thing.counted", schema=schema, example=example)
    schema["properties"]["n"]["type"] = "string"
    example["n"] = "one"
    assert registered.schema["properties"]["n"] == {"type": "integer"}
    assert registered.example == {"n": 1, "tags": ["a", "b"]}  # as JSON has it


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "objectx"}, r"not a valid JSON Schema at \$\.type"),
        ({"properties": {"n": {"minimum": "zero"}}}, "not a valid JSON Schema"),
        ({"items": [{"type": "string"}]}, "not a valid JSON Schema"),  # draft-07 syntax
        ({"$schema": "https://example.com/my-dialect"}, "unknown"),
        ("object", "must be a JSON Schema object"),
        (True, "must be a JSON Schema object"),
        ({"type": "number", "maximum": math.inf}, "not plain JSON"),
    ],
)
def test_a_schema_that_is_not_json_schema_is_refused(schema, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        event_types.register("order.paid", schema=schema)
    assert event_types.get("order.paid") is None


def test_a_schema_names_its_draft_with_dollar_schema():
    """Draft 2020-12 by default; ``$schema`` chooses another (here draft 7's array items)."""
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    registered = event_types.register("list.made", schema=draft7, example=["a", 1])
    with pytest.raises(InvalidPayload, match=r"\$\[0\]"):
        event_types.validate_payload(registered.name, [2])


@pytest.mark.parametrize(
    ("example", "path"),
    [
        ({"total": "12.50"}, r"\$"),  # order_id is required
        ({"order_id": "42"}, r"\$\.order_id"),
        ({"order_id": 42, "total": "12.5"}, r"\$\.total"),
        ({"order_id": 42, "items": [{"sku": "A", "price": "1"}]}, r"\$\.items\[0\]\.price"),
    ],
)
def test_an_example_the_schema_refuses_is_refused(example, path):
    with pytest.raises(ImproperlyConfigured, match=f"example .* at {path}"):
        register_order(example=example)
    assert event_types.get("order.placed") is None


@pytest.mark.parametrize("example", [{1, 2}, {"at": datetime(2025, 1, 1, tzinfo=UTC)}, math.nan])
def test_an_example_that_is_not_json_is_refused(example):
    with pytest.raises(ImproperlyConfigured, match="not plain JSON"):
        event_types.register("thing.happened", example=example)


def test_an_example_without_a_schema_may_be_any_json():
    assert event_types.register("thing.happened", example=[1, "two"]).example == [1, "two"]


def test_a_description_must_be_text():
    with pytest.raises(ImproperlyConfigured, match="description"):
        event_types.register("thing.happened", description=["not", "text"])


# --- validate_payload -----------------------------------------------------------------


def test_a_matching_payload_passes():
    register_order()
    event_types.validate_payload("order.placed", ORDER_EXAMPLE)
    event_types.validate_payload("order.placed", {"order_id": 1, "items": []})


def test_unregistered_types_and_types_without_a_schema_accept_anything():
    event_types.register("thing.happened")
    for payload in ({"anything": 1}, None, [1, 2], "text"):
        event_types.validate_payload("thing.happened", payload)
        event_types.validate_payload("never.registered", payload)


def test_a_refused_payload_raises_invalid_payload_naming_the_field():
    register_order()
    with pytest.raises(InvalidPayload) as caught:
        event_types.validate_payload("order.placed", {"order_id": 1, "items": [{"sku": "A"}]})
    error = caught.value
    assert isinstance(error, ValueError)
    assert webhooks_app.InvalidPayload is InvalidPayload
    assert (error.event_type, error.path) == ("order.placed", "$.items[0]")
    assert "'price' is a required property" in error.detail
    assert str(error) == (
        "The payload of a 'order.placed' event does not match its schema at $.items[0]: "
        "'price' is a required property"
    )


def test_a_long_message_is_cut():
    event_types.register("blob.made", schema={"type": "string"})
    with pytest.raises(InvalidPayload) as caught:
        event_types.validate_payload("blob.made", {"x" * 1000: 1})
    assert len(caught.value.detail) <= registry.MAX_DETAIL


def test_the_payload_is_validated_as_it_is_sent():
    """Decimals and dates are sent as JSON strings (DjangoJSONEncoder), so a string schema
    accepts them and a number schema refuses them."""
    event_types.register(
        "price.set",
        schema={
            "type": "object",
            "properties": {"amount": {"type": "string"}, "at": {"type": "string"}},
        },
    )
    event_types.validate_payload(
        "price.set", {"amount": Decimal("9.99"), "at": datetime(2025, 1, 1, tzinfo=UTC)}
    )
    event_types.register("count.set", schema={"properties": {"n": {"type": "number"}}})
    with pytest.raises(InvalidPayload, match=r"\$\.n"):
        event_types.validate_payload("count.set", {"n": Decimal("3")})


def test_format_is_an_annotation():
    """As JSON Schema 2020-12 has it: the outcome does not depend on installed checkers."""
    event_types.register("user.invited", schema={"properties": {"email": {"format": "email"}}})
    event_types.validate_payload("user.invited", {"email": "not an address"})


# --- send_event and VALIDATE_PAYLOADS -------------------------------------------------


def validating(on: bool = True):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, "VALIDATE_PAYLOADS": on})


@pytest.mark.django_db
def test_validation_is_off_by_default():
    register_order()
    event = send_event("order.placed", {"order_id": "not a number"})
    assert Event.objects.get().pk == event.pk


@pytest.mark.django_db
def test_send_event_refuses_a_payload_before_any_query(django_assert_num_queries):
    register_order()
    Event.objects.create(event_type="order.placed", payload={}, idempotency_key="key-1")
    with validating(), django_assert_num_queries(0):
        with pytest.raises(InvalidPayload, match=r"\$\.order_id"):
            send_event("order.placed", {"order_id": "42"})
        with pytest.raises(InvalidPayload):  # not even the idempotency key is looked up
            send_event("order.placed", {"order_id": "42"}, idempotency_key="key-1")
    assert Event.objects.count() == 1


@pytest.mark.django_db
def test_send_event_records_a_valid_payload_and_unregistered_types():
    register_order()
    with validating():
        placed = send_event("order.placed", ORDER_EXAMPLE)
        other = send_event("never.registered", {"anything": True})
    assert set(Event.objects.values_list("pk", flat=True)) == {placed.pk, other.pk}


# A tree: each node's children are nodes (the schema refers to itself).
TREE_SCHEMA = {
    "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
    "$ref": "#/$defs/node",
}


def tree(depth: int) -> dict:
    node: dict = {}
    for _ in range(depth - 1):
        node = {"child": node}
    return node


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [500, 129, 2000])
def test_a_payload_too_deep_for_a_self_referring_schema_is_invalid(depth):
    """Validating ``$ref`` recursion takes Python frames per level: a deep payload is an
    InvalidPayload (before any query), never a RecursionError."""
    event_types.register("tree.grown", schema=TREE_SCHEMA, example=tree(3))
    with validating(), pytest.raises(InvalidPayload, match="nested more than 128 levels"):
        send_event("tree.grown", tree(depth))
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_payload_too_deep_for_the_validator_within_the_limit_is_invalid():
    """Python's recursion limit may be met before the depth limit (a deeper stack, a
    lower limit): the RecursionError is an InvalidPayload too."""
    event_types.register("tree.grown", schema=TREE_SCHEMA, example=tree(3))
    limit = sys.getrecursionlimit()
    with validating(), pytest.raises(InvalidPayload, match="too deeply"):
        sys.setrecursionlimit(len(inspect.stack()) + 200)
        try:
            send_event("tree.grown", tree(120))
        finally:
            sys.setrecursionlimit(limit)
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_tree_within_the_limit_is_valid():
    event_types.register("tree.grown", schema=TREE_SCHEMA, example=tree(3))
    with validating():
        send_event("tree.grown", tree(40))
    assert Event.objects.count() == 1


@pytest.mark.django_db
def test_validating_with_the_setting_off_writes_what_the_schema_refuses():
    register_order()
    with validating(False):
        send_event("order.placed", {"order_id": "42"})
    assert Event.objects.count() == 1


# --- deprecation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscribed", "flagged"),
    [
        ([], []),
        (["order.legacy"], ["order.legacy"]),
        (["order.placed", "order.legacy", "user.gone"], ["order.legacy", "user.gone"]),
        (["order.legacy", "order.legacy"], ["order.legacy"]),
        (["order.*"], []),  # a wildcard asks for whatever exists
        (["*"], []),
        (["never.registered"], []),
        ("order.legacy", []),  # stored past validation: no list
        (None, []),
        ([None, 3, "order.legacy"], ["order.legacy"]),
    ],
)
def test_deprecated_in_names_the_deprecated_types_of_a_subscription(subscribed, flagged):
    register_order()
    event_types.register("order.legacy", deprecated=True)
    event_types.register("user.gone", deprecated=True)
    assert event_types.deprecated_in(subscribed) == flagged


# --- the test helper --------------------------------------------------------------------


def test_isolated_event_types_restores_the_catalog():
    kept = register_order()
    with isolated_event_types():
        assert event_types.all() == []
        event_types.register("order.placed", description="Something else entirely.")
    assert event_types.all() == [kept]
    with isolated_event_types(empty=False):
        assert event_types.all() == [kept]
        event_types.register("thing.happened")
    assert event_types.all() == [kept]


# --- autodiscovery ------------------------------------------------------------------------


def test_installed_apps_webhooks_modules_are_imported_by_ready():
    """``tests.catalog_app`` is installed for this test only: populating the apps again
    runs webhooks_app's ready(), which imports its webhooks.py (and queries nothing: the
    test has no database access)."""
    sys.modules.pop("tests.catalog_app.webhooks", None)
    assert event_types.get("catalog_app.widget.created") is None
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.catalog_app"]):
            assert apps.is_installed("tests.catalog_app")
            registered = event_types.get("catalog_app.widget.created")
    finally:
        sys.modules.pop("tests.catalog_app.webhooks", None)
    assert registered is not None
    assert registered.example == {"widget_id": 1}


def test_ready_imports_again_harmlessly():
    """Autodiscovery may import a module twice (a second ready(), a test runner)."""
    sys.modules.pop("tests.catalog_app.webhooks", None)
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.catalog_app"]):
            first = event_types.get("catalog_app.widget.created")
            assert first is not None
            sys.modules.pop("tests.catalog_app.webhooks", None)
            apps.get_app_config("webhooks_app").ready()
            assert event_types.get("catalog_app.widget.created") == first
    finally:
        sys.modules.pop("tests.catalog_app.webhooks", None)
