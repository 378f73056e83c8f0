"""Who may use each route of the REST API: Django's model permissions, on every route.

The route table below is checked against the URL patterns of ``webhooks_app.api.urls``
(:func:`test_the_table_lists_every_route_of_the_api`), so a new route or action cannot go
untested. Each route is called by an anonymous client, a non-staff user holding every
permission, staff without permissions, staff with view-only permissions, staff with exactly
the route's permissions (and with each one of them missing) and staff with every permission.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver
from rest_framework.test import APIClient

from tests.api.test_views import API, LOCAL_URL, fill, make_delivery, make_inbound, webhooks
from webhooks_app import event_types
from webhooks_app.api import urls
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.redaction import MASK
from webhooks_app.testing import isolated_event_types

pytestmark = pytest.mark.django_db

SECRET_PERMISSION = "view_endpoint_secret"

# (url name, method) -> (path, body, permissions needed, status when allowed). "{id}" is the
# id of an object of the collection the path names. The root and the schema list no model:
# any one permission of the app opens them (as the admin's index lists the app).
ROUTES = {
    ("api-root", "get"): ("", None, ["view_event"], 200),
    ("schema", "get"): ("schema/", None, ["view_event"], 200),
    ("endpoint-list", "get"): ("endpoints/", None, ["view_endpoint"], 200),
    ("endpoint-list", "post"): ("endpoints/", {"url": LOCAL_URL}, ["add_endpoint"], 201),
    ("endpoint-detail", "get"): ("endpoints/{id}/", None, ["view_endpoint"], 200),
    ("endpoint-detail", "put"): (
        "endpoints/{id}/",
        {"url": LOCAL_URL, "event_types": ["a.b"]},
        ["change_endpoint"],
        200,
    ),
    ("endpoint-detail", "patch"): (
        "endpoints/{id}/",
        {"description": "patched"},
        ["change_endpoint"],
        200,
    ),
    ("endpoint-detail", "delete"): ("endpoints/{id}/", None, ["delete_endpoint"], 204),
    ("endpoint-reveal-secret", "get"): (
        "endpoints/{id}/reveal-secret/",
        None,
        ["view_endpoint", SECRET_PERMISSION],
        200,
    ),
    ("endpoint-rotate-secret", "post"): (
        "endpoints/{id}/rotate-secret/",
        None,
        ["change_endpoint"],
        200,
    ),
    ("endpoint-send-test", "post"): ("endpoints/{id}/send-test/", {}, ["add_event"], 202),
    ("endpoint-enable", "post"): ("endpoints/{id}/enable/", None, ["change_endpoint"], 200),
    ("endpoint-disable", "post"): (
        "endpoints/{id}/disable/",
        {"reason": "maintenance"},
        ["change_endpoint"],
        200,
    ),
    ("endpoint-stats", "get"): ("endpoints/{id}/stats/", None, ["view_endpoint"], 200),
    ("event-list", "get"): ("events/", None, ["view_event"], 200),
    ("event-list", "post"): (
        "events/",
        {"event_type": "order.paid", "payload": {"id": 7}},
        ["add_event"],
        201,
    ),
    ("event-detail", "get"): ("events/{id}/", None, ["view_event"], 200),
    ("delivery-list", "get"): ("deliveries/", None, ["view_delivery"], 200),
    ("delivery-detail", "get"): ("deliveries/{id}/", None, ["view_delivery"], 200),
    ("delivery-retry", "post"): ("deliveries/{id}/retry/", None, ["change_delivery"], 202),
    ("delivery-cancel", "post"): ("deliveries/{id}/cancel/", None, ["change_delivery"], 200),
    ("inbound-event-list", "get"): ("inbound-events/", None, ["view_inboundevent"], 200),
    ("inbound-event-detail", "get"): ("inbound-events/{id}/", None, ["view_inboundevent"], 200),
    ("inbound-event-reprocess", "post"): (
        "inbound-events/{id}/reprocess/",
        None,
        ["change_inboundevent"],
        200,
    ),
    # The catalog is no model: like the root, any one permission of the app opens it.
    ("event-type-list", "get"): ("event-types/", None, ["view_event"], 200),
    ("event-type-detail", "get"): ("event-types/{name}/", None, ["view_event"], 200),
}
KEYS = list(ROUTES)
IDS = [f"{method.upper()} {name}" for name, method in KEYS]
# Routes that need a model's view permission.
VIEW_KEYS = [
    key
    for key, (_, _, needed, _) in ROUTES.items()
    if any(p.startswith("view_") and p != SECRET_PERMISSION for p in needed)
]


def api_routes(patterns=None) -> set[tuple[str, str]]:
    """(url name, method) of every view the API's URLconf routes to."""
    found = set()
    for pattern in urls.urlpatterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found |= api_routes(pattern.url_patterns)
            continue
        assert isinstance(pattern, URLPattern)
        actions = getattr(pattern.callback, "actions", None)
        methods = actions or {"get": None}  # the root and the schema answer GET
        # DRF adds HEAD, the same action as GET, to a viewset's map once it has answered.
        found |= {(pattern.name, method) for method in methods if method != "head"}
    return found


