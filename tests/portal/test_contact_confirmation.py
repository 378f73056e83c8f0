"""Confirming a contact address before it gets alerts (``webhooks_app.sending.contacts``).

A customer sets ``contact_email`` through the tenant API or the portal; the address is
mailed a signed link (after commit), whose page confirms it with a POST. Staff-set
addresses are confirmed as they are. Mail goes to Django's locmem backend
(``mailoutbox``); on-commit callbacks run through ``django_capture_on_commit_callbacks``.
"""

from __future__ import annotations

import re
import time
import types
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, override_settings
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from tests.admin.test_admin import header_rows
from webhooks_app.models import Endpoint
from webhooks_app.portal import portal_link
from webhooks_app.sending import alerts, contacts

pytestmark = pytest.mark.django_db

TENANT_API = "/api/customer/webhooks/"
STAFF_API = "/api/webhooks/"
LOCAL_URL = "http://127.0.0.1:9/hook"
ADDRESS = "ops@acme.example"
PHISHING = "URGENT: log in at https://evil.example/login"


def webhooks(**values):
    from django.conf import settings

    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **values})


@pytest.fixture(autouse=True)
def header_resolver():
    with webhooks(TENANT_RESOLVER="tests.tenants.tenant_from_header"):
        yield


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what the app defers to the commit of the test's transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def customer(django_user_model) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("customer"))
    client.credentials(HTTP_X_TENANT="acme")
    return client


@pytest.fixture
def staff(django_user_model) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("staff"))
    return client


def link_in(message) -> str:
    """The confirmation link's path, from the mail's body."""
    (url,) = re.findall(r"https?://\S+", message.body)
    assert url.startswith("http://testserver/portal/contact/confirm/")
    return url.removeprefix("http://testserver")


