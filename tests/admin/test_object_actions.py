"""Actions where the object is: the buttons of the endpoint and delivery change pages.

Each button POSTs (with the CSRF token) to a per-object view that runs the list's
action on that one object, with the list action's permissions.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from tests.admin.test_admin import change, make_delivery
from webhooks_app.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

Status = Delivery.Status
URL = "https://hooks.example.com/in"

ENDPOINT_BUTTONS = {
    "send_test_event": "Send a test event",
    "rotate_secret": "Rotate the secret",
    "retry_failed_deliveries": "Retry failed deliveries now",
}


def action_url(obj, action: str) -> str:
    return reverse(
        f"admin:webhooks_app_{obj._meta.model_name}_object_action", args=[obj.pk, action]
    )


def staff(*codenames: str, enforce_csrf_checks: bool = False) -> Client:
    user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


def buttons(client, obj) -> dict[str, str]:
    """The change page's action buttons: their POST targets and labels."""
    response = client.get(change(obj))
    assert response.status_code == 200
    return {url: str(label) for url, label in response.context["object_actions"]}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint.objects.create(url=URL)


# --- the endpoint's buttons ------------------------------------------------------------


def test_the_endpoint_change_page_has_a_button_for_each_action(admin_client, endpoint):
    assert buttons(admin_client, endpoint) == {
        action_url(endpoint, name): label for name, label in ENDPOINT_BUTTONS.items()
    }
    page = admin_client.get(change(endpoint)).content.decode()
    for name in ENDPOINT_BUTTONS:
        assert f'<form method="post" action="{action_url(endpoint, name)}"' in page
    assert "action of the list" not in page  # the secret's help points at the button


def test_send_a_test_event_from_the_change_page(admin_client, endpoint):
    response = admin_client.post(action_url(endpoint, "send_test_event"), follow=True)
    assert response.redirect_chain == [(change(endpoint), 302)]
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.event.event_type == "webhooks.test"
    assert any("Test event" in message for message in messages_of(response))


def test_rotating_asks_to_confirm_and_keeps_the_previous_secret(admin_client, endpoint):
    secret = endpoint.secret
    response = admin_client.post(action_url(endpoint, "rotate_secret"))
    assert response.status_code == 200  # the confirmation page, nothing rotated yet
    assert "signs deliveries" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret == secret

    response = admin_client.post(
        action_url(endpoint, "rotate_secret"), {"confirm": "yes"}, follow=True
    )
    assert response.redirect_chain == [(change(endpoint), 302)]
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.previous_secret == secret
    assert any("Rotated the secret" in message for message in messages_of(response))


def test_rotating_again_during_the_grace_period_warns_first(admin_client, endpoint):
    endpoint.rotate_secret()
    page = admin_client.post(action_url(endpoint, "rotate_secret")).content.decode()
    assert "stops signing at once" in page


def test_retry_failed_deliveries_now_from_the_change_page(admin_client, endpoint):
    failed = make_delivery(endpoint, Status.FAILED, (500,))
    succeeded = make_delivery(endpoint)
    response = admin_client.post(action_url(endpoint, "retry_failed_deliveries"), follow=True)
    assert response.redirect_chain == [(change(endpoint), 302)]
    failed.refresh_from_db()
    succeeded.refresh_from_db()
    assert failed.status == Status.PENDING and succeeded.status == Status.SUCCEEDED


def test_a_get_changes_nothing(admin_client, endpoint):
    for name in ("send_test_event", "retry_failed_deliveries"):
        assert admin_client.get(action_url(endpoint, name)).status_code == 405
    secret = endpoint.secret
    assert admin_client.get(action_url(endpoint, "rotate_secret")).status_code == 405
    endpoint.refresh_from_db()
    assert endpoint.secret == secret and not Delivery.objects.exists()


def test_the_buttons_need_the_csrf_token(admin_user, endpoint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(action_url(endpoint, "send_test_event")).status_code == 403
    assert not Delivery.objects.exists()


def test_an_unknown_action_or_a_missing_object(admin_client, endpoint):
    assert admin_client.post(action_url(endpoint, "delete_selected")).status_code == 404
    assert admin_client.post(action_url(endpoint, "no_such_action")).status_code == 404
    missing = reverse("admin:webhooks_app_endpoint_object_action", args=[999, "send_test_event"])
    assert admin_client.post(missing).status_code == 302  # to the admin's index, as Django does


@pytest.mark.parametrize(
    ("codenames", "offered"),
    [
        (("view_endpoint",), set()),
        (("view_endpoint", "change_endpoint"), {"rotate_secret"}),
        (("view_endpoint", "add_event"), {"send_test_event"}),
        (("view_endpoint", "change_delivery"), {"retry_failed_deliveries"}),
    ],
)
def test_buttons_need_the_list_actions_permissions(endpoint, codenames, offered):
    client = staff(*codenames)
    assert buttons(client, endpoint) == {
        action_url(endpoint, name): label
        for name, label in ENDPOINT_BUTTONS.items()
        if name in offered
    }
    secret = endpoint.secret
    failed = make_delivery(endpoint, Status.FAILED, (500,))
    for name in set(ENDPOINT_BUTTONS) - offered:
        assert client.post(action_url(endpoint, name), {"confirm": "yes"}).status_code == 403
    endpoint.refresh_from_db()
    failed.refresh_from_db()
    assert endpoint.secret == secret or "rotate_secret" in offered
    assert failed.status == Status.FAILED or "retry_failed_deliveries" in offered
    assert not Delivery.objects.exclude(pk=failed.pk).exists() or "send_test_event" in offered


def test_the_buttons_need_the_endpoint_itself(endpoint):
    client = staff("add_event", "change_delivery")  # no view or change of endpoints
    assert client.post(action_url(endpoint, "send_test_event")).status_code == 403
    assert not Delivery.objects.exists()


# --- the delivery's button -------------------------------------------------------------


def test_the_delivery_change_page_retries_now(admin_client, endpoint):
    failed = make_delivery(endpoint, Status.FAILED, (500,))
    assert buttons(admin_client, failed) == {action_url(failed, "retry_now"): "Retry now"}
    response = admin_client.post(action_url(failed, "retry_now"), follow=True)
    assert response.redirect_chain == [(change(failed), 302)]
    failed.refresh_from_db()
    assert failed.status == Status.PENDING
    assert any("Retrying 1 delivery now." in message for message in messages_of(response))
    assert buttons(admin_client, make_delivery(endpoint)) == {}  # succeeded: nothing to retry


def test_retry_now_needs_the_change_delivery_permission(endpoint):
    failed = make_delivery(endpoint, Status.FAILED, (500,))
    viewer = staff("view_delivery", "view_event", "view_endpoint")
    assert buttons(viewer, failed) == {}
    assert viewer.post(action_url(failed, "retry_now")).status_code == 403
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
