"""The customer portal through Django's test client: links, sessions, scoping, CSRF, forms.

The click-through in a real browser is tests/portal/test_browser.py.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client, override_settings
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone

from webhooks_app import event_types, redaction
from webhooks_app.models import Attempt, Delivery, Endpoint, Event
from webhooks_app.portal import access, links, portal_link
from webhooks_app.portal import urls as portal_urls
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db

RESOLVER = {"TENANT_RESOLVER": "tests.tenants.tenant_from_header"}
SECRET_URL = "https://hooks:s3cr3t@acme.example.com/in?token=abc123"


def webhooks(**values):
    from django.conf import settings

    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **values})


def enter(client: Client, tenant: str = "acme", **kwargs) -> Client:
    response = client.get(portal_link(tenant, **kwargs))
    assert response.status_code == 302
    return client


def url(name: str, **kwargs) -> str:
    return reverse(f"webhooks_portal:{name}", kwargs=kwargs)


@pytest.fixture
def acme() -> Client:
    return enter(Client())


@pytest.fixture
def catalog() -> Iterator[None]:
    with isolated_event_types():
        event_types.register(
            "order.paid",
            description="An order was paid in full.",
            schema={
                "type": "object",
                "properties": {"order_id": {"type": "integer"}},
                "required": ["order_id"],
            },
            example={"order_id": 42},
        )
        event_types.register("order.refunded", description="Money went back.")
        event_types.register(
            "order.updated", description="Use order.paid instead.", example={}, deprecated=True
        )
        yield


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint.objects.create(url=SECRET_URL, tenant="acme", description="Acme backend")


def delivery_for(
    endpoint: Endpoint, status=Delivery.Status.FAILED, created_at=None, **attempt
) -> Delivery:
    event = Event.objects.create(event_type="order.paid", tenant=endpoint.tenant, payload={"n": 1})
    delivery = Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        status=status,
        attempt_count=1,
        created_at=created_at or timezone.now(),
    )
    Attempt.objects.create(delivery=delivery, number=1, **attempt)
    return delivery


def page(client: Client, path: str, data=None, **kwargs) -> str:
    response = client.get(path, data, **kwargs)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- links ----------------------------------------------------------------------------


def test_a_link_opens_a_session_for_its_tenant(endpoint):
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    link = portal_link("acme")
    assert link.startswith("/portal/enter/")
    client = Client()
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == url("endpoints")
    html = page(client, url("endpoints"))
    assert "acme.example.com" in html
    assert "globex.example.com" not in html
    assert client.session[access.SESSION_TENANT] == "acme"


def test_opening_a_link_changes_the_session_key():
    client = Client()
    client.get(url("endpoints"))  # no tenant: refused, but a session may exist
    session = client.session
    session["planted"] = True
    session.save()
    before = session.session_key
    enter(client)
    assert client.session.session_key != before


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        links.make_token("acme")[:-2] + "xx",  # signature altered
        # Well signed, but not by the portal's salt: a token the project made for another use.
        signing.dumps({"t": "acme", "e": time.time() + 3600}),
        # The portal's salt, but not the portal's shape.
        signing.dumps(["acme"], salt=links.SALT),
        signing.dumps({"t": "", "e": time.time() + 3600}, salt=links.SALT),
    ],
)
def test_a_tampered_or_foreign_link_is_refused(token, endpoint):
    client = Client()
    response = client.get(url("enter", token=token))
    assert response.status_code == 403
    assert "invalid or has expired" in response.content.decode()
    assert access.SESSION_TENANT not in client.session
    assert client.get(url("endpoints")).status_code == 403


def test_a_link_for_another_tenant_cannot_be_made_from_one_for_acme():
    token = links.make_token("acme")
    signature = token.rpartition(":")[2]
    forged = signing.dumps({"t": "globex", "e": time.time() + 3600}, salt=links.SALT)
    # The tenant lives inside the signed part: swapping signatures does not carry over.
    swapped = forged.rpartition(":")[0] + ":" + signature
    assert Client().get(url("enter", token=swapped)).status_code == 403


def test_an_expired_link_is_refused(monkeypatch):
    link = portal_link("acme", expires_in=60)
    later = time.time() + 61
    monkeypatch.setattr(links.time, "time", lambda: later)
    response = Client().get(link)
    assert response.status_code == 403
    assert "invalid or has expired" in response.content.decode()


def test_the_portal_session_ends_when_the_link_would_have_expired(monkeypatch, endpoint):
    client = enter(Client(), expires_in=60)
    assert client.get(url("endpoints")).status_code == 200
    later = time.time() + 61
    monkeypatch.setattr(access.time, "time", lambda: later)
    response = client.get(url("endpoint", endpoint_id=endpoint.pk))
    assert response.status_code == 403
    assert "has expired" in response.content.decode()
    assert access.SESSION_TENANT not in client.session


def test_read_token_checks_the_expiry_it_carries():
    token = links.make_token("acme", expires_in=10)
    assert links.read_token(token).tenant == "acme"
    with pytest.raises(links.InvalidLink):
        links.read_token(token, now=time.time() + 11)


@pytest.mark.parametrize("tenant", ["", None])
def test_the_operator_has_no_portal_link(tenant):
    with pytest.raises(ValueError, match="operator"):
        portal_link(tenant)


@pytest.mark.parametrize("expires_in", [0, -5, True, "3600"])
def test_a_link_lasts_a_positive_number_of_seconds(expires_in):
    with pytest.raises(ValueError, match="expires_in"):
        portal_link("acme", expires_in=expires_in)


def test_a_link_takes_what_send_event_takes():
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="Acme")
    assert links.read_token(links.make_token(group)).tenant == str(group.pk)
    assert links.read_token(links.make_token(42)).tenant == "42"
    with pytest.raises(TypeError):
        portal_link(object())


def test_leaving_ends_the_link_session(acme, endpoint):
    response = acme.post(url("leave"))
    assert response.status_code == 200
    assert "left the webhook portal" in response.content.decode()
    assert acme.get(url("endpoints")).status_code == 403


# --- the resolver -----------------------------------------------------------------------


def test_without_a_link_or_a_resolver_the_portal_refuses_with_a_reason():
    response = Client().get(url("endpoints"))
    assert response.status_code == 403
    assert "no access to webhook settings" in response.content.decode()


@webhooks(**RESOLVER)
def test_the_projects_resolver_picks_the_tenant(endpoint):
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    html = page(Client(), url("endpoints"), headers={"X-Tenant": "globex"})
    assert "globex.example.com" in html
    assert "acme.example.com" not in html
    # Requests for no tenant, or for the operator's own endpoints, are refused.
    assert Client().get(url("endpoints")).status_code == 403
    assert Client().get(url("endpoints"), headers={"X-Tenant": ""}).status_code == 403


@webhooks(**RESOLVER)
def test_a_login_for_another_tenant_made_after_a_link_wins(acme, endpoint):
    """The link was opened by a visitor signed in for no tenant; signing in for another one
    later is not overridden by the link's session, which ends."""
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    html = page(acme, url("endpoints"), headers={"X-Tenant": "globex"})
    assert "globex.example.com" in html
    assert "acme.example.com" not in html
    assert access.SESSION_TENANT not in acme.session
    # Signed out again: the link's session is over, so no tenant at all.
    assert acme.get(url("endpoints")).status_code == 403