def customer_endpoint(customer, commit, address: str = ADDRESS, **fields) -> Endpoint:
    with commit():
        response = customer.post(
            TENANT_API + "endpoints/",
            {"url": LOCAL_URL, "contact_email": address, **fields},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert response.json()["contact_email_confirmed"] is False
    return Endpoint.objects.get(pk=response.json()["id"])


# --- a customer's address: a link mailed to it, confirmed by a POST -------------------------


def test_an_address_set_through_the_tenant_api_is_mailed_a_link_and_confirmed_by_post(
    customer, commit, mailoutbox
):
    endpoint = customer_endpoint(customer, commit, description=PHISHING)

    (message,) = mailoutbox
    assert message.to == [ADDRESS]
    assert message.subject == (
        f"Confirm your address for alerts about webhook endpoint #{endpoint.pk}"
    )
    for text in ("URGENT", "evil", LOCAL_URL):  # none of the customer's words, anywhere
        assert text not in message.subject + message.body
    assert not endpoint.contact_email_confirmed
    path = link_in(message)

    client = Client(enforce_csrf_checks=True)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert ADDRESS in html and "Confirm this address" in html and "evil" not in html
    assert response["X-Frame-Options"] == "DENY" and "no-store" in response["Cache-Control"]
    endpoint.refresh_from_db()
    assert not endpoint.contact_email_confirmed  # a GET changes nothing

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(path).status_code == 403  # without the CSRF token
    response = client.post(path, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == path
    endpoint.refresh_from_db()
    assert endpoint.contact_email_confirmed
    assert "Your address is confirmed" in client.get(path).content.decode()
    got = customer.get(TENANT_API + f"endpoints/{endpoint.pk}/").json()
    assert got["contact_email_confirmed"] is True

    alerts.disabled(endpoint, "gone")  # now it is told
    assert mailoutbox[-1].to == [ADDRESS] and len(mailoutbox) == 2


def test_the_link_works_without_any_session_or_login(customer, commit, mailoutbox):
    customer_endpoint(customer, commit)
    path = link_in(mailoutbox[0])
    assert Client().post(path).status_code == 302  # no portal session, no user
    assert Endpoint.objects.get().contact_email_confirmed


def test_an_unconfirmed_address_gets_no_alert(customer, commit, mailoutbox):
    endpoint = customer_endpoint(customer, commit)
    alerts.disabled(endpoint, "gone")
    assert len(mailoutbox) == 1  # the confirmation request alone


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_damaged_link_is_refused_and_changes_nothing(
    customer, commit, mailoutbox, method
):
    endpoint = customer_endpoint(customer, commit)
    good = link_in(mailoutbox[0]).rstrip("/").rsplit("/", 1)[1]
    forged = signing.dumps({"e": endpoint.pk, "a": ADDRESS}, salt="another purpose")
    not_a_dict = signing.dumps([endpoint.pk, ADDRESS], salt=contacts.SALT)
    for token in (good[:-2] + "xx", forged, not_a_dict, "nonsense"):
        path = reverse("webhooks_portal:contact_confirm", kwargs={"token": token})
        response = getattr(Client(), method)(path)
        assert response.status_code == 400, token
        assert "invalid or has expired" in response.content.decode()
    endpoint.refresh_from_db()
    assert not endpoint.contact_email_confirmed


def test_an_expired_link_is_refused(customer, commit, mailoutbox, monkeypatch):
    endpoint = customer_endpoint(customer, commit)
    path = link_in(mailoutbox[0])
    later = time.time() + contacts.MAX_AGE.total_seconds() + 10
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert Client().get(path).status_code == 400
    assert Client().post(path).status_code == 400
    endpoint.refresh_from_db()
    assert not endpoint.contact_email_confirmed


def test_a_link_for_an_earlier_address_confirms_nothing_later(customer, commit, mailoutbox):
    endpoint = customer_endpoint(customer, commit, address="first@acme.example")
    first_link = link_in(mailoutbox[0])
    with commit():
        response = customer.patch(
            TENANT_API + f"endpoints/{endpoint.pk}/",
            {"contact_email": "second@acme.example"},
            format="json",
        )
    assert response.status_code == 200
    assert [message.to for message in mailoutbox] == [
        ["first@acme.example"],
        ["second@acme.example"],
    ]

    for method in ("get", "post"):
        response = getattr(Client(), method)(first_link)
        assert response.status_code == 410
        assert "no longer has" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "second@acme.example"
    assert not endpoint.contact_email_confirmed and endpoint.confirmed_contact_email == ""

    endpoint.delete()  # and a link to an endpoint that is gone
    assert Client().get(link_in(mailoutbox[1])).status_code == 410


def test_changing_a_confirmed_address_unconfirms_it(customer, commit, mailoutbox):
    endpoint = customer_endpoint(customer, commit)
    assert Client().post(link_in(mailoutbox[0])).status_code == 302
    with commit():  # sending the same address again changes nothing, and mails nothing
        customer.patch(
            TENANT_API + f"endpoints/{endpoint.pk}/", {"contact_email": ADDRESS}, format="json"
        )
    assert len(mailoutbox) == 1

    with commit():
        response = customer.patch(
            TENANT_API + f"endpoints/{endpoint.pk}/",
            {"contact_email": "victim@example.org"},
            format="json",
        )
    assert response.json()["contact_email_confirmed"] is False
    endpoint.refresh_from_db()
    alerts.disabled(endpoint, "gone")
    assert [message.to for message in mailoutbox] == [[ADDRESS], ["victim@example.org"]]
    assert "Confirm your address" in mailoutbox[1].subject


def test_the_link_is_mailed_after_commit_only(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        customer.post(
            TENANT_API + "endpoints/", {"url": LOCAL_URL, "contact_email": ADDRESS}, format="json"
        )
    assert mailoutbox == [] and len(callbacks) == 1


def test_without_the_portals_urls_there_is_no_link_to_mail(customer, commit, mailoutbox, caplog):
    """The confirmation page is one of the portal's; without it, staff confirm addresses."""
    urlconf = types.ModuleType("tenant_api_alone")
    urlconf.urlpatterns = [  # type: ignore[attr-defined]
        path(TENANT_API.strip("/") + "/", include("webhooks_app.api.tenant_urls"))
    ]
    with override_settings(ROOT_URLCONF=urlconf), commit():
        response = customer.post(
            TENANT_API + "endpoints/", {"url": LOCAL_URL, "contact_email": ADDRESS}, format="json"
        )
    assert response.status_code == 201 and mailoutbox == []
    assert "portal's URLs are not installed" in caplog.text


# --- the daily cap counts confirmation requests ---------------------------------------------


def test_asking_again_and_again_mails_an_address_three_times_a_day(customer, commit, mailoutbox):
    """Resending through the API (the address sent again while unconfirmed), changing the
    address back and forth, and the portal's button: three mails, whatever is tried."""
    endpoint = customer_endpoint(customer, commit, address="victim@example.org")
    path = TENANT_API + f"endpoints/{endpoint.pk}/"
    for address in ["victim@example.org", "other@acme.example", "victim@example.org"] * 3:
        with commit():
            assert (
                customer.patch(path, {"contact_email": address}, format="json").status_code == 200
            )
    portal = Client()
    portal.get(portal_link("acme"))
    button = reverse(
        "webhooks_portal:endpoint_confirm_contact", kwargs={"endpoint_id": endpoint.pk}
    )
    for _ in range(3):
        with commit():
            assert portal.post(button).status_code == 302

    to_victim = [message for message in mailoutbox if message.to == ["victim@example.org"]]
    assert len(to_victim) == 3
    assert len([message for message in mailoutbox if message.to == ["other@acme.example"]]) == 3


# --- the portal ------------------------------------------------------------------------------


def test_the_portal_mails_a_link_when_the_address_changes_and_shows_its_state(commit, mailoutbox):
    portal = Client()
    portal.get(portal_link("acme"))
    form = {"url": LOCAL_URL, "all_types": "on", "contact_email": ADDRESS}
    with commit():
        response = portal.post(reverse("webhooks_portal:endpoint_add"), form)
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    (message,) = mailoutbox
    assert message.to == [ADDRESS]
    detail = reverse("webhooks_portal:endpoint", kwargs={"endpoint_id": endpoint.pk})
    html = portal.get(detail).content.decode()
    assert "not confirmed yet" in html and "Send the link again" in html

    edit = reverse("webhooks_portal:endpoint_edit", kwargs={"endpoint_id": endpoint.pk})
    with commit():  # saved unchanged: no mail
        portal.post(edit, {**form, "description": "Orders"})
    assert len(mailoutbox) == 1
    with commit():
        portal.post(edit, {**form, "contact_email": "new@acme.example"})
    assert [m.to for m in mailoutbox] == [[ADDRESS], ["new@acme.example"]]

    assert Client().post(link_in(mailoutbox[1])).status_code == 302
    html = portal.get(detail).content.decode()
    assert "confirmed" in html and "not confirmed yet" not in html


def test_the_portal_button_mails_nothing_for_a_confirmed_address(commit, mailoutbox):
    endpoint = Endpoint.objects.create(
        url=LOCAL_URL, tenant="acme", contact_email=ADDRESS, confirmed_contact_email=ADDRESS
    )
    portal = Client()
    portal.get(portal_link("acme"))
    button = reverse(
        "webhooks_portal:endpoint_confirm_contact", kwargs={"endpoint_id": endpoint.pk}
    )
    with commit():
        assert portal.post(button).status_code == 302
    assert mailoutbox == []


# --- staff set confirmed addresses -----------------------------------------------------------


def test_an_address_staff_set_through_the_staff_api_is_confirmed(staff, commit, mailoutbox):
    with commit():
        response = staff.post(
            STAFF_API + "endpoints/",
            {"url": LOCAL_URL, "contact_email": ADDRESS, "tenant": "acme"},
            format="json",
        )
    assert response.status_code == 201 and response.json()["contact_email_confirmed"] is True
    endpoint = Endpoint.objects.get()
    with commit():
        staff.patch(STAFF_API + f"endpoints/{endpoint.pk}/", {"contact_email": "new@acme.example"})
    endpoint.refresh_from_db()
    assert endpoint.contact_email_confirmed and mailoutbox == []


def test_an_address_staff_set_in_the_admin_is_confirmed(admin_client, mailoutbox):
    endpoint = Endpoint.objects.create(url=LOCAL_URL, tenant="acme", contact_email=ADDRESS)
    change = reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk])
    assert "contact e-mail confirmed" in admin_client.get(change).content.decode().lower()
    form = {
        "url": LOCAL_URL,
        "description": "",
        "contact_email": ADDRESS,
        "tenant": "acme",
        "all_types": "on",
        **header_rows({}),
        "rate_limit": "",
        "is_active": "on",
    }
    assert admin_client.post(change, {**form, "description": "edited"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.description == "edited"
    assert not endpoint.contact_email_confirmed  # not staff's address: left unconfirmed
    assert (
        admin_client.post(change, {**form, "contact_email": "ops@example.com"}).status_code == 302
    )
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "ops@example.com" and endpoint.contact_email_confirmed
    assert mailoutbox == []


def test_a_link_lasts_three_days():
    assert contacts.MAX_AGE == timedelta(days=3)


# --- existing addresses ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_confirms_the_operators_addresses_only():
    """Only staff can have set an operator endpoint's address; a customer's waits for its
    owner to confirm it."""
    executor = MigrationExecutor(connection)
    before, after = (
        [("webhooks_app", "0006_owner_alerts")],
        [("webhooks_app", "0007_contact_confirmation")],
    )
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("webhooks_app", "Endpoint")
        old.objects.create(url=LOCAL_URL, secret="whsec_x", contact_email="ops@example.com")
        old.objects.create(url=LOCAL_URL, secret="whsec_x", tenant="acme", contact_email=ADDRESS)
        old.objects.create(url=LOCAL_URL, secret="whsec_x")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("webhooks_app"))
    confirmed = {
        (endpoint.tenant, endpoint.contact_email): endpoint.contact_email_confirmed
        for endpoint in Endpoint.objects.all()
    }
    assert confirmed == {("", "ops@example.com"): True, ("acme", ADDRESS): False, ("", ""): False}
