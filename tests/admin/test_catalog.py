"""The catalog in the endpoints' admin: "Send an example" (a real delivery to that one
endpoint) and endpoints flagged for subscribing to deprecated event types."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from tests.admin.test_admin import change, changelist
from tests.conftest import wait_until
from webhooks_app import event_types, operations
from webhooks_app.models import Delivery, Endpoint, Event, OutboxEntry
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db

PAID_EXAMPLE = {"order_id": 42, "total": "12.50"}


@pytest.fixture(autouse=True)
def catalog():
    with isolated_event_types():
        event_types.register(
            "order.paid",
            description="An order was paid.",
            schema={"type": "object", "required": ["order_id"]},
            example=PAID_EXAMPLE,
        )
        event_types.register("order.updated", example={"order_id": 1}, deprecated=True)
        event_types.register("order.noted")  # no example: never offered
        event_types.register("user.created", example={"user_id": 7})
        yield


def send_example_url(endpoint: Endpoint) -> str:
    return reverse("admin:webhooks_app_endpoint_send_example", args=[endpoint.pk])


def offered(client, endpoint: Endpoint) -> list[str]:
    response = client.get(send_example_url(endpoint))
    assert response.status_code == 200
    return [value for value, _ in response.context["form"].fields["event_type"].choices]


def staff_client(*codenames: str) -> Client:
    user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


# --- send an example ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscribed", "expected"),
    [
        ([], ["order.paid", "order.updated", "user.created"]),
        (["order.*"], ["order.paid", "order.updated"]),
        (["user.created", "order.noted"], ["user.created"]),
        (["invoice.sent"], []),
    ],
)
def test_the_form_offers_the_subscribed_types_with_an_example(admin_client, subscribed, expected):
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=subscribed)
    assert offered(admin_client, endpoint) == expected


def test_the_page_says_when_no_type_can_be_sent(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=["x.y"])
    page = admin_client.get(send_example_url(endpoint)).content.decode()
    assert "No event type of the catalog with an example matches" in page
    assert "Send the example" not in page
    response = admin_client.post(send_example_url(endpoint), {"event_type": "order.paid"})
    assert response.status_code == 200  # the form again: the type is not a choice
    assert not Event.objects.exists()


def test_the_page_shows_each_types_example_as_json(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=["order.paid"])
    page = admin_client.get(send_example_url(endpoint)).content.decode()
    assert "An order was paid." in page
    assert "&quot;order_id&quot;: 42" in page


def test_the_change_page_links_to_it_for_those_who_may_send(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    assert send_example_url(endpoint) in admin_client.get(change(endpoint)).content.decode()
    viewer = staff_client("view_endpoint")
    page = viewer.get(change(endpoint))
    assert page.status_code == 200
    assert send_example_url(endpoint) not in page.content.decode()


@pytest.mark.parametrize(
    ("codenames", "status"),
    [
        (("view_endpoint",), 403),  # may see the endpoint, not send events
        (("add_event",), 403),  # may send events, not see the endpoint
        (("view_endpoint", "add_event"), 200),
        (("change_endpoint", "add_event"), 200),
    ],
)
def test_sending_needs_the_test_event_permissions(codenames, status):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    client = staff_client(*codenames)
    assert client.get(send_example_url(endpoint)).status_code == status
    response = client.post(send_example_url(endpoint), {"event_type": "order.paid"})
    assert response.status_code == (302 if status == 200 else 403)
    assert Event.objects.exists() is (status == 200)


def test_the_form_is_csrf_protected(admin_user):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(send_example_url(endpoint), {"event_type": "order.paid"})
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_a_missing_endpoint_redirects(admin_client):
    response = admin_client.get(reverse("admin:webhooks_app_endpoint_send_example", args=[999]))
    assert response.status_code == 302


def test_sending_records_the_example_for_that_endpoint_alone(
    admin_client, django_capture_on_commit_callbacks
):
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=["order.*"])
    other = Endpoint.objects.create(url="https://other.example.com/hook")  # would match too

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            send_example_url(endpoint), {"event_type": "order.paid"}, follow=True
        )

    assert response.redirect_chain == [(change(endpoint), 302)]
    event = Event.objects.get()
    assert (event.event_type, event.payload) == ("order.paid", PAID_EXAMPLE)
    delivery = Delivery.objects.get()
    assert (delivery.event_id, delivery.endpoint_id) == (event.pk, endpoint.pk)
    assert not other.deliveries.exists()
    assert not OutboxEntry.objects.filter(event=event).exists()  # no fan-out adds others
    assert len(callbacks) == 1  # the delivery is enqueued once the transaction commits
    notes = [str(message) for message in response.context["messages"]]
    assert notes == [
        f"Example of order.paid queued for https://example.com/hook as event {event.pk}. "
        f'<a href="{change(delivery)}">View the delivery</a>'
    ]


def test_a_disabled_endpoints_example_waits(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    endpoint.disable("maintenance")
    response = admin_client.post(
        send_example_url(endpoint), {"event_type": "user.created"}, follow=True
    )
    notes = [str(message) for message in response.context["messages"]]
    assert notes[1] == "This endpoint is disabled: the example waits until it is enabled again."
    assert Delivery.objects.get().status == Delivery.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_the_example_reaches_the_endpoint_signed(admin_client, http_server, celery_worker):
    """Through a real worker to a real HTTP server: the Standard Webhooks body with that type
    and its example, signed with the endpoint's secret; nothing to the other endpoint."""
    endpoint = Endpoint.objects.create(url=http_server.url("/chosen"), event_types=["order.*"])
    Endpoint.objects.create(url=http_server.url("/other"))

    response = admin_client.post(send_example_url(endpoint), {"event_type": "order.paid"})
    assert response.status_code == 302

    (request,) = http_server.wait_for(1)
    event = Event.objects.get()
    assert request.path == "/chosen"
    assert request.headers["webhook-id"] == str(event.pk)
    body = request.json()
    assert (body["type"], body["data"]) == ("order.paid", PAID_EXAMPLE)
    Webhook(endpoint.secret).verify(request.body, request.headers)
    wait_until(lambda: Delivery.objects.get().status == Delivery.Status.SUCCEEDED)
    assert [r.path for r in http_server.requests] == ["/chosen"]


