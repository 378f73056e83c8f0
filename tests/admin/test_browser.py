"""The endpoint change page in a real browser (Debian's Chromium, through Playwright):
its buttons, the event types ticked from the catalog, the header rows, and the admin's
button styles in the light and the dark scheme.

Screenshots of the pages go to ``$WEBHOOKS_SCREENSHOTS`` when it is set (a folder),
for a person to look at.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from tests.admin.test_admin import make_delivery
from tests.conftest import CHROMIUM, wait_until
from webhooks_app import event_types
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.testing import isolated_event_types

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

PASSWORD = "browser-test"
SCREENSHOTS = os.environ.get("WEBHOOKS_SCREENSHOTS")


@pytest.fixture(scope="module")
def admin_server(django_db_setup) -> Iterator[str]:
    """The test project on 127.0.0.1 with the admin's static files (its styles are what
    these tests look at), as ``runserver`` serves them."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    httpd.set_app(StaticFilesHandler(WSGIHandler()))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


@pytest.fixture
def page(browser: Browser, scheme: str, admin_server, transactional_db) -> Iterator[Page]:
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{admin_server}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    yield page
    context.close()


@pytest.fixture
def catalog() -> Iterator[None]:
    with isolated_event_types():  # the server runs in this process: it sees this catalog
        event_types.register("order.paid", description="An order was paid.", example={"id": 1})
        event_types.register("order.refunded", example={"id": 2})
        event_types.register("user.created")
        yield


def shot(page: Page, name: str, scheme: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}-{scheme}.png"), full_page=True)


def change_url(base: str, obj) -> str:
    return f"{base}/admin/webhooks_app/{obj._meta.model_name}/{obj.pk}/change/"


def test_the_endpoint_change_pages_buttons(
    page, scheme, admin_server, celery_worker, http_server, catalog, settings
):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": []}
    endpoint = Endpoint.objects.create(url=http_server.url("/hook"), description="Receiver")
    failed = make_delivery(endpoint, Delivery.Status.FAILED, (500,))
    page.goto(change_url(admin_server, endpoint))
    tools = page.locator(".object-tools")
    for label in ("Send a test event", "Rotate the secret", "Retry failed deliveries now"):
        expect(tools.get_by_role("button", name=label)).to_be_visible()
    shot(page, "admin-endpoint-change-buttons", scheme)

    # The buttons look like the object tools' links beside them ("History").
    history = tools.get_by_role("link", name="History")
    button = tools.get_by_role("button", name="Send a test event")
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") == history.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert abs(button.bounding_box()["height"] - history.bounding_box()["height"]) <= 1
    assert abs(button.bounding_box()["y"] - history.bounding_box()["y"]) <= 1

    # Send a test event: it is delivered.
    button.click()
    expect(page.locator(".messagelist")).to_contain_text("Test event")
    assert http_server.wait_for(1)[0].json()["type"] == "webhooks.test"

    # Retry the failed delivery now: the receiver answers 200 this time.
    tools.get_by_role("button", name="Retry failed deliveries now").click()
    expect(page.get_by_text("Retrying 1 failed delivery now.")).to_be_visible()
    wait_until(lambda: Delivery.objects.get(pk=failed.pk).status == Delivery.Status.SUCCEEDED)

    # Rotate the secret: a confirmation first, then the new secret.
    secret = endpoint.secret
    tools.get_by_role("button", name="Rotate the secret").click()
    expect(page.get_by_text("also signs deliveries for")).to_be_visible()
    shot(page, "admin-endpoint-rotate-confirm", scheme)
    endpoint.refresh_from_db()
    assert endpoint.secret == secret
    page.get_by_role("button", name="Rotate the secret").click()
    expect(page.get_by_text("Rotated the secret of 1 endpoint")).to_be_visible()
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.previous_secret == secret


def test_event_types_and_header_rows(page, scheme, admin_server, catalog):
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.com/in", event_types=["order.*"], headers={"X-Tenant": "acme"}
    )
    page.goto(change_url(admin_server, endpoint))
    expect(page.get_by_label("Every event type")).not_to_be_checked()
    expect(page.get_by_label("Other event types")).to_have_value("order.*")
    expect(page.get_by_label("Header 1: name")).to_have_value("X-Tenant")
    expect(page.get_by_label("Header 1: value")).to_have_value("acme")
    shot(page, "admin-endpoint-form", scheme)

    # Every type and some types together: refused, with the form's error.
    page.get_by_label("Every event type").check()
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("Tick every event type or some types, not both.")).to_be_visible()
    shot(page, "admin-endpoint-form-error", scheme)

    # Some types ticked, a pattern, a second header: saved as the model's list and object.
    page.get_by_label("Every event type").uncheck()
    page.get_by_label("order.paid").check()
    page.get_by_label("user.created").check()
    page.get_by_label("Other event types").fill("invoice.*")
    page.get_by_label("Header 2: name").fill("X-Api-Key")
    page.get_by_label("Header 2: value").fill("k-123")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("was changed successfully")).to_be_visible()
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["order.paid", "user.created", "invoice.*"]
    assert endpoint.headers == {"X-Tenant": "acme", "X-Api-Key": "k-123"}
    expect(page.get_by_label("order.paid")).to_be_checked()
    expect(page.get_by_label("Header 2: value")).to_have_value("k-123")


def test_send_an_example_cancel_is_an_admin_button(page, scheme, admin_server, catalog):
    endpoint = Endpoint.objects.create(url="https://hooks.example.com/in")
    page.goto(f"{admin_server}/admin/webhooks_app/endpoint/{endpoint.pk}/send-example/")
    shot(page, "admin-endpoint-send-example", scheme)
    row = page.locator(".submit-row")
    send = row.get_by_role("button", name="Send the example").bounding_box()
    cancel = row.get_by_role("link", name="Cancel").bounding_box()
    assert send and cancel
    # As tall as the submit button beside it, on the same line, with the admin's padding.
    assert abs(cancel["height"] - send["height"]) <= 1
    assert abs(cancel["y"] - send["y"]) <= 1
    assert cancel["width"] > 60

    def style(name: str, prop: str) -> str:
        role = "button" if name.startswith("Send") else "link"
        element = row.get_by_role(role, name=name)
        return element.evaluate(f"e => getComputedStyle(e).getPropertyValue('{prop}')")

    for prop in ("padding-top", "padding-left"):  # the text centred as in the submit button
        assert style("Cancel", prop) == style("Send the example", prop)
    assert style("Cancel", "background-color") not in ("rgba(0, 0, 0, 0)", "transparent")