@webhooks(**RESOLVER)
def test_a_link_opens_the_portal_for_a_visitor_signed_in_for_no_tenant(endpoint):
    client = Client()
    response = client.get(portal_link("acme"), headers={"X-Tenant": ""})
    assert response.status_code == 302
    assert "acme.example.com" in page(client, url("endpoints"), headers={"X-Tenant": ""})


@webhooks(**RESOLVER)
def test_a_link_for_the_signed_in_tenant_opens_without_asking(endpoint):
    client = Client()
    response = client.get(portal_link("acme"), headers={"X-Tenant": "acme"})
    assert response.status_code == 302
    assert response["Location"] == url("endpoints")


def other_tenants_link(client: Client, **headers) -> str:
    """GET a link for globex: the page that asks to confirm, never a switch."""
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    link = portal_link("globex")
    response = client.get(link, headers=headers)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    for text in ("acme", "globex", "Switch to globex", "Stay with acme"):
        assert text in html, text
    return link


@webhooks(**RESOLVER)
def test_a_get_of_a_link_never_switches_a_customer_signed_in_for_another_tenant(endpoint):
    client = Client()
    other_tenants_link(client, **{"X-Tenant": "acme"})
    assert access.SESSION_TENANT not in client.session
    html = page(client, url("endpoints"), headers={"X-Tenant": "acme"})
    assert "acme.example.com" in html and "globex.example.com" not in html
    # An endpoint added now lands in the customer's own tenant.
    client.post(
        url("endpoint_add"),
        {"url": "https://new.example.com/", "all_types": "on"},
        headers={"X-Tenant": "acme"},
    )
    assert Endpoint.objects.get(url="https://new.example.com/").tenant == "acme"


def test_a_get_of_a_link_never_replaces_another_links_session(acme, endpoint):
    other_tenants_link(acme)
    assert acme.session[access.SESSION_TENANT] == "acme"
    assert "acme.example.com" in page(acme, url("endpoints"))


@webhooks(**RESOLVER)
def test_the_switch_is_confirmed_with_a_post_and_its_csrf_token(endpoint):
    client = Client(enforce_csrf_checks=True)
    link = other_tenants_link(client, **{"X-Tenant": "acme"})
    assert client.post(link, headers={"X-Tenant": "acme"}).status_code == 403  # no token
    assert access.SESSION_TENANT not in client.session
    html = client.get(link, headers={"X-Tenant": "acme"}).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(link, {"csrfmiddlewaretoken": token}, headers={"X-Tenant": "acme"})
    assert response.status_code == 302
    # Confirmed while signed in for acme: the link's session acts for globex ...
    html = page(client, url("endpoints"), headers={"X-Tenant": "acme"})
    assert "globex.example.com" in html and "acme.example.com" not in html
    # ... until the customer leaves it, or signs in for yet another tenant.
    html = page(client, url("endpoints"), headers={"X-Tenant": "initech"})
    assert "globex.example.com" not in html
    assert access.SESSION_TENANT not in client.session


