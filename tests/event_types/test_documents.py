"""manage.py webhooks_catalog: the OpenAPI 3.1 document (validated with
openapi-spec-validator) and the Markdown page of the registered event types."""

from __future__ import annotations

import copy
import json
import re
from io import StringIO

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from webhooks_app import event_types
from webhooks_app.event_types import documents
from webhooks_app.testing import isolated_event_types

PAID_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer"},
        "amount": {"$ref": "#/$defs/money"},
        "refunds": {"type": "array", "items": {"$ref": "#/$defs/money"}},
    },
    "required": ["order_id", "amount"],
    "$defs": {
        "money": {
            "type": "object",
            "properties": {"value": {"type": "string"}, "currency": {"type": "string"}},
            "required": ["value", "currency"],
        }
    },
}
PAID_EXAMPLE = {"order_id": 42, "amount": {"value": "12.50", "currency": "EUR"}, "refunds": []}


@pytest.fixture
def types():
    """Three types: one with a schema using local references, one deprecated, one bare."""
    with isolated_event_types():
        event_types.register(
            "order.paid",
            description="An order was paid in full.\n\nSent once per order.",
            schema=PAID_SCHEMA,
            example=PAID_EXAMPLE,
        )
        event_types.register(
            "order.updated",
            description="Use order.paid instead.",
            schema={"type": "object"},
            example={"order_id": 1},
            deprecated=True,
        )
        event_types.register("user.signed_up")
        yield event_types.all()


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("webhooks_catalog", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def openapi(*args: str) -> dict:
    return json.loads(run(*args)[0])


def validator_for(document: dict, name: str) -> Draft202012Validator:
    """A validator of the request body of ``name``'s webhook, references resolved in the
    whole document, as code generated from it would read them."""
    registry = Registry().with_resource("urn:catalog", DRAFT202012.create_resource(document))
    pointer = f"urn:catalog#/webhooks/{name}/post/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": pointer}, registry=registry)


# --- OpenAPI ------------------------------------------------------------------------


def test_the_default_is_a_valid_openapi_3_1_document(types):
    document = openapi()
    validate(document)  # raises on an invalid document
    assert document["openapi"] == "3.1.0"
    assert document["paths"] == {}
    assert document["info"]["title"] and document["info"]["version"]


def test_the_validator_refuses_a_broken_document(types):
    """The check above means something: the same document, broken, is refused."""
    document = openapi()
    broken = copy.deepcopy(document)
    broken["webhooks"]["order.paid"]["post"]["requestBody"]["content"] = "application/json"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)
    broken = copy.deepcopy(document)
    broken["webhooks"]["order.paid"]["post"]["parameters"][0] = {"name": "webhook-id"}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_one_webhook_per_type_with_its_envelope_and_example(types):
    document = openapi()
    assert list(document["webhooks"]) == ["order.paid", "order.updated", "user.signed_up"]
    for event_type in types:
        operation = document["webhooks"][event_type.name]["post"]
        media = operation["requestBody"]["content"]["application/json"]
        schema = media["schema"]
        assert schema["required"] == ["type", "timestamp", "data"]
        assert schema["properties"]["type"]["const"] == event_type.name
        assert schema["properties"]["timestamp"] == {
            "type": "string",
            "format": "date-time",
            "description": "When the event happened (ISO 8601).",
        }
        assert "2XX" in operation["responses"]
        assert operation.get("deprecated", False) is event_type.deprecated
        if event_type.example is not None:
            assert media["example"] == {
                "type": event_type.name,
                "timestamp": documents.EXAMPLE_TIMESTAMP,
                "data": event_type.example,
            }
            validator_for(document, event_type.name).validate(media["example"])
        else:
            assert "example" not in media


