"""Confirming a contact address in a real browser (Debian's Chromium, as in test_browser).

The portal adds an endpoint with a contact e-mail; the confirmation link mailed to it
(Django's locmem backend, ``mailoutbox``) is opened in a browser with no portal
session, as the address's reader would, and its button confirms.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.portal import test_browser
from webhooks_app.models import Endpoint
from webhooks_app.portal import portal_link

ADDRESS = "ops@acme.example"
SCREENSHOT = "/tmp/webhooks-contact-confirm.png"

# The browser and its page, as the portal's browser tests have them.
pytestmark = test_browser.pytestmark
page = test_browser.page


@pytest.mark.django_db(transaction=True)
def test_confirm_a_contact_address_from_the_mailed_link(
    page, browser: Browser, django_server, mailoutbox
):
    page.goto(django_server + portal_link("acme"))
    page.get_by_role("link", name="Add an endpoint").click()
    page.get_by_label("URL").fill("https://acme.example.com/hook")
    page.get_by_label("Description").fill("URGENT: log in at https://evil.example/login")
    page.get_by_label("Contact e-mail").fill(ADDRESS)
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.get_by_text("The endpoint was added.")).to_be_visible()
    expect(page.get_by_text("not confirmed yet")).to_be_visible()

    (message,) = mailoutbox
    assert message.to == [ADDRESS] and "evil" not in message.subject + message.body
    (link,) = re.findall(r"https?://\S+", message.body)
    assert link.startswith(django_server + "/portal/contact/confirm/")

    reader = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    reader.goto(link)  # no portal session here
    expect(reader.get_by_role("heading", name="Confirm your address")).to_be_visible()
    expect(reader.get_by_text(ADDRESS)).to_be_visible()
    reader.screenshot(path=SCREENSHOT, full_page=True)
    assert not Endpoint.objects.get().contact_email_confirmed  # opening it changed nothing

    reader.get_by_role("button", name="Confirm this address").click()
    expect(reader.get_by_role("heading", name="Your address is confirmed")).to_be_visible()
    assert Endpoint.objects.get().contact_email_confirmed
    reader.context.close()

    page.reload()
    expect(page.get_by_text("not confirmed yet")).to_have_count(0)
    expect(page.get_by_text("confirmed", exact=True)).to_be_visible()