@webhooks(**RESOLVER)
def test_every_portal_page_names_its_tenant(endpoint, catalog):
    delivery = delivery_for(endpoint, status_code=500)
    client = Client()
    for path in (
        url("endpoints"),
        url("endpoint_add"),
        url("endpoint", endpoint_id=endpoint.pk),
        url("endpoint_edit", endpoint_id=endpoint.pk),
        url("endpoint_delete", endpoint_id=endpoint.pk),
        url("delivery", delivery_id=delivery.pk),
        url("event_types"),
    ):
        html = page(client, path, headers={"X-Tenant": "acme"})
        assert re.search(r'class="wp-tenant"[^>]*>.*?acme', html, re.S), path


def test_the_tenant_is_named_by_its_label(acme, endpoint, monkeypatch):
    from webhooks_app import tenancy

    monkeypatch.setattr(tenancy, "label", lambda key: f"Acme Corp ({key})")
    html = page(acme, url("endpoints"))
    assert "Acme Corp (acme)" in html


@webhooks(**RESOLVER)
def test_after_a_link_expires_the_resolver_decides_again(monkeypatch):
    client = enter(Client(), expires_in=60)
    later = time.time() + 61
    monkeypatch.setattr(access.time, "time", lambda: later)
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    assert "globex.example.com" in page(client, url("endpoints"), headers={"X-Tenant": "globex"})


# --- every route --------------------------------------------------------------------------

OBJECT_ROUTES = {"endpoint_id", "delivery_id"}  # the parameters that name a tenant's object
# contact_confirm is authorized by its signed link, not by a tenant (test_contact_confirmation).
NOT_OBJECT_ROUTES = {
    "enter",
    "leave",
    "endpoints",
    "endpoint_add",
    "event_types",
    "contact_confirm",
}
POST_ROUTES = {
    "enter",
    "leave",
    "contact_confirm",
    "endpoint_confirm_contact",
    "endpoint_add",
    "endpoint_edit",
    "endpoint_delete",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_rotate",
    "endpoint_reveal",
    "endpoint_test",
    "endpoint_retry",
    "endpoint_example",
    "delivery_retry",
}


def portal_patterns() -> list[URLPattern]:
    return list(portal_urls.urlpatterns)


def route_parameters(pattern: URLPattern) -> set[str]:
    return set(pattern.pattern.converters)


def test_the_portal_is_mounted_where_the_test_project_says():
    resolver = get_resolver()
    assert "webhooks_portal" in resolver.namespace_dict
    assert reverse("webhooks_portal:endpoints") == "/portal/"


def test_every_route_is_known_to_these_tests():
    names = {pattern.name for pattern in portal_patterns()}
    for pattern in portal_patterns():
        parameters = route_parameters(pattern)
        if pattern.name in NOT_OBJECT_ROUTES:
            continue
        assert parameters and parameters <= OBJECT_ROUTES, pattern.name
    assert POST_ROUTES <= names


def test_another_tenants_objects_are_not_found_on_every_route_and_method(acme, endpoint, catalog):
    theirs = Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")
    their_delivery = delivery_for(theirs, status_code=500)
    operator = Endpoint.objects.create(url="https://operator.example.com/")
    operator_delivery = delivery_for(operator, status_code=500)
    checked = 0
    for objects in (
        {"endpoint_id": theirs.pk, "delivery_id": their_delivery.pk},
        {"endpoint_id": operator.pk, "delivery_id": operator_delivery.pk},
        {"endpoint_id": 987654, "delivery_id": 987654},
    ):
        for pattern in portal_patterns():
            parameters = route_parameters(pattern)
            if not parameters & OBJECT_ROUTES:
                continue
            path = url(pattern.name, **{name: objects[name] for name in parameters})
            for method in ("get", "post"):
                data = {"since": "2020-01-01", "event_type": "order.paid"}
                response = getattr(acme, method)(path, data)
                if response.status_code == 405:  # this route does not take this method
                    continue
                assert response.status_code == 404, (method, pattern.name)
                checked += 1
    assert checked >= 3 * 13
    theirs.refresh_from_db()
    assert theirs.is_active and Endpoint.objects.filter(pk=theirs.pk).exists()
    assert Event.objects.filter(tenant="globex").count() == 1  # no test event sent to them
    assert Delivery.objects.get(pk=their_delivery.pk).status == Delivery.Status.FAILED


@pytest.mark.parametrize("middleware", [True, False])
def test_every_post_needs_a_csrf_token(endpoint, settings, catalog, middleware):
    """With the project's CSRF middleware, and without it: the portal's own POST views
    check the token themselves (the others only answer 405)."""
    if not middleware:
        settings.MIDDLEWARE = [
            name
            for name in settings.MIDDLEWARE
            if name != "django.middleware.csrf.CsrfViewMiddleware"
        ]
    client = enter(Client(enforce_csrf_checks=True))
    failed = delivery_for(endpoint, status_code=500)
    refused = set()
    for pattern in portal_patterns():
        parameters = route_parameters(pattern)
        kwargs = {"endpoint_id": endpoint.pk, "delivery_id": failed.pk, "token": "x"}
        path = url(pattern.name, **{name: kwargs[name] for name in parameters})
        data = {"since": "2020-01-01", "url": "https://x.example.com/", "event_type": "order.paid"}
        response = client.post(path, data)
        assert response.status_code in (403, 405), pattern.name
        if response.status_code == 403:
            assert b"CSRF verification failed" in response.content, pattern.name
            refused.add(pattern.name)
    if middleware:
        assert refused == {pattern.name for pattern in portal_patterns()}
    else:
        assert refused == POST_ROUTES
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.url == SECRET_URL
    assert Endpoint.objects.count() == 1
    assert Event.objects.count() == 1  # no test event
    assert Delivery.objects.get().status == Delivery.Status.FAILED


