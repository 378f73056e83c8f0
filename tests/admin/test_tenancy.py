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
            "all_types": "on",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Endpoint.objects.get().tenant == "acme"


# --- names and choices: WEBHOOKS["TENANT_LABEL"] and ["TENANT_CHOICES"] ----------------

LABEL = {"TENANT_LABEL": "tests.tenants.tenant_name"}
CHOICES = {"TENANT_CHOICES": "tests.tenants.tenant_choices"}


def add_endpoint(client, tenant: str):
    return client.post(
        reverse("admin:webhooks_app_endpoint_add"),
        {"url": "https://new.example.com/hook", "tenant": tenant, "all_types": "on"},
        follow=True,
    )


@pytest.mark.parametrize("model", [Endpoint, Event, Delivery])
def test_the_column_and_the_filter_show_the_tenants_names(admin_client, rows, model, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, **LABEL}
    response = admin_client.get(changelist(model))
    cl = response.context["cl"]
    (spec,) = [spec for spec in cl.filter_specs if getattr(spec, "parameter_name", "") == "tenant"]
    assert [str(choice["display"]) for choice in spec.choices(cl)] == [
        "All",
        "The operator's own",
        "Acme Inc.",
        "Globex Corporation",
    ]
    cells = response.content.decode().split('class="field-tenant_display"')[1:]
    assert {cell.split("</td>")[0].lstrip(">") for cell in cells} >= {
        "Acme Inc.",
        "Globex Corporation",
    }


def test_without_a_label_function_the_column_shows_the_key(admin_client, rows):
    page = admin_client.get(changelist(Endpoint)).content.decode()
    assert '<td class="field-tenant_display">acme</td>' in page


def test_with_choices_the_form_offers_the_tenants_by_name(admin_client, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, **LABEL, **CHOICES}
    form = admin_client.get(reverse("admin:webhooks_app_endpoint_add")).context["adminform"].form
    assert list(form.fields["tenant"].choices) == [
        ("", "The operator's own"),
        ("acme", "Acme Inc."),
        ("globex", "Globex Corporation"),
    ]
    response = add_endpoint(admin_client, "acmee")  # a typo cannot orphan an endpoint
    assert "tenant" in response.context["adminform"].form.errors
    assert not Endpoint.objects.exists()
    messages = [str(m) for m in add_endpoint(admin_client, "globex").context["messages"]]
    assert Endpoint.objects.get().tenant == "globex"
    assert not any("No other endpoint" in m for m in messages)  # listed: known


def test_with_choices_an_endpoints_unlisted_tenant_stays_selectable(admin_client, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, **CHOICES}
    endpoint = Endpoint.objects.create(url="https://old.example.com/", tenant="initech")
    url = reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk])
    form = admin_client.get(url).context["adminform"].form
    assert ("initech", "initech") in list(form.fields["tenant"].choices)


def test_without_choices_a_new_tenant_key_is_warned_about(admin_client, rows):
    messages = [str(m) for m in add_endpoint(admin_client, "acmee").context["messages"]]
    assert Endpoint.objects.filter(tenant="acmee").exists()  # saved: keys are the project's
    assert any("No other endpoint or event belongs to tenant “acmee”" in m for m in messages)

    messages = [str(m) for m in add_endpoint(admin_client, "acme").context["messages"]]
    assert not any("No other endpoint" in m for m in messages)
    messages = [str(m) for m in add_endpoint(admin_client, "").context["messages"]]
    assert not any("No other endpoint" in m for m in messages)


def test_without_choices_the_form_suggests_the_known_keys(admin_client, rows):
    page = admin_client.get(reverse("admin:webhooks_app_endpoint_add")).content.decode()
    assert 'list="webhooks-tenants"' in page
    assert '<option value="acme">' in page and '<option value="globex">' in page


def test_with_choices_the_filter_lists_them(admin_client, rows, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, **CHOICES}
    Endpoint.objects.create(url="https://initech.example.com/", tenant="initech")  # unlisted
    response = admin_client.get(changelist(Endpoint))
    cl = response.context["cl"]
    (spec,) = [spec for spec in cl.filter_specs if getattr(spec, "parameter_name", "") == "tenant"]
    assert [str(choice["display"]) for choice in spec.choices(cl)] == [
        "All",
        "The operator's own",
        "Acme Inc.",
        "Globex Corporation",
    ]


def test_a_viewer_sees_the_tenants_name(client, rows, settings):
    from django.contrib.auth.models import Permission, User

    settings.WEBHOOKS = {**settings.WEBHOOKS, **LABEL}
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_endpoint"))
    client.force_login(viewer)
    endpoint = Endpoint.objects.get(tenant="acme")
    url = reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk])
    assert "Acme Inc." in client.get(url).content.decode()
