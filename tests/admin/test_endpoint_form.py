"""The endpoint form: event types ticked from the catalog, extra headers as name/value rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from tests.admin.test_admin import change, header_rows
from webhooks_app import event_types, redaction
from webhooks_app.models import Endpoint
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db

ADD = "admin:webhooks_app_endpoint_add"
URL = "https://hooks.example.com/in"


@pytest.fixture(autouse=True)
def catalog():
    with isolated_event_types():
        event_types.register("order.paid", description="An order was paid.")
        event_types.register("order.updated", deprecated=True)
        event_types.register("user.created")
        yield


def add(client, **data):
    return client.post(reverse(ADD), {"url": URL, **data})


def form_errors(response) -> dict:
    assert response.status_code == 200, response.get("Location")
    return response.context["adminform"].form.errors


def editor() -> Client:
    """Staff who may change endpoints but not see their credentials."""
    user = User.objects.create_user("editor", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_endpoint", "change_endpoint"])
    )
    client = Client()
    client.force_login(user)
    return client


# --- event types -----------------------------------------------------------------------


def test_the_catalogs_types_are_checkboxes_and_every_type_is_ticked_first(admin_client):
    response = admin_client.get(reverse(ADD))
    form = response.context["adminform"].form
    assert [value for value, _label in form.fields["event_types"].choices] == [
        "order.paid",
        "user.created",
    ]  # a deprecated type is not offered to new endpoints
    assert form["all_types"].value() is True
    page = response.content.decode()
    assert 'type="checkbox" name="event_types" value="order.paid"' in page


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        ({"all_types": "on"}, []),
        ({"event_types": ["order.paid", "user.created"]}, ["order.paid", "user.created"]),
        (
            {"event_types": "order.paid", "patterns": "invoice.*, refund.sent"},
            ["order.paid", "invoice.*", "refund.sent"],
        ),
        ({"patterns": "invoice.*\nrefund.sent"}, ["invoice.*", "refund.sent"]),
    ],
)
def test_the_ticked_types_and_the_patterns_are_saved(admin_client, data, stored):
    assert add(admin_client, **data).status_code == 302
    assert Endpoint.objects.get().event_types == stored


@pytest.mark.parametrize(
    "data",
    [
        {"all_types": "on", "event_types": "order.paid"},
        {"all_types": "on", "patterns": "invoice.*"},
    ],
)
def test_every_type_and_some_types_together_are_refused(admin_client, data):
    errors = form_errors(add(admin_client, **data))
    assert "every event type or some" in str(errors["__all__"])
    assert not Endpoint.objects.exists()


def test_no_type_at_all_is_refused(admin_client):
    errors = form_errors(add(admin_client))
    assert "Tick the event types" in str(errors["__all__"])


def test_a_bad_pattern_is_refused_by_the_models_validation(admin_client):
    assert "event_types" in form_errors(add(admin_client, patterns="order.*.paid"))


def test_the_change_page_ticks_the_stored_types(admin_client):
    endpoint = Endpoint.objects.create(url=URL, event_types=["order.updated", "invoice.*"])
    form = admin_client.get(change(endpoint)).context["adminform"].form
    assert [value for value, _label in form.fields["event_types"].choices] == [
        "order.paid",
        "order.updated",  # deprecated, still offered while this endpoint receives it
        "user.created",
    ]
    assert form["event_types"].value() == ["order.updated"]
    assert form["patterns"].value() == "invoice.*"
    assert form["all_types"].value() is False

    every = Endpoint.objects.create(url=URL + "/all")
    assert admin_client.get(change(every)).context["adminform"].form["all_types"].value()


def test_changing_only_the_patterns_or_every_type_is_saved(admin_client):
    endpoint = Endpoint.objects.create(url=URL, event_types=["order.paid", "invoice.*"])
    data = {"url": URL, "event_types": "order.paid", "patterns": "refund.*"}
    assert admin_client.post(change(endpoint), data).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["order.paid", "refund.*"]

    assert admin_client.post(change(endpoint), {"url": URL, "all_types": "on"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.event_types == []


# --- extra headers as rows -------------------------------------------------------------


def test_headers_are_rows_of_name_and_value(admin_client):
    endpoint = Endpoint.objects.create(url=URL, headers={"X-Tenant": "acme"})
    page = admin_client.get(change(endpoint)).content.decode()
    assert 'name="headers_0_name" value="X-Tenant"' in page
    assert 'name="headers_0_value" value="acme"' in page
    assert 'name="headers_1_name"' in page and 'name="headers_2_name"' in page  # blank rows
    assert "{&quot;" not in page  # no JSON to edit


def test_rows_round_trip_to_the_headers_object(admin_client):
    rows = header_rows({"X-Tenant": "acme", "X-Api-Key": "k-123"}, blank=2)
    assert add(admin_client, all_types="on", **rows).status_code == 302
    assert Endpoint.objects.get().headers == {"X-Tenant": "acme", "X-Api-Key": "k-123"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Host": "evil.example"}, "cannot be replaced"),
        ({"webhook-signature": "v1,forged"}, "cannot be replaced"),
        ({"bad name": "x"}, "not a valid header name"),
        ({"": "a value"}, "has a value but no header name"),
    ],
)
def test_bad_header_rows_are_refused(admin_client, headers, message):
    response = add(admin_client, all_types="on", **header_rows(headers))
    assert message in str(form_errors(response)["headers"])
    assert not Endpoint.objects.exists()
    page = response.content.decode()  # the rows come back as typed, blank ones not added up
    _name, value = next(iter(headers.items()))
    assert f'name="headers_0_value" value="{value}"' in page
    assert 'name="headers_2_name"' in page and 'name="headers_3_name"' not in page


def test_a_header_named_twice_is_refused(admin_client):
    rows = header_rows({"X-Tenant": "acme"}) | {
        "headers_1_name": "x-tenant",
        "headers_1_value": "globex",
    }
    assert "twice" in str(form_errors(add(admin_client, all_types="on", **rows))["headers"])


def test_masked_values_are_kept_and_can_be_replaced():
    secret = "Bearer sk_live_header_token"
    endpoint = Endpoint.objects.create(
        url=URL, headers={"Authorization": secret, "X-Tenant": "acme"}
    )
    client = editor()
    page = client.get(change(endpoint)).content.decode()
    assert secret not in page
    assert f'name="headers_0_value" value="{redaction.MASK}"' in page

    rows = header_rows({"Authorization": redaction.MASK, "X-Tenant": "globex"})
    data = {"url": endpoint.url, "all_types": "on", **rows}
    assert client.post(change(endpoint), data).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.headers == {"Authorization": secret, "X-Tenant": "globex"}


def test_a_viewer_reads_the_event_types():
    endpoint = Endpoint.objects.create(url=URL, event_types=["order.paid", "invoice.*"])
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_endpoint"))
    client = Client()
    client.force_login(user)
    response = client.get(change(endpoint))
    assert "order.paid, invoice.*" in response.content.decode()
    assert 'type="checkbox" name="event_types"' not in response.content.decode()


def test_more_rows_than_the_form_reads_are_refused_not_dropped(admin_client):
    from webhooks_app.admin.header_rows import MAX_ROWS

    full = header_rows({f"X-H{n}": "v" for n in range(MAX_ROWS)}, blank=2)
    assert add(admin_client, all_types="on", **full).status_code == 302  # blank rows: no count
    rows = header_rows({f"X-H{n}": "v" for n in range(MAX_ROWS + 1)}, blank=0)
    errors = form_errors(add(admin_client, all_types="on", **rows))
    assert "at most" in str(errors["headers"])