def test_send_example_refuses_unknown_types_and_types_without_an_example():
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    for name in ("never.registered", "order.noted"):
        with pytest.raises(LookupError):
            operations.send_example(endpoint, name)
    assert not Event.objects.exists()


# --- deprecated types ----------------------------------------------------------------


def test_the_list_flags_endpoints_naming_deprecated_types(admin_client):
    Endpoint.objects.create(url="https://a.example.com/", event_types=["order.updated"])
    Endpoint.objects.create(url="https://b.example.com/", event_types=["order.*"])
    page = admin_client.get(changelist(Endpoint)).content.decode()
    assert page.count("⚠ deprecated:") == 1
    assert "deprecated:</strong> order.updated</span>" in page


def test_the_change_page_warns_about_deprecated_types(admin_client):
    flagged = Endpoint.objects.create(
        url="https://a.example.com/", event_types=["order.paid", "order.updated"]
    )
    response = admin_client.get(change(flagged))
    notes = [str(message) for message in response.context["messages"]]
    assert notes == [
        "This endpoint subscribes to deprecated event types: order.updated. They will be "
        "removed; subscribe to their replacements."
    ]
    fine = Endpoint.objects.create(url="https://b.example.com/", event_types=["order.paid"])
    assert list(admin_client.get(change(fine)).context["messages"]) == []


def test_the_send_example_page_marks_breadcrumbs_up_as_the_running_admin_does(admin_client):
    from django.urls import reverse

    from webhooks_app.models import Endpoint

    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    change = admin_client.get(reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk]))
    django_uses = "ol" if '<ol class="breadcrumbs">' in change.content.decode() else "div"
    page = admin_client.get(
        reverse("admin:webhooks_app_endpoint_send_example", args=[endpoint.pk])
    ).content.decode()
    assert f'<{django_uses} class="breadcrumbs">' in page
    assert "Send an example" in page.split('class="breadcrumbs">', 1)[1]


@pytest.mark.parametrize("event_types", [["order.paid"], ["x.y"]])
def test_the_way_back_is_styled_as_the_admins_own_close_button(admin_client, event_types):
    """Django's read-only change page ends with ``<a class="closelink">``; ``a.button`` is
    the admin's small inline button (4 px by 5 px of padding), not a submit row's."""
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=event_types)
    page = admin_client.get(send_example_url(endpoint)).content.decode()
    row = page.split('<div class="submit-row">', 1)[1].split("</div>", 1)[0]
    assert 'class="closelink"' in row and 'class="button' not in row
