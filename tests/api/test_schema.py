"""The API's routes in a project's schema, with DRF's generator and with drf-spectacular."""

from __future__ import annotations

import json

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

SPECTACULAR = {
    "INSTALLED_APPS": [*settings.INSTALLED_APPS, "drf_spectacular"],
    "REST_FRAMEWORK": {
        **getattr(settings, "REST_FRAMEWORK", {}),
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    },
    # No ENUM_NAME_OVERRIDES: the app names its enums itself (Delivery and InboundEvent
    # both have a "status" choice field, which drf-spectacular alone could not name).
}

STAFF, TENANT = "/api/webhooks/", "/api/customer/webhooks/"


@override_settings(**SPECTACULAR)
def test_drf_spectacular_describes_every_route_without_warnings(tmp_path):
    """`manage.py spectacular` used to fail: "Incompatible AutoSchema used on View"."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = set(schema["paths"])
    for prefix in (STAFF, TENANT):
        assert {prefix + "endpoints/", prefix + "endpoints/{id}/", prefix + "deliveries/"} <= paths
    assert STAFF + "inbound-events/{id}/reprocess/" in paths
    assert TENANT + "events/" in paths
    for prefix in (STAFF, TENANT):
        assert {prefix + "endpoints/{id}/stats/", prefix + "event-types/{name}/"} <= paths
    stats = schema["paths"][TENANT + "endpoints/{id}/stats/"]["get"]["responses"]["200"]
    assert stats["content"]["application/json"]["schema"]["$ref"].endswith("/EndpointStats")
    # Receivers are plain Django views, portal pages are HTML: neither is an API operation.
    assert all(path.startswith((STAFF, TENANT)) for path in paths), sorted(paths)


@override_settings(**SPECTACULAR)
def test_drf_spectacular_names_the_apps_enums_after_their_models(tmp_path):
    """Without ENUM_NAME_OVERRIDES the "status" fields collided (StatusA0cEnum, a warning)."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out))
    schemas = yaml.safe_load(out.read_text())["components"]["schemas"]
    assert schemas["DeliveryStatus"]["enum"] == ["pending", "succeeded", "failed"]
    assert schemas["InboundEventStatus"]["enum"] == ["pending", "processed", "failed"]
    assert schemas["Delivery"]["properties"]["status"] == {
        "allOf": [{"$ref": "#/components/schemas/DeliveryStatus"}],
        "readOnly": True,
    }
    assert schemas["InboundEvent"]["properties"]["status"]["allOf"] == [
        {"$ref": "#/components/schemas/InboundEventStatus"}
    ]
    enums = {name for name, schema in schemas.items() if "enum" in schema}
    assert enums == {
        "DeliveryStatus",
        "InboundEventStatus",
        "AttemptTrigger",
        "CircuitState",
        "EndpointStateCode",
        "DeliveryStateCode",
    }


@override_settings(**SPECTACULAR)
def test_the_apps_own_schema_route_stays_a_drf_document(admin_client):
    response = admin_client.get(STAFF + "schema/")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    # Our per-action descriptions still apply: the create answer carries the secret.
    create = schema["paths"][STAFF + "endpoints/"]["post"]
    assert "201" in create["responses"]


def test_the_views_use_the_projects_schema_class_under_drf_spectacular():
    from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

    from webhooks_app.api.schema import WebhooksAutoSchema
    from webhooks_app.api.views import EndpointViewSet

    assert isinstance(EndpointViewSet().schema, WebhooksAutoSchema)
    with override_settings(**SPECTACULAR):
        assert isinstance(EndpointViewSet().schema, SpectacularAutoSchema)