def test_a_post_with_the_token_passes(endpoint):
    client = enter(Client(enforce_csrf_checks=True))
    html = page(client, url("endpoint", endpoint_id=endpoint.pk))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(
        url("endpoint_disable", endpoint_id=endpoint.pk), {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.is_active


def state() -> list:
    return [
        list(Endpoint.objects.order_by("pk").values()),
        list(Delivery.objects.order_by("pk").values()),
        list(Attempt.objects.order_by("pk").values()),
        list(Event.objects.order_by("pk").values()),
    ]


def test_get_changes_nothing_on_any_route(acme, endpoint, catalog):
    failed = delivery_for(endpoint, status_code=500)
    before = state()
    for pattern in portal_patterns():
        if pattern.name in ("enter", "leave", "contact_confirm"):  # its own tests
            continue
        kwargs = {"endpoint_id": endpoint.pk, "delivery_id": failed.pk}
        path = url(pattern.name, **{name: kwargs[name] for name in route_parameters(pattern)})
        data = {"since": "2020-01-01", "status": "failed", "event_type": "order.paid"}
        response = acme.get(path, data)
        assert response.status_code in (200, 405), pattern.name
    assert state() == before


def test_pages_may_be_framed_by_the_same_origin_only_and_are_not_cached(acme, endpoint):
    for path in (url("endpoints"), url("endpoint", endpoint_id=endpoint.pk)):
        response = acme.get(path)
        assert response["X-Frame-Options"] == "SAMEORIGIN"
        assert "no-store" in response["Cache-Control"]
    refused = Client().get(url("endpoints"))
    assert refused["X-Frame-Options"] == "SAMEORIGIN"


# --- endpoints --------------------------------------------------------------------------------


def test_adding_an_endpoint_shows_its_secret_once(acme):
    response = acme.post(
        url("endpoint_add"),
        {"url": "https://acme.example.com/hooks", "description": "Orders", "all_types": "on"},
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert (endpoint.tenant, endpoint.event_types, endpoint.description) == ("acme", [], "Orders")
    assert response["Location"] == url("endpoint", endpoint_id=endpoint.pk)
    first = page(acme, response["Location"])
    assert endpoint.secret in first
    assert "The endpoint was added." in first
    assert endpoint.secret not in page(acme, response["Location"])  # once


def test_the_form_picks_types_or_all_and_validates_through_the_model(acme):
    response = acme.post(
        url("endpoint_add"),
        {"url": "https://acme.example.com/", "patterns": "order.*, user.created order.*"},
    )
    assert response.status_code == 302
    assert Endpoint.objects.get().event_types == ["order.*", "user.created"]

    for data, problem in [
        ({"url": "https://acme.example.com/"}, "Pick the event types"),
        ({"url": "https://acme.example.com/", "patterns": "ord*er"}, "wildcard"),
        ({"url": "http://169.254.169.254/latest/", "all_types": "on"}, "metadata address"),
        ({"url": "ftp://acme.example.com/", "all_types": "on"}, "valid URL"),
        ({"url": "https://acme.example.com/", "all_types": "on", "rate_limit": "0"}, "greater"),
    ]:
        response = acme.post(url("endpoint_add"), data)
        assert response.status_code == 200, data
        assert problem in response.content.decode(), data
    assert Endpoint.objects.count() == 1


def test_the_tenant_comes_from_the_request_never_the_form(acme):
    acme.post(
        url("endpoint_add"),
        {"url": "https://acme.example.com/", "all_types": "on", "tenant": "globex"},
    )
    assert Endpoint.objects.get().tenant == "acme"


def test_editing_keeps_masked_credentials_and_the_health_columns(acme, endpoint):
    html = page(acme, url("endpoint_edit", endpoint_id=endpoint.pk))
    assert "s3cr3t" not in html and "abc123" not in html
    masked = re.search(r'name="url" value="([^"]+)"', html).group(1).replace("&amp;", "&")
    Endpoint.objects.filter(pk=endpoint.pk).update(failure_streak=7)  # a worker meanwhile
    response = acme.post(
        url("endpoint_edit", endpoint_id=endpoint.pk),
        {"url": masked, "description": "Renamed", "patterns": "order.paid"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == SECRET_URL
    assert (endpoint.description, endpoint.event_types) == ("Renamed", ["order.paid"])
    assert endpoint.failure_streak == 7


def test_the_contact_address_is_edited_and_shown(acme, endpoint):
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert "add a contact e-mail to be told when it fails" in html
    masked = redaction.mask_url(endpoint.url)
    response = acme.post(
        url("endpoint_edit", endpoint_id=endpoint.pk),
        {"url": masked, "contact_email": "ops@acme.example", "patterns": "order.paid"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "ops@acme.example" and endpoint.url == SECRET_URL
    assert "ops@acme.example" in page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert 'value="ops@acme.example"' in page(acme, url("endpoint_edit", endpoint_id=endpoint.pk))


def test_the_edit_form_shows_the_stored_types(acme, endpoint):
    endpoint.event_types = ["order.*", "user.created"]
    endpoint.save()
    html = page(acme, url("endpoint_edit", endpoint_id=endpoint.pk))
    assert 'value="order.*, user.created"' in html
    assert 'name="all_types"' in html and 'name="all_types" checked' not in html


@webhooks(MAX_ENDPOINTS_PER_TENANT=1)
def test_the_endpoint_limit_is_enforced_on_add(acme, endpoint):
    Endpoint.objects.create(url="https://globex.example.com/", tenant="globex")  # not counted
    response = acme.get(url("endpoint_add"), follow=True)
    assert "reached the limit of 1 endpoint" in response.content.decode()
    response = acme.post(
        url("endpoint_add"), {"url": "https://two.example.com/", "all_types": "on"}, follow=True
    )
    assert "reached the limit of 1 endpoint" in response.content.decode()
    assert Endpoint.objects.filter(tenant="acme").count() == 1
    html = page(acme, url("endpoints"))
    assert url("endpoint_add") not in html
    assert "1 of 1 endpoint" in html


@webhooks(MAX_ENDPOINTS_PER_TENANT=2)
def test_below_the_limit_an_endpoint_can_be_added(acme, endpoint):
    response = acme.post(url("endpoint_add"), {"url": "https://two.example.com/", "all_types": "1"})
    assert response.status_code == 302
    assert Endpoint.objects.filter(tenant="acme").count() == 2


def test_disable_enable_and_delete(acme, endpoint):
    acme.post(url("endpoint_disable", endpoint_id=endpoint.pk))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason == "Disabled in the portal"
    assert "Disabled" in page(acme, url("endpoints"))
    acme.post(url("endpoint_enable", endpoint_id=endpoint.pk))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    confirm = page(acme, url("endpoint_delete", endpoint_id=endpoint.pk))
    assert "cannot be undone" in confirm
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()  # GET asks, only
    response = acme.post(url("endpoint_delete", endpoint_id=endpoint.pk))
    assert response["Location"] == url("endpoints")
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_rotating_shows_the_new_secret_once_and_the_old_one_nowhere(acme, endpoint):
    old = endpoint.secret
    response = acme.post(url("endpoint_rotate", endpoint_id=endpoint.pk), follow=True)
    endpoint.refresh_from_db()
    html = response.content.decode()
    assert endpoint.secret != old
    assert endpoint.secret in html
    assert old not in html
    assert "The previous secret also signs deliveries until" in html
    again = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert endpoint.secret not in again and old not in again


@pytest.mark.parametrize("hour", [2, 14])
def test_a_date_that_ends_a_sentence_is_not_followed_by_a_second_period(acme, endpoint, hour):
    """ "until Dec. 8, 2026, 2:59 p.m.." : English formats end in a period of their own."""
    endpoint.rotate_secret()
    moment = timezone.localtime().replace(hour=hour, minute=59) + timedelta(days=1)
    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=moment)
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert re.search(r"[ap]\.m\.", html)  # the date is there, in the locale's format
    assert not re.search(r"\.\.(?!\.)", re.sub(r"<[^>]+>", " ", html))


def test_reveal_is_a_post_that_shows_the_secret_that_once(acme, endpoint):
    assert acme.get(url("endpoint_reveal", endpoint_id=endpoint.pk)).status_code == 405
    response = acme.post(url("endpoint_reveal", endpoint_id=endpoint.pk), follow=True)
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in page(acme, url("endpoint", endpoint_id=endpoint.pk))


def test_secrets_and_credentials_are_absent_from_pages_without_a_reveal(acme, endpoint):
    delivery = delivery_for(
        endpoint,
        status_code=500,
        error="POST https://acme.example.com/in?token=abc123 failed",
        response_body="no",
    )
    endpoint.rotate_secret()
    for path in (
        url("endpoints"),
        url("endpoint", endpoint_id=endpoint.pk),
        url("endpoint_edit", endpoint_id=endpoint.pk),
        url("endpoint_delete", endpoint_id=endpoint.pk),
        url("delivery", delivery_id=delivery.pk),
    ):
        html = page(acme, path)
        for secret in (endpoint.secret, endpoint.previous_secret, "s3cr3t", "abc123"):
            assert secret not in html, (path, secret)


def test_no_secret_is_logged(acme, caplog):
    with caplog.at_level(logging.DEBUG):
        acme.post(url("endpoint_add"), {"url": "https://acme.example.com/", "all_types": "on"})
        endpoint = Endpoint.objects.get()
        first = endpoint.secret
        acme.post(url("endpoint_rotate", endpoint_id=endpoint.pk))
        acme.post(url("endpoint_reveal", endpoint_id=endpoint.pk))
    endpoint.refresh_from_db()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert first not in logged and endpoint.secret not in logged


def test_sending_a_test_event(acme, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = acme.post(url("endpoint_test", endpoint_id=endpoint.pk), follow=True)
    assert "A test event was sent" in response.content.decode()
    delivery = Delivery.objects.get()
    assert (delivery.endpoint, delivery.event.event_type) == (endpoint, "webhooks.test")
    assert delivery.event.tenant == "acme"
    assert len(callbacks) == 1  # enqueued on commit


# --- deliveries -------------------------------------------------------------------------------


def test_the_endpoint_page_lists_deliveries_with_their_attempts(acme, endpoint):
    delivery = delivery_for(
        endpoint,
        status_code=503,
        duration_ms=41,
        response_body="<script>alert(1)</script>" + "x" * 5000,
    )
    Attempt.objects.create(
        delivery=delivery, number=2, error_type="timeout", error="read timed out", duration_ms=3000
    )
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert "order.paid" in html
    assert "503" in html and "41 ms" in html and "3000 ms" in html
    assert "read timed out" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "more characters" in html  # capped
    detail = page(acme, url("delivery", delivery_id=delivery.pk))
    assert "&lt;script&gt;" in detail and "503" in detail and "&quot;n&quot;: 1" in detail


def open_the_circuit(endpoint: Endpoint) -> tuple[Delivery, timezone.datetime]:
    """After six 503s: the circuit open for 30 s, a delivery whose time has passed."""
    now = timezone.now()
    reopens = now + timedelta(seconds=30)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=6,
        failing_since=now - timedelta(minutes=2),
        circuit_failures=6,
        circuit_opened_at=now,
        paused_until=reopens,
    )
    delivery = delivery_for(endpoint, status=Delivery.Status.PENDING, status_code=503)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now - timedelta(seconds=20))
    return Delivery.objects.get(pk=delivery.pk), reopens


def test_an_open_circuit_is_shown_with_why_and_when_the_next_try_is(acme, endpoint):
    delivery, reopens = open_the_circuit(endpoint)
    past = timezone.localtime(delivery.next_attempt_at).strftime("%H:%M:%S")
    probe = timezone.localtime(reopens).strftime("%H:%M:%S")
    for path in (url("endpoints"), url("endpoint", endpoint_id=endpoint.pk)):
        html = page(acme, path)
        assert "Active, circuit open" in html, path
        assert "6 timeouts or errors in a row" in html, path
        assert f"next probe at {probe}" in html, path
        assert 'wp-badge wp-active">Active<' not in html, path
    for path in (
        url("endpoint", endpoint_id=endpoint.pk),
        url("delivery", delivery_id=delivery.pk),
    ):
        html = page(acme, path)
        assert past not in html, path  # a time gone by is never the next try
        assert f"next try at {probe}" in html, path


def test_the_endpoint_page_says_its_recent_failure_rate(acme, endpoint, settings):
    """The circuit breaker's figure, on the endpoint's page (not in the list), beside the
    day's statistics and distinct from them. (A window of a day: no boundary passes.)"""
    from webhooks_app import breaker

    settings.WEBHOOKS = {**settings.WEBHOOKS, "CIRCUIT_BREAKER_WINDOW": 86_400}
    Endpoint.objects.filter(pk=endpoint.pk).update(
        window_started_at=breaker.window_start(timezone.now(), 86_400),
        window_requests=40,
        window_failures=12,
    )
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert "Failure rate 30 % over roughly the last 86400 s (12 of 40 requests)" in html
    assert "Success rate, 24 h" in html
    assert "over roughly the last" not in page(acme, url("endpoints"))


@pytest.mark.parametrize(
    ("health", "shown"),
    [
        ({"is_active": False, "disabled_reason": "410 Gone"}, ["Disabled", "410 Gone"]),
        ({"failure_streak": 3}, ["Active, failing", "3 failed attempts in a row", "since "]),
        ({"failure_streak": 1, "paused_until": 60}, ["Active, paused", "429 Too Many"]),
    ],
)
def test_each_state_is_named_with_its_reason(acme, endpoint, health, shown):
    now = timezone.now()
    if "paused_until" in health:
        health = {**health, "paused_until": now + timedelta(seconds=health["paused_until"])}
    if "failure_streak" in health:
        health = {**health, "failing_since": now}
    Endpoint.objects.filter(pk=endpoint.pk).update(**health)
    for path in (url("endpoints"), url("endpoint", endpoint_id=endpoint.pk)):
        html = page(acme, path)
        for text in shown:
            assert text in html, (path, text)


def test_a_due_delivery_reads_due_not_a_past_time(acme, endpoint):
    delivery = delivery_for(endpoint, status=Delivery.Status.PENDING, status_code=500)
    moment = timezone.now() - timedelta(seconds=20)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=moment)
    past = timezone.localtime(moment).strftime("%H:%M:%S")
    for path in (
        url("endpoint", endpoint_id=endpoint.pk),
        url("delivery", delivery_id=delivery.pk),
    ):
        html = page(acme, path)
        assert past not in html and "next try at" not in html, path
        assert "It is due" in html, path


def test_a_delivery_behind_an_earlier_one_of_its_key_reads_waiting(acme, endpoint):
    made = [delivery_for(endpoint, status=Delivery.Status.PENDING) for _ in range(2)]
    for sequence, delivery in enumerate(made):
        Delivery.objects.filter(pk=delivery.pk).update(
            ordering_key="order-42",
            sequence=sequence,
            next_attempt_at=timezone.now() - timedelta(seconds=5),
        )
    waits = "It waits for the earlier events of its ordering key"
    assert waits not in page(acme, url("delivery", delivery_id=made[0].pk))
    assert waits in page(acme, url("delivery", delivery_id=made[1].pk))
    assert page(acme, url("endpoint", endpoint_id=endpoint.pk)).count(waits) == 1


def test_the_delivery_page_shows_the_request_the_receiver_got_with_secrets_masked(acme, endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(
        headers={
            "Authorization": "Bearer sk_live_1234",
            "X-Api-Key": "ak_5678",
            "Cookie": "session=c00k1e",
            "X-Shop-Token": "t0k3n",
            "X-Tenant": "acme-eu",
        }
    )
    endpoint.refresh_from_db()
    endpoint.rotate_secret()  # two signatures during the grace period: both masked
    delivery = delivery_for(endpoint, status_code=200)
    html = page(acme, url("delivery", delivery_id=delivery.pk))
    event = delivery.event
    # The envelope: the whole body as sent, not only its data.
    assert "&quot;type&quot;: &quot;order.paid&quot;" in html
    assert f"&quot;timestamp&quot;: &quot;{event.created_at.isoformat()}&quot;" in html
    assert "&quot;data&quot;: {" in html and "&quot;n&quot;: 1" in html
    # The headers, in the receiver's names; credentials and signatures masked.
    for name in (
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "Content-Type",
        "User-Agent",
    ):
        assert f"<code>{name}</code>" in html, name
    assert f"<code>{event.pk}</code>" in html
    assert "<code>X-Tenant</code>" in html and "acme-eu" in html
    for name in ("Authorization", "X-Api-Key", "Cookie", "X-Shop-Token"):
        assert f"<code>{name}</code>" in html, name
    for secret in ("sk_live_1234", "ak_5678", "c00k1e", "t0k3n", "s3cr3t", "abc123"):
        assert secret not in html, secret
    assert html.count("v1,********") == 2
    assert "POST" in html and redaction.mask_url(SECRET_URL).replace("&", "&amp;") in html


def test_deliveries_can_be_filtered_by_status(acme, endpoint):
    delivery_for(endpoint, status=Delivery.Status.SUCCEEDED, status_code=200)
    failed = delivery_for(endpoint, status_code=500)
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk), {"status": "failed"})
    assert html.count('class="wp-delivery"') == 1
    assert url("delivery", delivery_id=failed.pk) in html


def test_retrying_a_failed_delivery(acme, endpoint, django_capture_on_commit_callbacks):
    failed = delivery_for(endpoint, status_code=500)
    succeeded = delivery_for(endpoint, status=Delivery.Status.SUCCEEDED, status_code=200)
    with django_capture_on_commit_callbacks() as callbacks:
        response = acme.post(url("delivery_retry", delivery_id=failed.pk), follow=True)
        acme.post(url("delivery_retry", delivery_id=succeeded.pk))
    assert "being retried" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.PENDING
    assert Delivery.objects.get(pk=succeeded.pk).status == Delivery.Status.SUCCEEDED
    assert len(callbacks) == 1


def test_retrying_every_failed_delivery_since_a_day(acme, endpoint):
    now = timezone.now()
    old = delivery_for(endpoint, created_at=now - timedelta(days=10), status_code=500)
    recent = delivery_for(endpoint, created_at=now - timedelta(days=2), status_code=500)
    succeeded = delivery_for(
        endpoint, status=Delivery.Status.SUCCEEDED, created_at=now, status_code=200
    )
    other = Endpoint.objects.create(url="https://other.example.com/", tenant="acme")
    elsewhere = delivery_for(other, created_at=now, status_code=500)
    since = (timezone.localdate() - timedelta(days=3)).isoformat()
    response = acme.post(
        url("endpoint_retry", endpoint_id=endpoint.pk), {"since": since}, follow=True
    )
    assert "1 failed delivery is being retried" in response.content.decode()
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses[recent.pk] == Delivery.Status.PENDING
    assert statuses[old.pk] == Delivery.Status.FAILED
    assert statuses[succeeded.pk] == Delivery.Status.SUCCEEDED
    assert statuses[elsewhere.pk] == Delivery.Status.FAILED


@pytest.mark.parametrize(("since", "problem"), [("", "required"), ("2999-01-01", "future")])
def test_retry_since_needs_a_day_not_in_the_future(acme, endpoint, since, problem):
    failed = delivery_for(endpoint, status_code=500)
    response = acme.post(
        url("endpoint_retry", endpoint_id=endpoint.pk), {"since": since}, follow=True
    )
    assert problem in response.content.decode()
    assert Delivery.objects.get(pk=failed.pk).status == Delivery.Status.FAILED


# --- templates ------------------------------------------------------------------------------


def test_templates_can_be_overridden_and_themed(acme, endpoint, tmp_path, settings):
    folder = tmp_path / "webhooks_app" / "portal"
    folder.mkdir(parents=True)
    (folder / "base.html").write_text(
        '{% extends "webhooks_app/portal/base.html" %}'
        "{% block brand %}Acme Hooks{% endblock %}"
        "{% block theme %}<style>:root { --webhooks-accent: #ff5500; }</style>{% endblock %}"
    )
    (folder / "endpoint_confirm_delete.html").write_text("<p>Our own confirmation page</p>")
    templates = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    with override_settings(TEMPLATES=templates):
        html = page(acme, url("endpoints"))
        assert "Acme Hooks" in html
        assert "--webhooks-accent: #ff5500" in html
        assert "--webhooks-accent: #3b5bdb" in html  # the defaults, still there before it
        assert "acme.example.com" in html
        delete = page(acme, url("endpoint_delete", endpoint_id=endpoint.pk))
        assert delete == "<p>Our own confirmation page</p>"


# --- the event-type catalog -------------------------------------------------------------------


def test_the_form_offers_the_catalogs_types(acme, catalog):
    html = page(acme, url("endpoint_add"))
    assert 'value="order.paid"' in html and "An order was paid in full." in html
    assert 'value="order.refunded"' in html
    assert 'value="order.updated"' not in html  # deprecated: not offered for a new endpoint
    response = acme.post(
        url("endpoint_add"),
        {"url": "https://acme.example.com/", "event_types": ["order.paid", "order.refunded"]},
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["order.paid", "order.refunded"]
    # Editing: the picked types are checked, a pattern of one's own stays in the text field.
    endpoint.event_types = ["order.paid", "user.*"]
    endpoint.save()
    html = page(acme, url("endpoint_edit", endpoint_id=endpoint.pk))
    assert re.search(r'value="order.paid"[^>]*checked', html)
    assert not re.search(r'value="order.refunded"[^>]*checked', html)
    assert 'name="patterns" value="user.*"' in html


@pytest.mark.parametrize(
    "picked",
    [
        {"event_types": ["order.paid", "order.refunded"]},
        {"patterns": "user.*"},
    ],
)
def test_all_types_together_with_types_picked_is_refused(acme, catalog, endpoint, picked):
    """Never silently "every event": the customer says which of the two they mean."""
    data = {"url": "https://acme.example.com/", "all_types": "on", **picked}
    response = acme.post(url("endpoint_add"), data)
    assert response.status_code == 200
    assert "either all event types or the types you picked" in response.content.decode()
    assert Endpoint.objects.count() == 1
    endpoint.event_types = ["order.paid"]
    endpoint.save()
    data["url"] = redaction.mask_url(endpoint.url)
    response = acme.post(url("endpoint_edit", endpoint_id=endpoint.pk), data)
    assert response.status_code == 200
    assert "either all event types or the types you picked" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["order.paid"]


def test_a_type_outside_the_catalog_is_not_a_checkbox(acme, catalog):
    response = acme.post(
        url("endpoint_add"), {"url": "https://acme.example.com/", "event_types": ["user.created"]}
    )
    assert response.status_code == 200
    assert "not one of the available choices" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_the_catalog_page(acme, catalog):
    html = page(acme, url("event_types"))
    for text in ("order.paid", "An order was paid in full.", "order.refunded", "Money went back."):
        assert text in html
    assert "&quot;order_id&quot;: 42" in html  # the example
    assert "&quot;required&quot;" in html  # the schema
    deprecated = html[html.index('id="type-order.updated"') :]
    assert 'class="wp-badge wp-deprecated"' in deprecated[: deprecated.index("</section>")]
    assert html.count('class="wp-badge wp-deprecated"') == 1


def test_endpoints_naming_a_deprecated_type_are_flagged(acme, endpoint, catalog):
    endpoint.event_types = ["order.paid", "order.updated"]
    endpoint.save()
    flag = 'class="wp-badge wp-deprecated"'
    listed = page(acme, url("endpoints"))
    assert listed.count(flag) == 1
    detail = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert "This endpoint receives a deprecated event type: order.updated" in detail
    # Still offered on its edit form, so it can be kept or dropped.
    edit = page(acme, url("endpoint_edit", endpoint_id=endpoint.pk))
    assert re.search(r'value="order.updated"[^>]*checked', edit)
    endpoint.event_types = ["order.paid"]
    endpoint.save()
    assert flag not in page(acme, url("endpoints"))


def test_sending_an_example(acme, endpoint, catalog, django_capture_on_commit_callbacks):
    endpoint.event_types = ["order.*"]
    endpoint.save()
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert '<option value="order.paid">' in html  # types with an example it subscribes to
    assert '<option value="order.updated">' in html
    assert '<option value="order.refunded">' not in html  # no example
    with django_capture_on_commit_callbacks() as callbacks:
        response = acme.post(
            url("endpoint_example", endpoint_id=endpoint.pk),
            {"event_type": "order.paid"},
            follow=True,
        )
    assert "An example order.paid event was sent" in response.content.decode()
    event = Event.objects.get()
    assert (event.event_type, event.payload, event.tenant) == (
        "order.paid",
        {"order_id": 42},
        "acme",
    )
    assert Delivery.objects.get().endpoint == endpoint
    assert len(callbacks) == 1


def test_an_example_only_of_a_type_the_endpoint_receives(acme, endpoint, catalog):
    endpoint.event_types = ["order.refunded"]
    endpoint.save()
    html = page(acme, url("endpoint", endpoint_id=endpoint.pk))
    assert "Send an example" not in html
    response = acme.post(
        url("endpoint_example", endpoint_id=endpoint.pk), {"event_type": "order.paid"}, follow=True
    )
    assert "Pick one of the event types this endpoint receives." in response.content.decode()
    assert not Event.objects.exists()
