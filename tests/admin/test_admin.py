"""The Django admin: every page, filter and action, through the admin's own views."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import urlencode

from tests.receivers import behaviour
from webhooks_app import operations
from webhooks_app.admin.display import mask_secret
from webhooks_app.models import Attempt, Delivery, Endpoint, Event, InboundEvent

pytestmark = pytest.mark.django_db

Status = Delivery.Status


# --- helpers -------------------------------------------------------------------


def changelist(model) -> str:
    return reverse(f"admin:webhooks_app_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:webhooks_app_{obj._meta.model_name}_change", args=[obj.pk])


def run_action(client, model, action: str, objects, **extra) -> list[str]:
    """Post an action from the changelist, as the admin's form does; return the messages."""
    response = client.post(
        changelist(model),
        {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0, **extra},
        follow=True,
    )
    assert response.redirect_chain, response.content[:2000]
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def header_rows(headers: dict[str, str], blank: int = 1) -> dict[str, str]:
    """Extra headers as the endpoint form's name/value rows post them (and blank rows)."""
    rows = [*headers.items(), *[("", "")] * blank]
    data = {}
    for number, (name, value) in enumerate(rows):
        data |= {f"headers_{number}_name": name, f"headers_{number}_value": value}
    return data


def make_delivery(
    endpoint: Endpoint,
    status: str = Status.SUCCEEDED,
    codes: tuple[int | None, ...] = (200,),
    *,
    event_type: str = "order.paid",
    age: timedelta = timedelta(minutes=5),
    payload: dict | None = None,
) -> Delivery:
    created = timezone.now() - age
    event = Event.objects.create(
        event_type=event_type, payload=payload or {"order_id": 42}, created_at=created
    )
    delivery = Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        status=status,
        attempt_count=len(codes),
        last_status_code=codes[-1] if codes else None,
        last_error="" if not codes or codes[-1] == 200 else f"HTTP {codes[-1]}",
        next_attempt_at=created if status == Status.PENDING else None,
        finished_at=None if status == Status.PENDING else created,
        created_at=created,
    )
    for number, code in enumerate(codes, start=1):
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            status_code=code,
            error="" if code == 200 else f"Server answered {code}",
            duration_ms=100 + number,
            response_body="ok" if code == 200 else "Service Unavailable",
            created_at=created,
        )
    return delivery


def populate(count: int) -> list[Endpoint]:
    """``count`` endpoints, each with a few deliveries of every status."""
    endpoints = []
    for n in range(count):
        endpoint = Endpoint.objects.create(
            url=f"https://example.com/hooks/{n}", event_types=["order.paid"] if n % 2 else []
        )
        make_delivery(endpoint)
        make_delivery(endpoint, Status.FAILED, (503, 503, 503))
        make_delivery(endpoint, Status.PENDING, ())
        endpoints.append(endpoint)
    return endpoints


def inbound(event_id: str, status: str = InboundEvent.Status.FAILED, **fields) -> InboundEvent:
    defaults = {
        "source": "standard",
        "event_type": "order.paid",
        "payload": {"type": "order.paid", "data": {"order_id": 7}},
        "headers": {"webhook-id": event_id},
        "receiver": "tests.receivers.StandardReceiver",
        "error": "RuntimeError: handler failed on purpose" if status == "failed" else "",
    }
    return InboundEvent.objects.create(event_id=event_id, status=status, **{**defaults, **fields})


def load_every_filter(client, model) -> int:
    """GET every choice of every filter of the list; return how many were loaded."""
    response = client.get(changelist(model))
    assert response.status_code == 200
    loaded = 0
    for spec in response.context["cl"].filter_specs:
        for choice in spec.choices(response.context["cl"]):
            page = client.get(changelist(model) + choice["query_string"])
            assert page.status_code == 200, (spec.title, choice["query_string"])
            assert "errornote" not in page.content.decode(), choice["query_string"]
            loaded += 1
    return loaded


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


@pytest.fixture
def viewer(client):
    """A staff user who may view webhooks_app's models but change nothing (nor see secrets)."""
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="webhooks_app", codename__startswith="view"
        ).exclude(codename="view_endpoint_secret")
    )
    client.force_login(user)
    return client


# --- the whole admin ---------------------------------------------------------------


EXPECTED_ACTIONS = {
    Endpoint: {
        "delete_selected",
        "send_test_event",
        "rotate_secret",
        "enable",
        "disable",
        "retry_failed_deliveries",
    },
    Event: set(),
    Delivery: {"retry_now", "cancel"},  # the audit trail, as events: no delete
    InboundEvent: {"delete_selected", "reprocess"},
}


