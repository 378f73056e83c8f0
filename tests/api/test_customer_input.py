"""Customer input the database or the parser cannot take: a 4xx, never a 500.

The tenant API's JSON bodies, query-string ids and path ids, and a tenant resolver
that answers ``False``. Run on PostgreSQL too (``DATABASE_URL``): a NUL or a lone
surrogate in JSON is what PostgreSQL's ``jsonb`` refuses.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api.test_tenant_views import TENANT_API, owned_objects
from tests.api.test_views import webhooks
from webhooks_app.models import Event

pytestmark = pytest.mark.django_db

TOO_BIG = "99999999999999999999999"
DEEP = 2000


@pytest.fixture(autouse=True)
def header_resolver():
    with webhooks(TENANT_RESOLVER="tests.tenants.tenant_from_header"):
        yield


@pytest.fixture
def acme(db) -> dict:
    return owned_objects("acme")


@pytest.fixture
def client(django_user_model) -> APIClient:
    """A plain user acting for acme."""
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("customer"))
    client.credentials(HTTP_X_TENANT="acme")
    return client


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "payload",
    [
        '{"payload": {"text": "a\\u0000b"}}',
        '{"payload": {"a\\u0000b": 1}}',
        '{"payload": {"text": "\\ud800"}}',
        '{"payload": {"\\udfff": 1}}',
        '{"payload": ' + nested(DEEP) + "}",
        nested(DEEP),
    ],
    ids=["nul", "nul-key", "surrogate", "surrogate-key", "deep", "deep-body"],
)
def test_send_test_refuses_json_the_database_or_parser_cannot_take(acme, client, payload):
    path = TENANT_API + f"endpoints/{acme['endpoints'].pk}/send-test/"
    response = client.post(path, payload, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Event.objects.exclude(pk=acme["events"].pk).exists()


@pytest.mark.parametrize(
    "path",
    [
        f"deliveries/?endpoint={TOO_BIG}",
        f"deliveries/?endpoint=-{TOO_BIG}",
        f"endpoints/{TOO_BIG}/",
        f"deliveries/{TOO_BIG}/",
        f"endpoints/{TOO_BIG}/send-test/",
    ],
)
def test_ids_out_of_range_are_a_4xx(acme, client, path):
    response = client.get(TENANT_API + path)
    assert 400 <= response.status_code < 500, response.content


def test_a_resolver_answering_false_acts_for_no_tenant(acme, django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("someone"))
    with webhooks(TENANT_RESOLVER="tests.tenants.no_tenant_false"):
        assert client.get(TENANT_API + "endpoints/").status_code == 403


@pytest.mark.parametrize(
    "body",
    ['{"description": "a\\ud800b"}', '{"description": "x", "extra": ' + nested(DEEP) + "}"],
    ids=["surrogate", "deep"],
)
def test_any_json_body_the_database_or_parser_cannot_take_is_a_400(acme, client, body):
    path = TENANT_API + f"endpoints/{acme['endpoints'].pk}/"
    response = client.patch(path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    acme["endpoints"].refresh_from_db()
    assert acme["endpoints"].description == "acme orders"


def test_a_400_says_what_is_wrong(acme, client):
    path = TENANT_API + f"endpoints/{acme['endpoints'].pk}/send-test/"
    response = client.post(path, '{"payload": "\\u0000"}', content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.json()["payload"][0]
