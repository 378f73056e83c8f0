"""The admin's tenant column, filter and search on endpoints, events and deliveries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import fanout

pytestmark = pytest.mark.django_db


def changelist(model) -> str:
    return reverse(f"admin:webhooks_app_{model._meta.model_name}_changelist")


@pytest.fixture
def rows():
    Endpoint.objects.create(url="https://operator.example.com/")
    Endpoint.objects.create(url="https://acme.example.com/", tenant="acme")
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    for tenant in ("", "acme", "globex"):
        send_event("order.paid", {}, tenant=tenant)
    fanout.expand_pending()


def listed(client, model, query: str) -> list:
    response = client.get(changelist(model) + query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("model", "tenant_of"),
    [
        (Endpoint, lambda obj: obj.tenant),
        (Event, lambda obj: obj.tenant),
        (Delivery, lambda obj: obj.endpoint.tenant),
    ],
)
def test_filter_and_search_by_tenant(admin_client, rows, model, tenant_of):
    assert {tenant_of(o) for o in listed(admin_client, model, "")} == {"", "acme", "globex"}
    assert {tenant_of(o) for o in listed(admin_client, model, "?tenant=acme")} == {"acme"}
    assert {tenant_of(o) for o in listed(admin_client, model, "?tenant=__operator__")} == {""}
    assert {tenant_of(o) for o in listed(admin_client, model, "?q=globex")} == {"globex"}


@pytest.mark.parametrize("model", [Endpoint, Event, Delivery])
def test_the_tenant_column_and_its_choices(admin_client, rows, model):
    page = admin_client.get(changelist(model)).content.decode()
    assert "column-tenant_display" in page
    assert "?tenant=acme" in page and "?tenant=globex" in page  # the filter's choices
    assert "operator" in page


def test_the_tenant_is_set_on_the_add_page(admin_client):
    response = admin_client.post(
        reverse("admin:webhooks_app_endpoint_add"),
        {
            "url": "https://acme.example.com/hook",
            "tenant": "acme",
            "event_types": "[]",
            "headers": "{}",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Endpoint.objects.get().tenant == "acme"