def test_every_model_is_registered_with_exactly_the_tested_actions(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    for model, expected in EXPECTED_ACTIONS.items():
        model_admin = django_admin.site._registry[model]
        assert set(model_admin.get_actions(request)) == expected, model


def test_admin_strings_are_translatable():
    checked = 0
    for model in EXPECTED_ACTIONS:
        model_admin = django_admin.site._registry[model]
        inlines = [inline(model, django_admin.site) for inline in model_admin.inlines]
        for owner in (model_admin, *inlines):
            names = {
                *(getattr(owner, "actions", None) or ()),
                *getattr(owner, "list_display", ()),
                *(owner.fields or ()),
                *(name for name in dir(type(owner)) if not name.startswith("_")),
            }
            for name in names - {"delete_selected"}:
                function = getattr(owner, name, None)
                if not callable(function) or not hasattr(function, "short_description"):
                    continue  # a model field: its verbose_name is translatable in models.py
                assert isinstance(function.short_description, Promise), (owner, name)
                checked += 1
    assert checked >= 40


def test_index_lists_the_models(admin_client):
    response = admin_client.get(reverse("admin:app_list", args=["webhooks_app"]))
    assert response.status_code == 200
    for text in ("Endpoints", "Events", "Deliveries", "Inbound events"):
        assert text in response.content.decode()


# --- endpoints -----------------------------------------------------------------------


def test_endpoint_list_shows_health_without_revealing_secrets(admin_client):
    good = Endpoint.objects.create(url="https://good.example.com/hook", description="Shop")
    bad = Endpoint.objects.create(url="https://bad.example.com/hook", event_types=["order.*"])
    for _ in range(3):
        make_delivery(good)
    make_delivery(good, Status.FAILED, (500, 500, 500))
    make_delivery(good, age=timedelta(days=2))  # outside the 24 h window
    make_delivery(bad, Status.FAILED, (503,))
    bad.rotate_secret()
    bad.disable("Disabled by someone")
    Endpoint.objects.filter(pk=bad.pk).update(failure_streak=7)

    response = admin_client.get(changelist(Endpoint))

    assert response.status_code == 200
    html = response.content.decode()
    rows = {obj.pk: obj for obj in response.context["cl"].result_list}
    assert (rows[good.pk].deliveries_24h, rows[good.pk].succeeded_24h) == (4, 3)
    assert (rows[good.pk].failed_24h, rows[good.pk].last_status_code) == (1, 500)
    assert (rows[bad.pk].deliveries_24h, rows[bad.pk].last_status_code) == (1, 503)
    assert "75.0 %" in html and "(3/4)" in html
    assert "0 %" in html and "(0/1)" in html
    assert "Disabled by someone" in html and "order.*" in html and "Shop" in html
    assert ">7 failures in a row</strong>" in html  # the failure streak, under last status
    for endpoint in Endpoint.objects.all():
        assert endpoint.secret not in html
        assert endpoint.previous_secret == "" or endpoint.previous_secret not in html


def test_endpoint_list_query_count_does_not_grow_with_endpoints(admin_client):
    populate(2)
    few = queries_for(admin_client, changelist(Endpoint))
    populate(20)
    many = queries_for(admin_client, changelist(Endpoint))

    assert few == many
    assert many <= 8


def test_endpoint_search_filters_and_sorting(admin_client):
    Endpoint.objects.create(url="https://shop.example.com/a", description="the shop")
    Endpoint.objects.create(url="https://crm.example.com/b", event_types=["user.*"])
    off = Endpoint.objects.create(url="https://old.example.com/c")
    off.disable("gone")
    Endpoint.objects.filter(pk=off.pk).update(failure_streak=3)

    def urls(query: str) -> set[str]:
        response = admin_client.get(changelist(Endpoint) + query)
        assert response.status_code == 200
        return {obj.url for obj in response.context["cl"].result_list}

    assert urls("?q=crm") == {"https://crm.example.com/b"}
    assert urls("?q=shop") == {"https://shop.example.com/a"}  # description
    assert urls("?is_active__exact=0") == {"https://old.example.com/c"}
    assert urls("?health=failing") == {"https://old.example.com/c"}
    assert len(urls("?health=healthy")) == 2
    assert urls("?subscribed=user.*") == {"https://crm.example.com/b"}
    assert "https://crm.example.com/b" not in urls("?subscribed=__all__")
    assert load_every_filter(admin_client, Endpoint) >= 8
    for column in range(1, 8):
        for order in (str(column), f"-{column}"):
            assert admin_client.get(changelist(Endpoint) + f"?o={order}").status_code == 200


def test_endpoint_list_sorts_by_success_rate(admin_client):
    worst = Endpoint.objects.create(url="https://worst.example.com/")
    best = Endpoint.objects.create(url="https://best.example.com/")
    make_delivery(worst, Status.FAILED, (500,))
    make_delivery(best)

    idle = Endpoint.objects.create(url="https://idle.example.com/")  # no deliveries: no rate

    def order(query: str) -> list[int]:
        response = admin_client.get(changelist(Endpoint) + query)
        assert response.status_code == 200
        return [obj.pk for obj in response.context["cl"].result_list]

    assert order("?o=4") == [worst.pk, best.pk, idle.pk]  # success rate, ascending
    assert order("?o=-4")[-2:] == [best.pk, worst.pk]


def test_endpoint_add_page_generates_the_secret(admin_client):
    assert admin_client.get(reverse("admin:webhooks_app_endpoint_add")).status_code == 200

    response = admin_client.post(
        reverse("admin:webhooks_app_endpoint_add"),
        {
            "url": "https://new.example.com/hook",
            "description": "",
            "secret": "",
            "patterns": "order.paid",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    endpoint = Endpoint.objects.get(url="https://new.example.com/hook")
    assert endpoint.secret.startswith("whsec_") and endpoint.event_types == ["order.paid"]


@pytest.mark.parametrize(
    "headers",
    [
        {"host\n": "evil.example"},
        {"Transfer-Encoding": "chunked"},
        {"X-Tenant": "a\u0001b"},
        {"X-Tenant": "a\r\nX-Injected: 1"},
        {"X-Note": "caf\u00e9 \u2615"},
        {"X-T\u00e9st": "1"},
    ],
)
def test_endpoint_add_page_refuses_headers_http_cannot_send(admin_client, headers):
    response = admin_client.post(
        reverse("admin:webhooks_app_endpoint_add"),
        {
            "url": "https://new.example.com/hook",
            "secret": "",
            "all_types": "on",
            **header_rows(headers),
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors.keys() == {"headers"}
    assert not Endpoint.objects.exists()


def test_circuit_breaker_state_is_shown_on_the_list_and_the_change_page(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    endpoint = Endpoint.objects.create(url="https://example.com/hook", rate_limit=10)
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        circuit_opened_at=now, paused_until=now + timedelta(seconds=30), circuit_failures=5
    )
    listed = admin_client.get(changelist(Endpoint)).content.decode()
    assert "Active, circuit open" in listed and "next probe at" in listed
    page = admin_client.get(change(endpoint)).content.decode()
    assert "after 5 timeouts or errors in a row" in page
    assert 'name="rate_limit" value="10"' in page
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_opened_at=None, paused_until=None)
    assert "circuit open" not in admin_client.get(changelist(Endpoint)).content.decode()


def test_the_change_page_shows_the_breakers_failure_rate_apart_from_the_days_rates(
    admin_client, settings
):
    """Three rates on one page, each saying what it counts over which time: the breaker's
    (tries, a window of seconds), the day's deliveries, the day's tries."""
    from datetime import timedelta

    from django.utils import timezone

    from webhooks_app import breaker

    settings.WEBHOOKS = {**settings.WEBHOOKS, "CIRCUIT_BREAKER_WINDOW": 86_400}  # no boundary
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        window_started_at=breaker.window_start(now, 86_400),
        window_requests=40,
        window_failures=20,
        circuit_failures=2,
        circuit_opened_at=now,
        paused_until=now + timedelta(seconds=30),
    )
    page = admin_client.get(change(endpoint)).content.decode()
    assert "open since" in page and "on its failure rate; next probe at" in page
    assert "failure rate 50 % over roughly the last 86400 s (20 of 40 requests)" in page
    assert "delivered" in page and "Success rate, 24 h" in page
    assert "success rate" not in page  # the day's deliveries are "delivered", not a rate

    Endpoint.objects.filter(pk=endpoint.pk).update(window_started_at=None, window_requests=0)
    assert "over roughly the last" not in admin_client.get(change(endpoint)).content.decode()


def test_endpoint_change_page_masks_the_secret_and_links_to_reveal_it(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    make_delivery(endpoint)
    endpoint.rotate_secret()

    response = admin_client.get(change(endpoint))

    html = response.content.decode()
    assert response.status_code == 200
    assert mask_secret(endpoint.secret) in html and mask_secret(endpoint.previous_secret) in html
    assert endpoint.secret not in html and endpoint.previous_secret not in html
    assert reverse("admin:webhooks_app_endpoint_secret", args=[endpoint.pk]) in html
    assert f"?endpoint__id__exact={endpoint.pk}" in html  # its deliveries
    assert "1 delivery" in html


def test_reveal_shows_the_secret_and_records_it_in_the_history(admin_client, admin_user):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    endpoint.rotate_secret()

    response = admin_client.get(reverse("admin:webhooks_app_endpoint_secret", args=[endpoint.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert endpoint.secret in html and endpoint.previous_secret in html
    assert "no-store" in response["Cache-Control"]
    entry = LogEntry.objects.get(object_id=str(endpoint.pk))
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert "Revealed" in entry.get_change_message()
    history = reverse("admin:webhooks_app_endpoint_history", args=[endpoint.pk])
    assert admin_client.get(history).status_code == 200


def test_reveal_of_a_missing_endpoint_redirects(admin_client):
    response = admin_client.get(reverse("admin:webhooks_app_endpoint_secret", args=[999]))
    assert response.status_code == 302


def test_staff_without_change_permission_cannot_reveal_or_act(viewer):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    secret_url = reverse("admin:webhooks_app_endpoint_secret", args=[endpoint.pk])

    page = viewer.get(change(endpoint))
    assert page.status_code == 200
    assert mask_secret(endpoint.secret) in page.content.decode()
    assert secret_url not in page.content.decode()
    assert viewer.get(secret_url).status_code == 403
    assert not LogEntry.objects.exists()

    listing = viewer.get(changelist(Endpoint))
    assert listing.status_code == 200
    assert "send_test_event" not in listing.content.decode()  # no actions offered
    response = viewer.post(
        changelist(Endpoint),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk], "index": 0},
    )
    assert Endpoint.objects.get().secret == endpoint.secret
    assert response.status_code == 200  # no actions at all: the list is shown again


def test_unticking_active_on_the_change_page_disables_with_a_reason(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    secret = endpoint.secret
    form = {
        "url": endpoint.url,
        "description": "",
        "all_types": "on",
        "secret": "whsec_c2V0IGZyb20gdGhlIGZvcm0=",  # not a field of the change form
    }

    assert admin_client.post(change(endpoint), form).status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_reason == "Disabled by admin in the admin"
    assert endpoint.disabled_at is not None

    Endpoint.objects.filter(pk=endpoint.pk).update(failure_streak=9)
    assert admin_client.post(change(endpoint), {**form, "is_active": "on"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == "" and endpoint.failure_streak == 0
    assert endpoint.secret == secret


def test_the_contact_address_is_edited_on_the_add_and_change_pages(admin_client):
    form = {"url": "https://example.com/hook", "description": "", "all_types": "on"}
    form |= {"secret": "", "is_active": "on"}
    add = reverse("admin:webhooks_app_endpoint_add")
    response = admin_client.post(add, {**form, "contact_email": "ops@example.com"})
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.contact_email == "ops@example.com"
    assert 'value="ops@example.com"' in admin_client.get(change(endpoint)).content.decode()

    response = admin_client.post(change(endpoint), {**form, "contact_email": "new@example.com"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "new@example.com"

    response = admin_client.post(change(endpoint), {**form, "contact_email": "not an address"})
    assert response.status_code == 200 and "contact_email" in response.context["adminform"].errors


def test_action_send_test_event(admin_client, django_capture_on_commit_callbacks):
    endpoint = Endpoint.objects.create(url="https://example.com/hook", event_types=["order.*"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notes = run_action(admin_client, Endpoint, "send_test_event", [endpoint])

    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.event.event_type == operations.TEST_EVENT_TYPE
    assert delivery.status == Status.PENDING and delivery.next_attempt_at is not None
    assert len(callbacks) == 1  # the wake-up, sent once the action's transaction committed
    assert notes == [
        f"Test event {delivery.event_id} queued for https://example.com/hook. "
        f'<a href="{change(delivery)}">View the delivery</a>'
    ]


def test_action_send_test_event_to_several_endpoints_warns_about_disabled_ones(admin_client):
    first = Endpoint.objects.create(url="https://one.example.com/")
    second = Endpoint.objects.create(url="https://two.example.com/")
    second.disable("maintenance")

    notes = run_action(admin_client, Endpoint, "send_test_event", [first, second])

    assert Delivery.objects.filter(event__event_type=operations.TEST_EVENT_TYPE).count() == 2
    assert set(Delivery.objects.values_list("endpoint", flat=True)) == {first.pk, second.pk}
    assert notes == [
        "Test events queued for 2 endpoints.",
        "1 endpoint is disabled: its test delivery waits until it is enabled again.",
    ]


def test_action_rotate_secret(admin_client):
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    other = Endpoint.objects.create(url="https://other.example.com/hook")
    old, other_secret = endpoint.secret, other.secret

    notes = run_action(admin_client, Endpoint, "rotate_secret", [endpoint])

    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    assert endpoint.previous_secret == old
    assert endpoint.previous_secret_expires_at > timezone.now() + timedelta(hours=23)
    assert endpoint.signing_secrets() == [endpoint.secret, old]
    assert Endpoint.objects.get(pk=other.pk).secret == other_secret
    assert notes == [
        "Rotated the secret of 1 endpoint; the previous secret also signs deliveries for 24 hours."
    ]


def test_action_disable_records_who_did_it(admin_client):
    active = Endpoint.objects.create(url="https://a.example.com/")
    already = Endpoint.objects.create(url="https://b.example.com/")
    already.disable("earlier")

    notes = run_action(admin_client, Endpoint, "disable", [active, already])

    active.refresh_from_db()
    assert not active.is_active and active.disabled_reason == "Disabled by admin in the admin"
    assert Endpoint.objects.get(pk=already.pk).disabled_reason == "earlier"
    assert notes == ["Disabled 1 endpoint. 1 already disabled."]


def test_action_enable(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    endpoint.disable("410 Gone")
    Endpoint.objects.filter(pk=endpoint.pk).update(failure_streak=50)

    notes = run_action(admin_client, Endpoint, "enable", [endpoint])

    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == "" and endpoint.failure_streak == 0
    assert notes == ["Enabled 1 endpoint; its pending deliveries go out on the next sweep."]
    assert run_action(admin_client, Endpoint, "enable", [endpoint]) == [
        "Enabled 0 endpoints; their pending deliveries go out on the next sweep. 1 already active."
    ]


def test_action_retry_failed_deliveries(admin_client, django_capture_on_commit_callbacks):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    other = Endpoint.objects.create(url="https://b.example.com/")
    failed = [make_delivery(endpoint, Status.FAILED, (500,)) for _ in range(2)]
    succeeded = make_delivery(endpoint)
    elsewhere = make_delivery(other, Status.FAILED, (500,))

    with django_capture_on_commit_callbacks() as callbacks:
        notes = run_action(admin_client, Endpoint, "retry_failed_deliveries", [endpoint])

    assert notes == ["Retrying 2 failed deliveries now."]
    for delivery in failed:
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING and delivery.next_attempt_at is not None
    assert Delivery.objects.get(pk=succeeded.pk).status == Status.SUCCEEDED
    assert Delivery.objects.get(pk=elsewhere.pk).status == Status.FAILED
    assert len(callbacks) == 2


def test_action_retry_failed_deliveries_with_none_failed(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    endpoint.disable("paused")
    make_delivery(endpoint)

    notes = run_action(admin_client, Endpoint, "retry_failed_deliveries", [endpoint])

    assert notes == ["Retrying 0 failed deliveries now."]
    assert Delivery.objects.get().status == Status.SUCCEEDED


def test_action_delete_endpoint_with_its_deliveries(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    make_delivery(endpoint, Status.FAILED, (500, 500))

    confirm = admin_client.post(
        changelist(Endpoint),
        {"action": "delete_selected", "_selected_action": [endpoint.pk], "index": 0},
    )
    assert confirm.status_code == 200 and b"Are you sure" in confirm.content
    run_action(admin_client, Endpoint, "delete_selected", [endpoint], post="yes")

    assert not Endpoint.objects.exists() and not Delivery.objects.exists()
    assert not Attempt.objects.exists() and Event.objects.count() == 1


def test_endpoint_delete_page(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    make_delivery(endpoint)
    url = reverse("admin:webhooks_app_endpoint_delete", args=[endpoint.pk])
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Endpoint.objects.exists()


# --- events ------------------------------------------------------------------------


def test_event_pages_are_read_only(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(
        endpoint, Status.FAILED, (503, 410), payload={"order": {"id": 42, "note": "<b>"}}
    )
    event = delivery.event
    Delivery.objects.create(event=event, endpoint=Endpoint.objects.create(url="https://b.c/"))

    listing = admin_client.get(changelist(Event))
    assert listing.status_code == 200
    assert "1 failed" in listing.content.decode() and "1 pending" in listing.content.decode()
    assert reverse("admin:webhooks_app_event_add") not in listing.content.decode()

    page = admin_client.get(change(event))
    html = page.content.decode()
    assert page.status_code == 200
    assert "&quot;order&quot;: {\n    &quot;id&quot;: 42," in html  # indented
    assert "&quot;note&quot;: &quot;&lt;b&gt;&quot;" in html  # and escaped
    assert "<pre" in html and "<b>" not in html
    assert "https://a.example.com/" in html and "https://b.c/" in html  # deliveries inline
    assert "410" in html and 'name="_save"' not in html
    assert change(delivery) in html  # the inline links to the delivery

    assert admin_client.get(reverse("admin:webhooks_app_event_add")).status_code == 403
    delete = reverse("admin:webhooks_app_event_delete", args=[event.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(change(event), {"event_type": "changed"}).status_code == 403
    assert Event.objects.get(pk=event.pk).event_type == "order.paid"


def test_event_search_filters_and_date_hierarchy(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    paid = make_delivery(endpoint).event
    make_delivery(endpoint, event_type="user.created", age=timedelta(days=40))
    Event.objects.filter(pk=paid.pk).update(idempotency_key="order-42-paid")

    def ids(query: str) -> set[str]:
        response = admin_client.get(changelist(Event) + query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert ids(f"?q={paid.pk}") == {paid.pk}
    assert ids("?q=order-42-paid") == {paid.pk}
    assert ids("?event_type=order.paid") == {paid.pk}
    today = timezone.localdate()
    assert paid.pk in ids(f"?created_at__year={today.year}&created_at__month={today.month}")
    assert load_every_filter(admin_client, Event) >= 7


def test_event_list_query_count_does_not_grow(admin_client):
    populate(2)
    few = queries_for(admin_client, changelist(Event))
    populate(15)
    assert queries_for(admin_client, changelist(Event)) == few


# --- deliveries ----------------------------------------------------------------------


def test_delivery_change_page_shows_attempts(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.FAILED, (503, 503))
    Attempt.objects.create(
        delivery=delivery,
        number=3,
        status_code=None,
        error_type="timeout",
        error="ReadTimeout: read timed out after 15 s",
        duration_ms=15003,
        trigger=Attempt.Trigger.MANUAL,
    )
    Attempt.objects.filter(delivery=delivery, number=2).update(response_body="x" * 5000)

    response = admin_client.get(change(delivery))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Service Unavailable" in html and "ReadTimeout: read timed out" in html
    assert "15003 ms" in html and "101 ms" in html and "manual" in html
    assert "x" * 2000 in html and "x" * 2001 not in html and "3000 more characters" in html
    assert "&quot;order_id&quot;: 42" in html  # the payload
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "order.paid" in html and "https://a.example.com/" in html


def test_delivery_list_filters_search_and_dates(admin_client):
    first = Endpoint.objects.create(url="https://first.example.com/")
    second = Endpoint.objects.create(url="https://second.example.com/")
    ok = make_delivery(first)
    failed = make_delivery(second, Status.FAILED, (500,), event_type="user.created")
    old = make_delivery(first, Status.PENDING, (), age=timedelta(days=60))

    def pks(query: str) -> set[int]:
        response = admin_client.get(changelist(Delivery) + query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert pks("?status__exact=failed") == {failed.pk}
    assert pks(f"?endpoint__id__exact={first.pk}") == {ok.pk, old.pk}
    assert pks("?event_type=user.created") == {failed.pk}
    assert pks("?q=second.example") == {failed.pk}
    assert pks(f"?q={ok.event_id}") == {ok.pk}
    today = timezone.localdate()
    this_month = f"?created_at__year={today.year}&created_at__month={today.month}"
    assert ok.pk in pks(this_month) and old.pk not in pks(this_month)
    since = (timezone.now() - timedelta(days=7)).isoformat()
    assert old.pk not in pks("?" + urlencode({"created_at__gte": since}))
    assert load_every_filter(admin_client, Delivery) >= 12
    for column in range(1, 9):
        assert admin_client.get(changelist(Delivery) + f"?o={column}").status_code == 200


def test_delivery_list_query_count_does_not_grow(admin_client):
    populate(2)
    few = queries_for(admin_client, changelist(Delivery))
    populate(15)
    many = queries_for(admin_client, changelist(Delivery))
    assert few == many


def test_action_retry_now(admin_client, django_capture_on_commit_callbacks):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    failed = make_delivery(endpoint, Status.FAILED, (500,))
    pending = make_delivery(endpoint, Status.PENDING, (503,), age=timedelta(hours=1))
    Delivery.objects.filter(pk=pending.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=2)
    )
    succeeded = make_delivery(endpoint)

    with django_capture_on_commit_callbacks() as callbacks:
        notes = run_action(admin_client, Delivery, "retry_now", [failed, pending, succeeded])

    assert notes == ["Retrying 2 deliveries now. 1 had succeeded already and was left alone."]
    now = timezone.now()
    for delivery in (failed, pending):
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING and delivery.next_attempt_at <= now
        assert delivery.finished_at is None
    assert Delivery.objects.get(pk=succeeded.pk).status == Status.SUCCEEDED
    assert len(callbacks) == 2


def test_action_cancel(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    pending = make_delivery(endpoint, Status.PENDING, (503,))
    succeeded = make_delivery(endpoint)

    notes = run_action(admin_client, Delivery, "cancel", [pending, succeeded])

    pending.refresh_from_db()
    assert pending.status == Status.FAILED and pending.next_attempt_at is None
    assert pending.last_error == "Cancelled by admin in the admin"
    assert pending.finished_at is not None
    assert Delivery.objects.get(pk=succeeded.pk).status == Status.SUCCEEDED
    assert notes == ["Cancelled 1 pending delivery. 1 was not pending and was left alone."]


def test_deliveries_have_no_delete_action(admin_client):
    """Removed with the delete button (issue 10 #7): a posted delete_selected deletes nothing."""
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.FAILED, (500,))

    admin_client.post(
        changelist(Delivery),
        {"action": "delete_selected", "_selected_action": [delivery.pk], "post": "yes"},
    )

    assert Delivery.objects.filter(pk=delivery.pk).exists() and Attempt.objects.exists()


def test_deliveries_cannot_be_added_or_edited(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.FAILED, (500,))
    assert admin_client.get(reverse("admin:webhooks_app_delivery_add")).status_code == 403
    admin_client.post(change(delivery), {"status": "succeeded", "attempt_count": 9})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (Status.FAILED, 1)


# --- inbound events ---------------------------------------------------------------------


def test_inbound_list_filters_and_search(admin_client):
    failed = inbound("msg_failed")
    done = inbound("evt_1", InboundEvent.Status.PROCESSED, source="stripe", event_type="charge")
    inbound("msg_pending", InboundEvent.Status.PENDING, event_type="user.created")

    def event_ids(query: str) -> set[str]:
        response = admin_client.get(changelist(InboundEvent) + query)
        assert response.status_code == 200
        return {obj.event_id for obj in response.context["cl"].result_list}

    assert event_ids("?source=stripe") == {"evt_1"}
    assert event_ids("?status__exact=failed") == {"msg_failed"}
    assert event_ids("?event_type=user.created") == {"msg_pending"}
    assert event_ids("?q=evt_1") == {"evt_1"}
    today = timezone.localdate()
    assert len(event_ids(f"?received_at__year={today.year}")) == 3
    assert load_every_filter(admin_client, InboundEvent) >= 12
    assert failed.pk and done.pk


def test_inbound_change_page_shows_payload_and_error(admin_client):
    event = inbound("msg_1", payload={"type": "order.paid", "data": {"order_id": 7}})

    response = admin_client.get(change(event))

    html = response.content.decode()
    assert response.status_code == 200
    assert "RuntimeError: handler failed on purpose" in html
    assert "  &quot;data&quot;: {\n    &quot;order_id&quot;: 7\n  }" in html
    assert "&quot;webhook-id&quot;: &quot;msg_1&quot;" in html  # headers
    assert 'name="_save"' not in html
    assert admin_client.get(reverse("admin:webhooks_app_inboundevent_add")).status_code == 403


def test_inbound_list_query_count_does_not_grow(admin_client):
    for n in range(2):
        inbound(f"a{n}")
    few = queries_for(admin_client, changelist(InboundEvent))
    for n in range(20):
        inbound(f"b{n}", source=f"source{n % 3}")
    assert queries_for(admin_client, changelist(InboundEvent)) == few


def test_action_reprocess(admin_client):
    behaviour.fail_times = 0
    failed = inbound("msg_1")
    broken = inbound("msg_2", receiver="tests.receivers.NoSuchReceiver")
    done = inbound("msg_3", InboundEvent.Status.PROCESSED)

    notes = run_action(admin_client, InboundEvent, "reprocess", [failed, broken, done])

    assert notes == ["Reprocessed: 1 processed, 1 failed, 1 skipped (already processed)."]
    failed.refresh_from_db()
    assert failed.status == InboundEvent.Status.PROCESSED and failed.error == ""
    assert behaviour.runs == 1  # only the failed one ran; the processed one did not
    broken.refresh_from_db()
    assert broken.status == InboundEvent.Status.FAILED and "NoSuchReceiver" in broken.error


def test_action_reprocess_reports_a_failing_handler(admin_client):
    behaviour.fail_times = 1
    event = inbound("msg_1")

    notes = run_action(admin_client, InboundEvent, "reprocess", [event])

    assert notes == ["Reprocessed: 0 processed, 1 failed."]
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED and event.processing_attempts == 1


def test_action_delete_inbound_events(admin_client):
    event = inbound("msg_1")
    run_action(admin_client, InboundEvent, "delete_selected", [event], post="yes")
    assert not InboundEvent.objects.exists()


def test_the_secret_page_marks_breadcrumbs_up_as_the_running_admin_does(admin_client):
    """Django 6.1 styles only <ol class="breadcrumbs">, earlier versions <div class=...>:
    the app's own page uses whatever the running admin's change form uses."""
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    change = admin_client.get(reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk]))
    secret = admin_client.get(
        reverse("admin:webhooks_app_endpoint_secret", args=[endpoint.pk])
    ).content.decode()
    django_uses = "ol" if '<ol class="breadcrumbs">' in change.content.decode() else "div"
    assert f'<{django_uses} class="breadcrumbs">' in secret
    crumbs = secret.split('class="breadcrumbs">', 1)[1].split(f"</{django_uses}>", 1)[0]
    assert reverse("admin:webhooks_app_endpoint_changelist") in crumbs
    assert reverse("admin:webhooks_app_endpoint_change", args=[endpoint.pk]) in crumbs
    assert "Signing secret" in crumbs


def test_deliveries_cannot_be_deleted_in_the_admin(admin_client):
    """Events cannot be deleted; their deliveries (the audit trail) neither: no button, 403."""
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.FAILED, (500,))
    page = admin_client.get(change(delivery)).content.decode()
    assert "deletelink" not in page
    delete = reverse("admin:webhooks_app_delivery_delete", args=[delivery.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Delivery.objects.filter(pk=delivery.pk).exists()


def test_attempt_times_show_seconds_and_last_status_names_the_error(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.PENDING, (500,))
    moment = timezone.now().replace(microsecond=0)
    Attempt.objects.create(
        delivery=delivery,
        number=2,
        error_type="timeout",
        error="HTTPSConnectionPool(host='a.example.com', port=443): Read timed out.",
        created_at=moment,
    )
    Attempt.objects.filter(delivery=delivery, number=2).update(created_at=moment)
    Delivery.objects.filter(pk=delivery.pk).update(
        last_status_code=None, last_error="HTTPSConnectionPool(host=...): Read timed out."
    )
    stamp = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")
    page = admin_client.get(change(delivery)).content.decode()
    assert stamp in page  # to the second
    listing = admin_client.get(changelist(Delivery)).content.decode()
    cell = listing.split('class="field-last_status"', 1)[1].split("</td>", 1)[0]
    assert ">timeout<" in cell  # a name, not the HTTP library's text
    assert "HTTPSConnectionPool" in cell.split("title=", 1)[1]  # which stays in the tooltip


def test_a_due_delivery_to_a_disabled_endpoint_says_why_it_waits(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = make_delivery(endpoint, Status.PENDING, (500,))
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(hours=1)
    )
    endpoint.disable("Gone for maintenance")
    listing = admin_client.get(changelist(Delivery)).content.decode()
    assert "waits: its endpoint is disabled (Gone for maintenance)" in listing
    page = admin_client.get(change(delivery)).content.decode()
    assert "waits: its endpoint is disabled" in page


@pytest.mark.parametrize("model", [Endpoint, Delivery, Event, InboundEvent])
def test_the_lists_load_the_apps_styles(admin_client, model):
    """The stylesheet that wraps long cells, so a list fits the page (issue 10 #7)."""
    assert "webhooks_app/admin.css" in admin_client.get(changelist(model)).content.decode()


def test_endpoint_last_status_names_the_latest_deliverys_error(admin_client):
    """Status, error and error type all come from the latest tried delivery, even when an
    older delivery's retry is the most recent attempt."""
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    older = make_delivery(endpoint, Status.PENDING, (None,), age=timedelta(hours=2))
    newer = make_delivery(endpoint, Status.PENDING, (None,), age=timedelta(hours=1))
    Attempt.objects.filter(delivery=newer).update(
        error_type="connection", created_at=timezone.now() - timedelta(hours=1)
    )
    Attempt.objects.filter(delivery=older).update(error_type="timeout", created_at=timezone.now())
    listing = admin_client.get(changelist(Endpoint)).content.decode()
    cell = listing.split('class="field-last_status"', 1)[1].split("</td>", 1)[0]
    assert ">connection failed<" in cell


@pytest.mark.parametrize(
    ("health", "shown"),
    [
        ({"failure_streak": 1, "paused_until": 60}, ["Active, paused", "429 Too Many Requests"]),
        ({"failure_streak": 4}, ["Active, failing", "4 failed attempts in a row"]),
        ({"is_active": False, "disabled_reason": "410 Gone"}, ["Disabled", "410 Gone"]),
    ],
)
def test_the_endpoint_list_says_each_state_and_why(admin_client, health, shown):
    """One description (webhooks_app.sending.state) for the admin, the portal and the APIs."""
    endpoint = Endpoint.objects.create(url="https://example.com/hook")
    now = timezone.now()
    if "paused_until" in health:
        health = {**health, "paused_until": now + timedelta(seconds=health["paused_until"])}
    if "failure_streak" in health:
        health = {**health, "failing_since": now}
    Endpoint.objects.filter(pk=endpoint.pk).update(**health)
    listed = admin_client.get(changelist(Endpoint)).content.decode()
    for text in shown:
        assert text in listed, text


# --- ordering keys ---------------------------------------------------------------------


def keyed_delivery(endpoint: Endpoint, key: str, sequence: int, **fields) -> Delivery:
    event = Event.objects.create(
        event_type="order.paid", payload={}, ordering_key=key, sequence=sequence
    )
    return Delivery.objects.create(
        event=event,
        endpoint=endpoint,
        ordering_key=key,
        sequence=sequence,
        next_attempt_at=timezone.now() - timedelta(seconds=5),
        **fields,
    )


def test_the_ordering_key_shows_read_only_on_the_event_and_delivery_pages(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    delivery = keyed_delivery(endpoint, "order-<42>", 1)
    event_page = admin_client.get(change(delivery.event)).content.decode()
    assert "Ordering key" in event_page and "order-&lt;42&gt;" in event_page
    page = admin_client.get(change(delivery)).content.decode()
    query = urlencode({"endpoint__id__exact": endpoint.pk, "ordering_key": "order-<42>"})
    assert f'href="{changelist(Delivery)}?{query.replace("&", "&amp;")}"' in page
    assert 'name="ordering_key"' not in page  # read-only: no input
    unkeyed = make_delivery(endpoint)
    assert "order-" not in admin_client.get(change(unkeyed.event)).content.decode()


def test_deliveries_are_filtered_by_ordering_key_from_a_deliverys_link(admin_client):
    first = Endpoint.objects.create(url="https://first.example.com/")
    second = Endpoint.objects.create(url="https://second.example.com/")
    a1, a2 = keyed_delivery(first, "a", 1), keyed_delivery(first, "a", 2)
    keyed_delivery(second, "a", 3)
    keyed_delivery(first, "b", 4)
    make_delivery(first)

    listing = admin_client.get(changelist(Delivery))
    assert "By ordering key" not in listing.content.decode()  # no choices to list
    query = "?" + urlencode({"endpoint__id__exact": first.pk, "ordering_key": "a"})
    filtered = admin_client.get(changelist(Delivery) + query)
    assert {obj.pk for obj in filtered.context["cl"].result_list} == {a1.pk, a2.pk}
    assert "By ordering key" in filtered.content.decode()


def test_a_delivery_behind_an_earlier_one_of_its_key_says_it_waits(admin_client):
    endpoint = Endpoint.objects.create(url="https://a.example.com/")
    head = keyed_delivery(endpoint, "a", 1, attempt_count=1)
    behind = keyed_delivery(endpoint, "a", 2)
    waits = "waits: an earlier event of its ordering key is not done"
    assert waits in admin_client.get(change(behind)).content.decode()
    assert waits not in admin_client.get(change(head)).content.decode()
    assert admin_client.get(changelist(Delivery)).content.decode().count(waits) == 1
    Delivery.objects.filter(pk=head.pk).update(status=Status.SUCCEEDED)
    assert "due now" in admin_client.get(change(behind)).content.decode()