def test_a_types_schema_is_a_component_with_its_references_moved(types):
    document = openapi()
    data = document["webhooks"]["order.paid"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["properties"]["data"]
    assert data["$ref"] == "#/components/schemas/order.paid"
    component = document["components"]["schemas"]["order.paid"]
    assert component["properties"]["amount"] == {
        "$ref": "#/components/schemas/order.paid/$defs/money"
    }
    assert component["$defs"] == PAID_SCHEMA["$defs"]
    # What the document's schema refuses is what the type's schema refuses.
    validator = validator_for(document, "order.paid")
    body = {"type": "order.paid", "timestamp": documents.EXAMPLE_TIMESTAMP}
    assert validator.is_valid({**body, "data": PAID_EXAMPLE})
    assert not validator.is_valid({**body, "data": {**PAID_EXAMPLE, "amount": {"value": "1"}}})
    assert not validator.is_valid({**body, "data": {**PAID_EXAMPLE, "refunds": [{}]}})
    assert not validator.is_valid({**body, "type": "order.updated", "data": PAID_EXAMPLE})
    assert not validator.is_valid({"type": "order.paid", "data": PAID_EXAMPLE})


def test_a_type_without_a_schema_takes_any_data(types):
    document = openapi()
    assert "user.signed_up" not in document["components"]["schemas"]
    validator = validator_for(document, "user.signed_up")
    body = {"type": "user.signed_up", "timestamp": documents.EXAMPLE_TIMESTAMP}
    for data in ({"anything": 1}, [1], None):
        assert validator.is_valid({**body, "data": data})


def test_a_schema_with_an_id_or_another_draft_is_embedded_resolvably():
    """The root's ``$id`` is left out (its references are moved into the document); a
    ``$schema`` naming another draft is kept, as OpenAPI 3.1 allows."""
    with_id = {
        "$id": "https://schemas.example.com/thing.json",
        "properties": {"n": {"$ref": "#/$defs/n"}},
        "$defs": {"n": {"type": "integer"}},
    }
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
    with isolated_event_types():
        event_types.register("thing.counted", schema=with_id, example={"n": 1})
        event_types.register("thing.old", schema=draft7, example={})
        document = openapi()
    validate(document)
    components = document["components"]["schemas"]
    assert components["thing.counted"] == {
        "properties": {"n": {"$ref": "#/components/schemas/thing.counted/$defs/n"}},
        "$defs": {"n": {"type": "integer"}},
    }
    assert components["thing.old"] == draft7
    validator = validator_for(document, "thing.counted")
    body = {"type": "thing.counted", "timestamp": documents.EXAMPLE_TIMESTAMP}
    assert validator.is_valid({**body, "data": {"n": 1}})
    assert not validator.is_valid({**body, "data": {"n": "one"}})


def test_operations_carry_the_standard_webhooks_headers_and_their_text(types):
    document = openapi()
    operation = document["webhooks"]["order.paid"]["post"]
    parameters = [
        document["components"]["parameters"][ref["$ref"].rsplit("/", 1)[1]]
        for ref in operation["parameters"]
    ]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
        ("webhook-id", "header", True),
        ("webhook-timestamp", "header", True),
        ("webhook-signature", "header", True),
    ]
    assert operation["operationId"] == "orderPaid"
    assert operation["summary"] == "An order was paid in full."
    assert operation["description"] == "An order was paid in full.\n\nSent once per order."
    bare = document["webhooks"]["user.signed_up"]["post"]
    assert (bare["operationId"], bare["summary"]) == ("userSignedUp", "user.signed_up")
    assert "description" not in bare


def test_operation_ids_are_unique():
    with isolated_event_types():
        for name in ("a.b_c", "a_b.c", "a.b.c"):
            event_types.register(name)
        document = openapi()
    validate(document)
    ids = {name: webhook["post"]["operationId"] for name, webhook in document["webhooks"].items()}
    assert ids == {"a.b.c": "aBC", "a.b_c": "aBC2", "a_b.c": "aBC3"}  # in the order of names


def test_yaml_is_the_same_document(types):
    assert yaml.safe_load(run("--format", "openapi-yaml")[0]) == openapi()


def test_title_and_version_come_from_the_setting_then_the_options(types):
    assert openapi()["info"]["title"] == "Webhooks"
    info = {"title": "Shop webhooks", "version": "2.1.0", "description": "Ours."}
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "CATALOG_INFO": info}):
        assert openapi()["info"] == info
        document = openapi("--title", "Other", "--api-version", "3.0.0")
    assert document["info"] == {**info, "title": "Other", "version": "3.0.0"}
    validate(document)


def test_output_to_a_file(types, tmp_path):
    target = tmp_path / "webhooks.json"
    out, _ = run("--output", str(target))
    assert out.strip() == f"Wrote 3 event types to {target}."
    assert json.loads(target.read_text(encoding="utf-8")) == openapi()


def test_an_unwritable_output_is_a_command_error(types, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        run("--output", str(tmp_path / "missing" / "webhooks.json"))


def test_an_empty_catalog_is_a_valid_document_and_a_warning():
    with isolated_event_types():
        out, err = run()
    document = json.loads(out)
    validate(document)
    assert document["webhooks"] == {}
    assert "No event types are registered" in err


def test_an_unknown_format_is_refused(types):
    with pytest.raises(CommandError):
        run("--format", "html")


# --- Markdown -------------------------------------------------------------------------


def json_blocks(text: str) -> list:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)]


def section(text: str, name: str) -> str:
    return text.split(f"\n## `{name}`\n", 1)[1].split("\n## ", 1)[0]


def test_markdown_has_a_section_per_type(types):
    text, _ = run("--format", "markdown", "--title", "Shop webhooks")
    assert text.startswith("# Shop webhooks\n")
    assert "- [`order.paid`](#orderpaid)" in text
    assert "- [`order.updated`](#orderupdated) (deprecated)" in text
    assert "`webhook-signature`" in text

    paid = section(text, "order.paid")
    assert "An order was paid in full.\n\nSent once per order." in paid
    assert "Deprecated" not in paid
    assert json_blocks(paid) == [
        PAID_SCHEMA,
        {"type": "order.paid", "timestamp": documents.EXAMPLE_TIMESTAMP, "data": PAID_EXAMPLE},
    ]
    updated = section(text, "order.updated")
    assert "> **Deprecated: this type will be removed; stop relying on it.**" in updated
    bare = section(text, "user.signed_up")
    assert "No schema: `data` may be any JSON value." in bare
    assert json_blocks(bare) == []


def test_markdown_of_an_empty_catalog():
    with isolated_event_types():
        text, err = run("--format", "markdown")
    assert "No event types are registered." in text
    assert "No event types are registered" in err
