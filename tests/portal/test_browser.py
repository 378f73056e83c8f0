"""The portal in a real browser: Debian's Chromium, driven by Playwright for Python.

Playwright cannot download browsers here, so it launches /usr/bin/chromium
(``apt-get install chromium``); without it these tests are skipped. Deliveries
really go out: the test project is served on 127.0.0.1 (``django_server``), a
real Celery worker sends them (``celery_worker``), and ``http_server``
receives them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from tests.conftest import CHROMIUM, Reply, wait_until
from webhooks_app import event_types, operations, signing
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.portal import portal_link
from webhooks_app.testing import isolated_event_types

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def verified(received, secret: str) -> bool:
    headers = {name.lower(): value for name, value in received.headers.items()}
    try:
        signing.verify(
            secret,
            headers["webhook-id"],
            headers["webhook-timestamp"],
            received.body,
            headers["webhook-signature"],
        )
    except signing.InvalidSignature:
        return False
    return True


def test_click_through_the_portal(page, django_server, celery_worker, http_server, settings):
    # One try per delivery, so that a 500 fails it at once and a retry is the second try.
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": []}

    # A SaaS hands its customer a link; it opens the portal for that tenant alone.
    Endpoint.objects.create(url="https://globex.example.com/hook", tenant="globex")
    page.goto(django_server + portal_link("acme"))
    expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
    expect(page.get_by_text("No endpoints yet")).to_be_visible()
    assert "globex" not in page.content()

    # Add an endpoint: the receiving server's URL, every event type.
    page.get_by_role("link", name="Add an endpoint").click()
    page.get_by_label("URL").fill(http_server.url("/hook"))
    page.get_by_label("Description").fill("Acme's receiver")
    expect(page.get_by_label("All event types")).to_be_checked()
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.get_by_text("The endpoint was added.")).to_be_visible()
    endpoint = Endpoint.objects.get(tenant="acme")
    first_secret = page.locator("#wp-secret-value").inner_text().strip()
    assert first_secret == endpoint.secret

    # Send a test event: the worker delivers it, and its attempt shows on the endpoint's page.
    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_text("A test event was sent")).to_be_visible()
    received = http_server.wait_for(1)[0]
    assert received.json()["type"] == "webhooks.test"
    assert verified(received, first_secret)  # signed with the secret the portal showed
    wait_until(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).exists())
    page.reload()
    delivery = page.locator("tr.wp-delivery").first
    expect(delivery).to_contain_text("webhooks.test")
    expect(delivery).to_contain_text("Succeeded")
    attempt = page.locator("tr.wp-attempt").first
    expect(attempt.locator(".wp-badge")).to_have_text("200")
    expect(attempt).to_contain_text(re.compile(r"\d+ ms"))
    expect(attempt).to_contain_text("ok")  # the response's excerpt

    # Rotate the secret: the new one is shown once, the old one is nowhere on the page.
    page.get_by_role("button", name="Rotate the secret").click()
    expect(page.get_by_text("The secret was rotated.")).to_be_visible()
    new_secret = page.locator("#wp-secret-value").inner_text().strip()
    endpoint.refresh_from_db()
    assert new_secret == endpoint.secret != first_secret
    assert first_secret not in page.content()
    page.reload()
    expect(page.locator("#wp-secret-value")).to_have_count(0)
    assert new_secret not in page.content()

    # A delivery fails (the receiver answers 500) ...
    http_server.default = Reply(500, b"receiver broke")
    page.get_by_role("button", name="Send a test event").click()
    http_server.wait_for(2)
    wait_until(lambda: Delivery.objects.filter(status=Delivery.Status.FAILED).exists())
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)
    page.get_by_role("link", name="Failed").click()
    row = page.locator("tr.wp-delivery").first
    expect(row).to_contain_text("Failed")
    expect(page.locator("tr.wp-attempt").first.locator(".wp-badge")).to_have_text("500")
    expect(page.get_by_text("receiver broke")).to_be_visible()

    # ... and is retried from the portal: its second attempt succeeds.
    http_server.default = Reply(200, b"ok again")
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("The delivery is being retried.")).to_be_visible()
    http_server.wait_for(3)
    assert verified(http_server.requests[2], new_secret)
    wait_until(lambda: Delivery.objects.get(pk=failed.pk).status == Delivery.Status.SUCCEEDED)
    page.get_by_role("link", name=failed.event.event_type).first.click()  # the newest delivery
    attempts = page.locator("tr.wp-attempt")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0).locator(".wp-badge")).to_have_text("500")
    expect(attempts.nth(1).locator(".wp-badge")).to_have_text("200")
    expect(attempts.nth(1)).to_contain_text("manual")
    expect(attempts.nth(1)).to_contain_text("ok again")


def test_pick_types_from_the_catalog_and_send_an_example(
    page, django_server, celery_worker, http_server
):
    with isolated_event_types():  # the server runs in this process: it sees this catalog
        event_types.register(
            "order.paid",
            description="An order was paid in full.",
            schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
            example={"order_id": 42},
        )
        event_types.register("order.shipped", description="An order left the warehouse.")
        page.goto(django_server + portal_link("acme"))

        # The catalog page: each type, its description and its example.
        page.get_by_role("link", name="Event types").click()
        paid = page.locator("#type-order\\.paid")
        expect(paid).to_contain_text("An order was paid in full.")
        expect(paid.locator("pre").first).to_contain_text('"order_id": 42')

        # An endpoint for order.paid alone, picked from the catalog's checkboxes.
        page.get_by_role("link", name="Endpoints").click()
        page.get_by_role("link", name="Add an endpoint").click()
        page.get_by_label("URL").fill(http_server.url("/paid"))
        page.get_by_label("All event types").uncheck()
        page.get_by_label("order.paid").check()
        page.get_by_role("button", name="Add the endpoint").click()
        expect(page.get_by_text("The endpoint was added.")).to_be_visible()
        assert Endpoint.objects.get(tenant="acme").event_types == ["order.paid"]

        # Its example, sent to it alone through the worker.
        page.get_by_label("Event type").select_option("order.paid")
        page.get_by_role("button", name="Send an example").click()
        expect(page.get_by_text("An example order.paid event was sent")).to_be_visible()
        received = http_server.wait_for(1)[0]
        assert received.json()["type"] == "order.paid"
        assert received.json()["data"] == {"order_id": 42}


def test_a_tampered_link_is_refused_in_the_browser(page, django_server, transactional_db):
    link = portal_link("acme")
    response = page.goto(django_server + link[:-3] + "xx/")
    assert response.status == 403
    expect(page.get_by_text("invalid or has expired")).to_be_visible()
    page.goto(django_server + "/portal/")
    expect(page.get_by_text("no access to webhook settings")).to_be_visible()


def test_the_form_refuses_all_types_together_with_types_picked(
    page, django_server, transactional_db
):
    with isolated_event_types():
        event_types.register("order.paid", description="An order was paid in full.")
        event_types.register("order.shipped", description="An order left the warehouse.")
        page.goto(django_server + portal_link("acme"))
        page.get_by_role("link", name="Add an endpoint").click()
        page.get_by_label("URL").fill("https://acme.example.com/hooks")
        # The e-mail input is styled as the URL input is.
        email, url = page.get_by_label("Contact e-mail"), page.get_by_label("URL")
        for prop in ("padding-left", "border-top-width", "border-top-style", "width"):
            style = f"element => getComputedStyle(element).getPropertyValue('{prop}')"
            assert email.evaluate(style) == url.evaluate(style), prop
        expect(page.get_by_label("All event types")).to_be_checked()
        page.get_by_label("order.paid").check()
        page.get_by_label("order.shipped").check()
        page.get_by_role("button", name="Add the endpoint").click()
        expect(
            page.get_by_text("Choose either all event types or the types you picked")
        ).to_be_visible()
        assert not Endpoint.objects.exists()
        # Unticking "All event types" makes the choice: the two types alone.
        page.get_by_label("All event types").uncheck()
        page.get_by_role("button", name="Add the endpoint").click()
        expect(page.get_by_text("The endpoint was added.")).to_be_visible()
        assert Endpoint.objects.get().event_types == ["order.paid", "order.shipped"]


SHOTS = Path("/tmp/portal-shots")


def shot(page: Page, name: str) -> None:
    """A full-page screenshot to look at (not compared: the tests assert on the page)."""
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_link_for_another_tenant_asks_before_switching(
    browser, django_server, settings, transactional_db
):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "TENANT_RESOLVER": "tests.tenants.tenant_from_header"}
    Endpoint.objects.create(url="https://acme.example.com/hook", tenant="acme")
    Endpoint.objects.create(url="https://globex.example.com/hook", tenant="globex")
    # A customer signed in for acme (the resolver reads X-Tenant) opens a link for globex.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Tenant": "acme"}
    )
    page = context.new_page()
    link = django_server + portal_link("globex")
    page.goto(link)
    expect(page.get_by_role("heading", name="Open the webhook portal for globex?")).to_be_visible()
    expect(page.locator(".wp-tenant")).to_contain_text("acme")
    shot(page, "enter-confirm")
    page.get_by_role("link", name="Stay with acme").click()
    expect(page.get_by_text("acme.example.com")).to_be_visible()
    assert "globex.example.com" not in page.content()
    # Only the confirmation's POST switches.
    page.goto(link)
    page.get_by_role("button", name="Switch to globex").click()
    expect(page.get_by_text("globex.example.com")).to_be_visible()
    expect(page.locator(".wp-tenant")).to_contain_text("globex")
    assert "acme.example.com" not in page.content()
    shot(page, "endpoints-after-switch")
    context.close()


def test_the_state_after_the_circuit_opens(
    page, django_server, celery_worker, http_server, settings
):
    """Six 503s: the circuit opens, and the portal says so, with the probe's time, never a
    next try at a time already past."""
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "RETRY_SCHEDULE": [0.5, 0.5, 0.5],
        "CIRCUIT_BREAKER_COOLDOWN": 120,
    }
    http_server.default = Reply(503, b"upstream unavailable")
    endpoint = Endpoint.objects.create(url=http_server.url("/hook"), tenant="acme")
    with transaction.atomic():  # one commit: the six are claimed and sent together
        for _ in range(6):
            operations.send_test_event(endpoint)
    http_server.wait_for(6)
    wait_until(lambda: Endpoint.objects.get(pk=endpoint.pk).circuit_opened_at is not None)
    wait_until(
        lambda: (
            Delivery.objects.filter(endpoint=endpoint, attempt_count__gte=1).count() == 6
            and not Delivery.objects.filter(
                endpoint=endpoint, locked_until__gt=timezone.now()
            ).exists()
        )
    )
    endpoint.refresh_from_db()
    probe = timezone.localtime(endpoint.paused_until).strftime("%H:%M:%S")
    wait_until(
        lambda: (
            not Delivery.objects.filter(
                endpoint=endpoint, next_attempt_at__gt=timezone.now()
            ).exists()
        )
    )  # every delivery's own time has passed: only the circuit holds them
    page.goto(django_server + portal_link("acme"))
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Active, circuit open")
    expect(row).to_contain_text(f"next probe at {probe}")
    page.get_by_role("link", name=re.compile("127.0.0.1")).click()
    expect(page.locator(".wp-facts")).to_contain_text("timeouts or errors in a row")
    deliveries = page.locator("tr.wp-delivery")
    expect(deliveries).to_have_count(6)
    for index in range(6):
        expect(deliveries.nth(index)).to_contain_text(f"next try at {probe}")
    shot(page, "endpoint-circuit-open")
    deliveries.first.get_by_role("link").first.click()
    expect(page.locator(".wp-facts")).to_contain_text(f"next try at {probe}")
    shot(page, "delivery-circuit-open")


def test_the_delivery_page_shows_what_the_receiver_got(
    page, django_server, celery_worker, http_server
):
    endpoint = Endpoint.objects.create(
        url=http_server.url("/hook"),
        tenant="acme",
        headers={"Authorization": "Bearer sk_live_1234", "X-Region": "eu-west"},
    )
    operations.send_test_event(endpoint)
    received = http_server.wait_for(1)[0]
    wait_until(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).exists())
    page.goto(django_server + portal_link("acme"))
    page.goto(django_server + f"/portal/deliveries/{Delivery.objects.get().pk}/")
    request = page.locator(".wp-request")
    assert json.loads(request.locator("pre.wp-body").inner_text()) == received.json()
    headers = {
        row.locator("th").inner_text().strip(): row.locator("td").inner_text().strip()
        for row in request.locator("tr").all()
    }
    got = {name.lower(): value for name, value in received.headers.items()}
    assert headers["webhook-id"] == got["webhook-id"]
    assert headers["X-Region"] == got["x-region"] == "eu-west"
    assert got["authorization"] == "Bearer sk_live_1234"
    assert headers["Authorization"].startswith("********")
    assert headers["webhook-signature"].startswith("v1,********")
    assert "sk_live_1234" not in page.content()
    assert got["webhook-signature"].split(",", 1)[1] not in page.content()
    shot(page, "delivery-request")