def test_the_table_lists_every_route_of_the_api():
    assert api_routes() == set(ROUTES)


def permissions(*codenames: str) -> list[Permission]:
    found = list(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    assert len(found) == len(set(codenames)), codenames
    return found


def every_permission() -> list[Permission]:
    return list(Permission.objects.filter(content_type__app_label="webhooks_app"))


def view_permissions() -> list[Permission]:
    """What the admin's view-only role holds: view_* of every model, not the secret."""
    return [
        p
        for p in every_permission()
        if p.codename.startswith("view_") and p.codename != SECRET_PERMISSION
    ]


@pytest.fixture
def make_client(django_user_model):
    def make(perms: list[Permission] | None = None, *, is_staff: bool = True) -> APIClient:
        user = django_user_model.objects.create_user(
            f"user{django_user_model.objects.count()}", is_staff=is_staff
        )
        user.user_permissions.set(perms or [])
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def objects(db):
    """One object per collection, in a state where every action applies (a registered
    event type, named by its pk, for the catalog)."""
    endpoint = Endpoint.objects.create(url=LOCAL_URL, description="orders")
    delivery = make_delivery(endpoint, status=Delivery.Status.PENDING)
    with isolated_event_types():
        event_types.register("order.paid")
        yield {
            "endpoints": endpoint,
            "events": delivery.event,
            "deliveries": delivery,
            "inbound-events": make_inbound(),
            "event-types": SimpleNamespace(pk="order.paid"),
        }


def call(client: APIClient, key, objects):
    template, body, _, _ = ROUTES[key]
    path = API + fill(template, objects)
    return getattr(client, key[1])(path, body, format="json")


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_anonymous_is_refused(objects, key):
    assert call(APIClient(), key, objects).status_code in (401, 403)


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_non_staff_is_refused_even_with_every_permission(objects, make_client, key):
    client = make_client(every_permission(), is_staff=False)
    assert call(client, key, objects).status_code == 403


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_staff_without_permissions_is_refused(objects, make_client, key):
    assert call(make_client(), key, objects).status_code == 403


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_view_only_staff_may_read_but_not_act_nor_see_secrets(objects, make_client, key):
    expected = ROUTES[key][3] if key[1] == "get" and key[0] != "endpoint-reveal-secret" else 403
    response = call(make_client(view_permissions()), key, objects)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_staff_with_every_permission_may_use_every_route(objects, make_client, key):
    response = call(make_client(every_permission()), key, objects)
    assert response.status_code == ROUTES[key][3], response.content


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_the_route_needs_exactly_its_permissions(objects, make_client, key):
    """Its permissions suffice, and each one of them is needed."""
    _, _, needed, allowed = ROUTES[key]
    for missing in needed:
        client = make_client(permissions(*(p for p in needed if p != missing)))
        assert call(client, key, objects).status_code == 403, f"without {missing}"
    response = call(make_client(permissions(*needed)), key, objects)
    assert response.status_code == allowed, response.content


@pytest.mark.parametrize("key", VIEW_KEYS, ids=[IDS[KEYS.index(key)] for key in VIEW_KEYS])
def test_the_change_permission_includes_viewing(objects, make_client, key):
    """As in the admin: who may change a model may view it."""
    _, _, needed, allowed = ROUTES[key]
    swapped = [p.replace("view_", "change_", 1) if p != SECRET_PERMISSION else p for p in needed]
    response = call(make_client(permissions(*swapped)), key, objects)
    assert response.status_code == allowed, response.content


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_configured_classes_add_to_model_permissions(objects, make_client, key):
    """``API_PERMISSION_CLASSES`` decides who may use the API at all (staff by default);
    the model permissions apply whatever it says."""
    _, _, needed, allowed = ROUTES[key]
    member = make_client(permissions(*needed), is_staff=False)
    bare_member = make_client(is_staff=False)
    with webhooks(API_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticated"]):
        assert call(member, key, objects).status_code == allowed
        assert call(bare_member, key, objects).status_code == 403
    with webhooks(API_PERMISSION_CLASSES=["rest_framework.permissions.DjangoModelPermissions"]):
        assert call(bare_member, key, objects).status_code == 403
    with webhooks(API_PERMISSION_CLASSES=[]):
        assert call(APIClient(), key, objects).status_code in (401, 403)


# --- secrets in answers ------------------------------------------------------------


def test_rotating_without_the_secret_permission_does_not_show_the_new_secret(objects, make_client):
    endpoint = objects["endpoints"]
    client = make_client(permissions("change_endpoint"))
    response = client.post(API + f"endpoints/{endpoint.pk}/rotate-secret/")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.secret not in response.content.decode()
    assert response.json()["secret"] is None

    client = make_client(permissions("change_endpoint", SECRET_PERMISSION))
    response = client.post(API + f"endpoints/{endpoint.pk}/rotate-secret/")
    endpoint.refresh_from_db()
    assert response.json()["secret"] == endpoint.secret


def test_creating_without_the_secret_permission_does_not_show_the_secret(make_client):
    response = make_client(permissions("add_endpoint")).post(
        API + "endpoints/", {"url": LOCAL_URL}, format="json"
    )
    assert response.status_code == 201
    endpoint = Endpoint.objects.get()
    assert endpoint.secret not in response.content.decode()
    assert response.json()["secret"] is None

    response = make_client(permissions("add_endpoint", SECRET_PERMISSION)).post(
        API + "endpoints/", {"url": LOCAL_URL + "2"}, format="json"
    )
    assert response.json()["secret"] == Endpoint.objects.get(pk=response.json()["id"]).secret


# --- credentials in answers --------------------------------------------------------

HEADER_VALUE = "Bearer sk_live_header_token"
PASSWORD_URL = "http://hook-user:url-pass-word@127.0.0.1:9/in?token=query-secret&x="
CREDENTIALS = ("sk_live_header_token", "url-pass-word", "query-secret")


@pytest.fixture
def credentialed(db) -> Endpoint:
    return Endpoint.objects.create(
        url=PASSWORD_URL, headers={"Authorization": HEADER_VALUE, "X-Tenant": "acme"}
    )


def assert_no_credentials(text: str) -> None:
    for credential in CREDENTIALS:
        assert credential not in text


def test_endpoint_credentials_are_masked_without_the_secret_permission(make_client, credentialed):
    client = make_client(permissions("view_endpoint"))
    listed = client.get(API + "endpoints/")
    detail = client.get(API + f"endpoints/{credentialed.pk}/")
    for response in (listed, detail):
        assert response.status_code == 200
        assert_no_credentials(response.content.decode())
    assert detail.json()["headers"] == {"Authorization": MASK, "X-Tenant": MASK}
    assert detail.json()["url"] == f"http://hook-user:{MASK}@127.0.0.1:9/in?token={MASK}&x="


def test_the_secret_permission_shows_endpoint_credentials(make_client, credentialed):
    client = make_client(permissions("view_endpoint", SECRET_PERMISSION))
    body = client.get(API + f"endpoints/{credentialed.pk}/").json()
    assert body["url"] == PASSWORD_URL
    assert body["headers"] == {"Authorization": HEADER_VALUE, "X-Tenant": "acme"}


def test_writing_back_masked_values_keeps_the_stored_credentials(make_client, credentialed):
    client = make_client(permissions("view_endpoint", "change_endpoint"))
    shown = client.get(API + f"endpoints/{credentialed.pk}/").json()
    body = {**shown, "description": "renamed"}
    body["headers"] = {**shown["headers"], "X-Tenant": "globex"}
    response = client.put(API + f"endpoints/{credentialed.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    assert_no_credentials(response.content.decode())
    credentialed.refresh_from_db()
    assert credentialed.url == PASSWORD_URL and credentialed.description == "renamed"
    assert credentialed.headers == {"Authorization": HEADER_VALUE, "X-Tenant": "globex"}


def test_a_mask_for_a_header_not_stored_is_refused(make_client, credentialed):
    client = make_client(permissions("change_endpoint"))
    response = client.patch(
        API + f"endpoints/{credentialed.pk}/", {"headers": {"X-New": MASK}}, format="json"
    )
    assert response.status_code == 400
    assert "the mask" in str(response.json()["headers"])
    credentialed.refresh_from_db()
    assert "X-New" not in credentialed.headers


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.2:9/in", "http://127.0.0.1:10/in", "https://127.0.0.1:9/in"],
    ids=["host", "port", "scheme"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_masked_header_does_not_follow_the_endpoint_to_a_new_host(
    make_client, credentialed, url, method
):
    """Keeping a value one cannot read is for the host it was set for: sent back masked
    with another scheme, host or port, it must be entered again (the request changes
    nothing)."""
    client = make_client(permissions("view_endpoint", "change_endpoint"))
    shown = client.get(API + f"endpoints/{credentialed.pk}/").json()
    body = {"url": url, "headers": shown["headers"]}
    response = getattr(client, method)(API + f"endpoints/{credentialed.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    errors = " ".join(response.json()["headers"])
    assert "Authorization" in errors and "again for the new host" in errors
    assert_no_credentials(response.content.decode())
    credentialed.refresh_from_db()
    assert credentialed.url == PASSWORD_URL
    assert credentialed.headers == {"Authorization": HEADER_VALUE, "X-Tenant": "acme"}


def test_headers_left_out_do_not_follow_the_endpoint_to_a_new_host(make_client, credentialed):
    """A PATCH of the URL alone would keep the stored headers, masked to this user: the
    same as sending them back masked."""
    client = make_client(permissions("view_endpoint", "change_endpoint"))
    path = API + f"endpoints/{credentialed.pk}/"
    response = client.patch(path, {"url": "http://127.0.0.2:9/in"}, format="json")
    assert response.status_code == 400, response.content
    assert "again for the new host" in " ".join(response.json()["headers"])
    credentialed.refresh_from_db()
    assert credentialed.url == PASSWORD_URL


def test_headers_entered_again_go_to_the_new_host(make_client, credentialed):
    client = make_client(permissions("view_endpoint", "change_endpoint"))
    body = {"url": "http://127.0.0.2:9/in", "headers": {"Authorization": "Bearer other"}}
    response = client.patch(API + f"endpoints/{credentialed.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    credentialed.refresh_from_db()
    assert credentialed.url == "http://127.0.0.2:9/in"
    assert credentialed.headers == {"Authorization": "Bearer other"}


def test_a_masked_header_stays_with_the_same_host_on_another_path(make_client, credentialed):
    client = make_client(permissions("view_endpoint", "change_endpoint"))
    body = {"url": "HTTP://127.0.0.1:9/elsewhere", "headers": {"Authorization": MASK}}
    response = client.patch(API + f"endpoints/{credentialed.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    credentialed.refresh_from_db()
    assert credentialed.headers == {"Authorization": HEADER_VALUE}


def test_who_may_read_the_headers_may_move_them(make_client, credentialed):
    client = make_client(permissions("view_endpoint", "change_endpoint", SECRET_PERMISSION))
    path = API + f"endpoints/{credentialed.pk}/"
    response = client.patch(path, {"url": "http://127.0.0.2:9/in"}, format="json")
    assert response.status_code == 200, response.content
    credentialed.refresh_from_db()
    assert credentialed.headers == {"Authorization": HEADER_VALUE, "X-Tenant": "acme"}


def test_deliveries_mask_urls_and_tokens_in_errors(make_client, credentialed):
    delivery = make_delivery(credentialed, status=Delivery.Status.FAILED)
    error = "Connection refused: http://127.0.0.1:9/in?token=query-secret&x=1"
    Delivery.objects.filter(pk=delivery.pk).update(last_error=error)
    Attempt.objects.create(delivery=delivery, number=1, error=error)
    client = make_client(permissions("view_delivery", "view_event"))
    for path in (
        "deliveries/",
        f"deliveries/{delivery.pk}/",
        f"events/{delivery.event_id}/",
    ):
        response = client.get(API + path)
        assert response.status_code == 200
        assert_no_credentials(response.content.decode())
    detail = client.get(API + f"deliveries/{delivery.pk}/").json()
    assert detail["attempts"][0]["error"].endswith(f"?token={MASK}&x={MASK}")


def test_inbound_events_show_only_allow_listed_headers(make_client):
    """Also rows stored before the allow-list applied."""
    event = make_inbound(
        headers={
            "Webhook-Id": "msg_1",
            "X-Auth-Key": "k1",
            "X-Access-Key": "k2",
            "X-Private-Key": "k3",
        }
    )
    client = make_client(permissions("view_inboundevent"))
    body = client.get(API + f"inbound-events/{event.pk}/").json()
    assert body["headers"] == {"Webhook-Id": "msg_1"}
