"""The REST API: every route and action, every permission level, secrets, URL checks,
idempotency, filters, pagination, query counts and the OpenAPI schema.

No test sends traffic anywhere: the API never connects to an endpoint's URL, host
names are only resolved through a fake resolver, and an autouse guard fails any
socket use beyond the loopback addresses.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import warnings
from datetime import timedelta
from types import SimpleNamespace

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from webhooks_app import event_types, operations, signals, validators
from webhooks_app.models import Attempt, Delivery, Endpoint, Event, InboundEvent
from webhooks_app.testing import isolated_event_types

API = "/api/webhooks/"
LOCAL_URL = "http://127.0.0.1:9/hook"  # never contacted: on_commit callbacks do not run here
PUBLIC_IP = "93.184.215.14"  # a global address, only ever classified, never contacted

# Names the fake resolver knows; any other name fails as if it did not exist.
FAKE_DNS = {
    "hooks.example.com": ["93.184.215.14"],
    "internal.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.215.14", "192.168.1.5"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "localhost": ["127.0.0.1", "::1"],
}


def fake_resolver(calls: list | None = None):
    def resolve(host, port, type=socket.SOCK_STREAM):
        if calls is not None:
            calls.append((host, port))
        if host not in FAKE_DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in FAKE_DNS[host]
        ]

    return resolve


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def network_guard(monkeypatch):
    """Real resolution of names and connections beyond loopback fail the test at once."""
    seen: list = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        seen.append(("getaddrinfo", host))
        if not _is_loopback(host):
            raise AssertionError(f"a test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        seen.append(("connect", address))
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise AssertionError(f"a test tried to connect to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(validators, "resolve", fake_resolver())
    return seen


def webhooks(**overrides):
    """The test settings' WEBHOOKS with some keys replaced."""
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **overrides})


def all_permissions() -> list[Permission]:
    return list(Permission.objects.filter(content_type__app_label="webhooks_app"))


@pytest.fixture
def staff(django_user_model):
    """An operator: staff with every permission of the app (tests/api/test_permissions.py
    covers each level)."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(all_permissions())
    return user


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="pw")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def endpoint(db):
    return Endpoint.objects.create(url=LOCAL_URL, description="orders")


def make_event(event_type="order.paid", payload=None, **kwargs) -> Event:
    return Event.objects.create(event_type=event_type, payload=payload or {"id": 1}, **kwargs)


def make_delivery(endpoint, event=None, status=Delivery.Status.PENDING, **kwargs) -> Delivery:
    return Delivery.objects.create(
        event=event or make_event(), endpoint=endpoint, status=status, **kwargs
    )


def make_inbound(event_id="evt_1", **kwargs) -> InboundEvent:
    fields = {
        "source": "standard",
        "event_type": "order.paid",
        "payload": {"id": event_id},
        "status": InboundEvent.Status.FAILED,
        "error": "RuntimeError: handler failed on purpose",
        "receiver": "tests.receivers.StandardReceiver",
        **kwargs,
    }
    return InboundEvent.objects.create(event_id=event_id, **fields)


# --- every route, every permission level -------------------------------------------------

# (method, path template, request body, status for staff). "{id}" (or "{name}") is filled
# with the id of an object of the collection the path names.
ROUTES = [
    ("get", "", None, 200),
    ("get", "schema/", None, 200),
    ("get", "endpoints/", None, 200),
    ("post", "endpoints/", {"url": "http://127.0.0.1:9/new"}, 201),
    ("get", "endpoints/{id}/", None, 200),
    ("put", "endpoints/{id}/", {"url": "http://127.0.0.1:9/put", "event_types": ["a.b"]}, 200),
    ("patch", "endpoints/{id}/", {"description": "patched"}, 200),
    ("delete", "endpoints/{id}/", None, 204),
    ("get", "endpoints/{id}/reveal-secret/", None, 200),
    ("post", "endpoints/{id}/rotate-secret/", None, 200),
    ("post", "endpoints/{id}/send-test/", {}, 202),
    ("post", "endpoints/{id}/enable/", None, 200),
    ("post", "endpoints/{id}/disable/", {"reason": "maintenance"}, 200),
    ("get", "endpoints/{id}/stats/", None, 200),
    ("get", "events/", None, 200),
    ("post", "events/", {"event_type": "order.paid", "payload": {"id": 7}}, 201),
    ("get", "events/{id}/", None, 200),
    ("get", "deliveries/", None, 200),
    ("get", "deliveries/{id}/", None, 200),
    ("post", "deliveries/{id}/retry/", None, 202),
    ("post", "deliveries/{id}/cancel/", None, 200),
    ("get", "inbound-events/", None, 200),
    ("get", "inbound-events/{id}/", None, 200),
    ("post", "inbound-events/{id}/reprocess/", None, 200),
    ("get", "event-types/", None, 200),
    ("get", "event-types/{name}/", None, 200),
]
ROUTE_IDS = [f"{method.upper()} {template or '/'}" for method, template, _, _ in ROUTES]


@pytest.fixture
def objects(endpoint):
    """One object per collection, in a state where every action applies (the catalog's
    "objects" are registered types, named by their pk here)."""
    delivery = make_delivery(endpoint, status=Delivery.Status.PENDING)
    with isolated_event_types():
        event_types.register("order.paid", schema={"type": "object"}, example={"id": 1})
        yield {
            "endpoints": endpoint,
            "events": delivery.event,
            "deliveries": delivery,
            "inbound-events": make_inbound(),
            "event-types": SimpleNamespace(pk="order.paid"),
        }


def fill(template: str, objects: dict) -> str:
    """The path of a route template, "{id}" and "{name}" being its collection's object's."""
    pk = objects[template.split("/", 1)[0]].pk if "{" in template else ""
    return template.format(id=pk, name=pk)


def call(client, method, template, body, objects):
    path = API + fill(template, objects)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "template", "body", "expected"), ROUTES, ids=ROUTE_IDS)
def test_anonymous_is_refused_everywhere(objects, method, template, body, expected):
    response = call(APIClient(), method, template, body, objects)
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(("method", "template", "body", "expected"), ROUTES, ids=ROUTE_IDS)
def test_non_staff_is_refused_everywhere(objects, member, method, template, body, expected):
    client = APIClient()
    client.force_authenticate(member)
    assert call(client, method, template, body, objects).status_code == 403


@pytest.mark.parametrize(("method", "template", "body", "expected"), ROUTES, ids=ROUTE_IDS)
def test_staff_may_use_every_route(objects, api, method, template, body, expected):
    response = call(api, method, template, body, objects)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("method", "template", "body", "expected"), ROUTES, ids=ROUTE_IDS)
def test_permission_classes_come_from_settings(objects, member, method, template, body, expected):
    member.user_permissions.set(all_permissions())
    client = APIClient()
    client.force_authenticate(member)
    with webhooks(API_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticated"]):
        assert call(client, method, template, body, objects).status_code == expected
        assert call(APIClient(), method, template, body, objects).status_code in (401, 403)


def test_an_empty_permission_list_leaves_the_model_permissions(objects, member):
    """Without configured classes any user holding the model permissions may use the API
    (a service account, say); nobody else."""
    client = APIClient()
    client.force_authenticate(member)
    with webhooks(API_PERMISSION_CLASSES=[]):
        assert APIClient().get(API + "endpoints/").status_code in (401, 403)
        assert client.get(API + "endpoints/").status_code == 403
        member.user_permissions.add(Permission.objects.get(codename="view_endpoint"))
        client.force_authenticate(type(member).objects.get(pk=member.pk))
        assert client.get(API + "endpoints/").status_code == 200


def test_basic_authentication_of_staff_works(objects, staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic c3RhZmY6cHc=")  # staff:pw
    assert client.get(API + "endpoints/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Basic c3RhZmY6d3Jvbmc=")  # staff:wrong
    assert client.get(API + "endpoints/").status_code in (401, 403)


def test_the_route_table_covers_every_operation_of_the_schema(api):
    schema = api.get(API + "schema/").json()
    operations_in_schema = {
        (method, path.removeprefix(API)) for path, ops in schema["paths"].items() for method in ops
    }
    tested = {(method, template) for method, template, _, _ in ROUTES if template}
    assert operations_in_schema == tested - {("get", "schema/")}


# --- endpoints: secrets -----------------------------------------------------------------


def test_create_generates_a_secret_and_returns_it_once(api):
    response = api.post(API + "endpoints/", {"url": LOCAL_URL}, format="json")
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    assert "no-store" in response["Cache-Control"]
    endpoint = Endpoint.objects.get(pk=response.json()["id"])
    assert endpoint.secret == secret

    listed = api.get(API + "endpoints/")
    detail = api.get(API + f"endpoints/{endpoint.pk}/")
    for reply in (listed, detail):
        assert secret not in reply.content.decode()
        assert "secret" not in json.dumps(reply.json())


def test_update_responses_do_not_show_the_secret(api, endpoint):
    for method in ("put", "patch"):
        response = getattr(api, method)(
            API + f"endpoints/{endpoint.pk}/", {"url": LOCAL_URL}, format="json"
        )
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
        assert "secret" not in response.json()


def test_create_accepts_a_given_secret(api):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    response = api.post(API + "endpoints/", {"url": LOCAL_URL, "secret": secret}, format="json")
    assert response.status_code == 201
    assert response.json()["secret"] == secret
    assert Endpoint.objects.get().secret == secret


@pytest.mark.parametrize(
    "secret",
    ["plain-text", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "MfKQ9r8GKYqrTwjUPD8I"],
)
def test_create_refuses_a_malformed_or_short_secret(api, secret):
    response = api.post(API + "endpoints/", {"url": LOCAL_URL, "secret": secret}, format="json")
    assert response.status_code == 400
    assert "secret" in response.json()
    assert not Endpoint.objects.exists()


def test_the_secret_cannot_be_edited(api, endpoint):
    new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    response = api.patch(API + f"endpoints/{endpoint.pk}/", {"secret": new}, format="json")
    assert response.status_code == 400
    assert "rotate-secret" in response.json()["secret"][0]
    endpoint.refresh_from_db()
    assert endpoint.secret != new


def test_the_contact_address_is_set_changed_and_checked(api, endpoint):
    response = api.post(
        API + "endpoints/", {"url": LOCAL_URL, "contact_email": "ops@example.com"}, format="json"
    )
    assert response.status_code == 201 and response.json()["contact_email"] == "ops@example.com"

    path = API + f"endpoints/{endpoint.pk}/"
    response = api.patch(path, {"contact_email": "new@example.com"}, format="json")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.contact_email == "new@example.com"
    response = api.patch(path, {"contact_email": "not an address"}, format="json")
    assert response.status_code == 400 and "contact_email" in response.json()


def test_an_edit_leaves_the_health_columns_to_the_workers(api, endpoint):
    """A worker records failures between the API loading the endpoint and saving it."""
    from webhooks_app.api.serializers import EndpointSerializer

    loaded = Endpoint.objects.get(pk=endpoint.pk)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        failure_streak=7, failing_since=timezone.now(), alerted_stage=Endpoint.Alert.FAILING
    )
    serializer = EndpointSerializer(loaded, data={"description": "renamed"}, partial=True)
    assert serializer.is_valid(), serializer.errors
    serializer.save()

    endpoint.refresh_from_db()
    assert endpoint.description == "renamed"
    assert (endpoint.failure_streak, endpoint.alerted_stage) == (7, Endpoint.Alert.FAILING)


def test_reveal_secret_returns_the_current_secret(api, endpoint):
    response = api.get(API + f"endpoints/{endpoint.pk}/reveal-secret/")
    assert response.status_code == 200
    assert response.json() == {
        "id": endpoint.pk,
        "secret": endpoint.secret,
        "previous_secret_expires_at": None,
    }
    assert "no-store" in response["Cache-Control"]


def test_rotate_secret_returns_the_new_secret_and_keeps_the_old_for_the_grace(api, endpoint):
    old = endpoint.secret
    with webhooks(SECRET_ROTATION_GRACE=3600):
        response = api.post(API + f"endpoints/{endpoint.pk}/rotate-secret/")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    body = response.json()
    assert body["secret"] == endpoint.secret != old
    assert endpoint.previous_secret == old
    assert endpoint.signing_secrets() == [endpoint.secret, old]
    assert body["previous_secret_expires_at"] is not None
    assert "no-store" in response["Cache-Control"]
    # Neither secret shows in the endpoint's own representation.
    detail = api.get(API + f"endpoints/{endpoint.pk}/").content.decode()
    assert old not in detail and endpoint.secret not in detail
    assert api.get(API + f"endpoints/{endpoint.pk}/reveal-secret/").json()["secret"] == (
        endpoint.secret
    )


# --- endpoints: fields and actions --------------------------------------------------------


def test_retrieve_shows_the_endpoint(api, endpoint):
    body = api.get(API + f"endpoints/{endpoint.pk}/").json()
    assert body["id"] == endpoint.pk
    assert body["url"] == LOCAL_URL
    assert body["description"] == "orders"
    assert body["event_types"] == []
    assert body["is_active"] is True


def test_event_types_are_validated(api):
    good = ["order.paid", "user.*", "*", "order.paid"]
    response = api.post(API + "endpoints/", {"url": LOCAL_URL, "event_types": good}, format="json")
    assert response.status_code == 201
    assert response.json()["event_types"] == ["order.paid", "user.*", "*"]  # duplicate dropped
    for bad in ("order.paid", ["order paid"], [""], ["or*der"], ["*.paid"], [{"a": 1}]):
        response = api.post(
            API + "endpoints/", {"url": LOCAL_URL, "event_types": bad}, format="json"
        )
        assert response.status_code == 400, bad
        assert "event_types" in response.json()


def test_extra_headers_are_validated(api):
    ok = api.post(
        API + "endpoints/", {"url": LOCAL_URL, "headers": {"X-Token": "abc"}}, format="json"
    )
    assert ok.status_code == 201
    assert ok.json()["headers"] == {"X-Token": "abc"}
    for bad in (
        {"webhook-signature": "v1,forged"},
        {"Content-Type": "text/plain"},
        {"Bad Name": "x"},
        {"X-Split": "a\r\nInjected: yes"},
        ["not", "a", "dict"],
    ):
        response = api.post(API + "endpoints/", {"url": LOCAL_URL, "headers": bad}, format="json")
        assert response.status_code == 400, bad
        assert "headers" in response.json()


UNSENDABLE_HEADERS = [
    {"host\n": "evil.example"},  # "$" matched before the newline: passed the reserved list
    {"HOST": "evil.example"},
    {"Transfer-Encoding": "chunked"},
    {"X-T\u00e9st": "1"},
    {"X-Tenant": "a\x00b"},
    {"X-Tenant": "a\x01b"},
    {"X-Tenant": "a\x7f"},
    {"X-Tenant": "a\n"},  # not trimmed away: refused as the model refuses it
    {"X-Note": "caf\u00e9 \u2615"},
]


@pytest.mark.parametrize("headers", UNSENDABLE_HEADERS, ids=repr)
def test_headers_http_cannot_send_are_refused(api, headers):
    response = api.post(API + "endpoints/", {"url": LOCAL_URL, "headers": headers}, format="json")
    assert response.status_code == 400, response.content
    assert "headers" in response.json()
    assert not Endpoint.objects.exists()


def test_latin1_header_values_and_tabs_are_kept_as_sent(api):
    headers = {"X-Note": "caf\u00e9", "X-Tab": "a\tb", "X-Pad": " padded "}
    response = api.post(API + "endpoints/", {"url": LOCAL_URL, "headers": headers}, format="json")
    assert response.status_code == 201, response.content
    assert Endpoint.objects.get().headers == headers


def test_is_active_is_changed_by_actions_only(api, endpoint):
    response = api.patch(API + f"endpoints/{endpoint.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.is_active is True


def test_disable_with_a_reason_sends_the_signal(api, endpoint):
    received = []

    def handler(sender, endpoint, reason, **kwargs):
        received.append((endpoint.pk, reason))

    signals.endpoint_disabled.connect(handler)
    try:
        response = api.post(
            API + f"endpoints/{endpoint.pk}/disable/", {"reason": "maintenance"}, format="json"
        )
    finally:
        signals.endpoint_disabled.disconnect(handler)
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["disabled_reason"] == "maintenance"
    assert received == [(endpoint.pk, "maintenance")]


def test_disable_without_a_reason_uses_a_default(api, endpoint):
    response = api.post(API + f"endpoints/{endpoint.pk}/disable/")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason == "Disabled through the API"


def test_disable_refuses_an_overlong_reason(api, endpoint):
    response = api.post(
        API + f"endpoints/{endpoint.pk}/disable/", {"reason": "x" * 256}, format="json"
    )
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_enable_resumes_a_disabled_endpoint(api, endpoint):
    endpoint.disable("too many failures")
    Endpoint.objects.filter(pk=endpoint.pk).update(failure_streak=9)
    response = api.post(API + f"endpoints/{endpoint.pk}/enable/")
    assert response.status_code == 200
    body = response.json()
    assert body["is_active"] is True
    assert body["disabled_reason"] == ""
    assert body["failure_streak"] == 0


def test_send_test_records_a_test_delivery_and_enqueues_it_on_commit(
    api, endpoint, django_capture_on_commit_callbacks
):
    endpoint.event_types = ["order.*"]  # a test event goes out whatever the filter
    endpoint.save()
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            API + f"endpoints/{endpoint.pk}/send-test/", {"payload": {"hello": 1}}, format="json"
        )
    assert response.status_code == 202
    delivery = Delivery.objects.get()
    body = response.json()
    assert body["id"] == delivery.pk
    assert body["endpoint"] == endpoint.pk
    assert body["event_type"] == operations.TEST_EVENT_TYPE
    assert body["status"] == "pending"
    assert delivery.event.payload == {"hello": 1}
    assert len(callbacks) == 1


def test_send_test_without_a_payload_uses_a_message(api, endpoint):
    response = api.post(API + f"endpoints/{endpoint.pk}/send-test/")
    assert response.status_code == 202
    assert Event.objects.get().payload == {"message": "This is a test webhook."}


def test_delete_removes_the_endpoint_and_its_deliveries(api, endpoint):
    make_delivery(endpoint)
    assert api.delete(API + f"endpoints/{endpoint.pk}/").status_code == 204
    assert not Endpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert api.get(API + f"endpoints/{endpoint.pk}/").status_code == 404


def test_endpoints_filter_by_active(api, endpoint):
    other = Endpoint.objects.create(url=LOCAL_URL)
    other.disable("gone")
    active = api.get(API + "endpoints/", {"is_active": "true"}).json()["results"]
    inactive = api.get(API + "endpoints/", {"is_active": "false"}).json()["results"]
    assert [e["id"] for e in active] == [endpoint.pk]
    assert [e["id"] for e in inactive] == [other.pk]
    assert api.get(API + "endpoints/", {"is_active": "perhaps"}).status_code == 400


# --- endpoint URL validation ------------------------------------------------------------


def post_url(api, url):
    return api.post(API + "endpoints/", {"url": url}, format="json")


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "ftps://example.com/", "file:///etc"])
def test_non_http_schemes_are_refused(api, url, network_guard):
    response = post_url(api, url)
    assert response.status_code == 400
    assert "url" in response.json()
    assert not Endpoint.objects.exists()
    assert network_guard == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_private_targets_are_refused(api, url, network_guard):
    response = post_url(api, url)
    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert network_guard == []


def test_loopback_is_refused_without_an_allowance(api):
    with webhooks(ALLOWED_NETWORKS=[]):
        for url in ("http://127.0.0.1/", "http://127.0.0.1:8000/hook", "http://[::1]/"):
            response = post_url(api, url)
            assert response.status_code == 400, url
            assert "ALLOWED_NETWORKS" in response.json()["url"][0]
    assert not Endpoint.objects.exists()


def test_loopback_is_accepted_when_allowed(api):
    with webhooks(ALLOWED_NETWORKS=["127.0.0.0/8"]):
        assert post_url(api, "http://127.0.0.1/").status_code == 201
        assert post_url(api, "http://[::1]/").status_code == 400  # not in the allowance


def test_metadata_service_stays_refused_under_a_broad_allowance(api):
    with webhooks(ALLOWED_NETWORKS=["169.254.0.0/16", "10.0.0.0/8"]):
        assert post_url(api, "http://169.254.169.254/").status_code == 400
        assert post_url(api, "http://10.0.0.1/").status_code == 201


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("::ffff:169.254.169.254", "::ffff:0:0/96"),
        ("2002:a9fe:a9fe::1", "2002::/16"),
        ("64:ff9b::a9fe:a9fe", "64:ff9b::/96"),
    ],
)
def test_metadata_inside_an_ipv6_address_is_refused_under_a_broad_allowance(api, address, network):
    with webhooks(ALLOWED_NETWORKS=[network]):
        response = post_url(api, f"http://[{address}]/latest/meta-data/")
    assert response.status_code == 400, response.content
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:80\\@hooks.example.com/",  # the sender dials 127.0.0.1
        "http://hooks.example.com:80@127.0.0.1:81@hooks.example.com/",
        "http://2130706433/",  # 127.0.0.1 to getaddrinfo
        "http://0x7f.1/",
        "http://%31%32%37.0.0.1/",  # 127.0.0.1 to urllib3
    ],
)
def test_urls_the_sender_reads_differently_are_refused(api, url, network_guard):
    with webhooks(ALLOWED_NETWORKS=[]):
        response = post_url(api, url)
    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert not Endpoint.objects.exists()
    assert network_guard == []


def test_a_public_literal_address_is_accepted_without_any_network_use(api, network_guard):
    with webhooks(ALLOWED_NETWORKS=[]):
        assert post_url(api, f"https://{PUBLIC_IP}/hook").status_code == 201
    assert network_guard == []


def test_host_names_are_classified_by_their_resolved_addresses(api, monkeypatch):
    calls = []
    monkeypatch.setattr(validators, "resolve", fake_resolver(calls))
    with webhooks(ALLOWED_NETWORKS=[]):
        assert post_url(api, "https://hooks.example.com/in").status_code == 201
        assert post_url(api, "http://v6.example.com:8080/").status_code == 201
        internal = post_url(api, "https://internal.example.com/")
        mixed = post_url(api, "https://mixed.example.com/")
        localhost = post_url(api, "http://localhost:8000/")
        unknown = post_url(api, "https://nowhere.example.com/")
    for response in (internal, mixed, localhost):
        assert response.status_code == 400
        assert "may not reach" in response.json()["url"][0]
    assert unknown.status_code == 400
    assert "could not be resolved" in unknown.json()["url"][0]
    assert calls[:2] == [("hooks.example.com", 443), ("v6.example.com", 8080)]


def test_localhost_is_accepted_when_loopback_is_allowed(api):
    with webhooks(ALLOWED_NETWORKS=["127.0.0.0/8", "::1/128"]):
        assert post_url(api, "http://localhost:8000/hook").status_code == 201


def test_a_changed_url_is_checked_again(api, endpoint):
    response = api.patch(API + f"endpoints/{endpoint.pk}/", {"url": "gopher://x/"}, format="json")
    assert response.status_code == 400
    response = api.patch(
        API + f"endpoints/{endpoint.pk}/", {"url": "http://10.9.8.7/"}, format="json"
    )
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.url == LOCAL_URL


def test_check_endpoint_url_takes_networks_and_a_resolver(network_guard):
    calls = []
    resolver = fake_resolver(calls)
    validators.check_endpoint_url("http://127.0.0.1/", allowed_networks=["127.0.0.0/8"])
    validators.check_endpoint_url("https://hooks.example.com/", resolver=resolver)
    with pytest.raises(validators.ValidationError) as refused:
        validators.check_endpoint_url("http://127.0.0.1/", allowed_networks=[])
    assert refused.value.code == "blocked_address"
    with pytest.raises(validators.ValidationError) as scheme:
        validators.check_endpoint_url("ftp://127.0.0.1/", allowed_networks=["127.0.0.0/8"])
    assert scheme.value.code == "invalid_scheme"
    with pytest.raises(validators.ValidationError) as port:
        validators.check_endpoint_url("http://127.0.0.1:99999/", allowed_networks=["0.0.0.0/0"])
    assert port.value.code == "invalid_port"
    with pytest.raises(validators.ValidationError) as named:
        validators.check_endpoint_url("http://internal.example.com/", resolver=resolver)
    assert named.value.code == "blocked_address"
    assert calls == [("hooks.example.com", 443), ("internal.example.com", 80)]
    assert network_guard == []


# --- events ------------------------------------------------------------------------------


def test_create_event_sends_it_to_matching_active_endpoints(
    api, endpoint, django_capture_on_commit_callbacks
):
    other = Endpoint.objects.create(url=LOCAL_URL, event_types=["user.*"])
    disabled = Endpoint.objects.create(url=LOCAL_URL)
    disabled.disable("off")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            API + "events/",
            {"event_type": "order.paid", "payload": {"order": 42}},
            format="json",
        )
    assert response.status_code == 201
    body = response.json()
    event = Event.objects.get()
    assert body["id"] == event.pk
    assert body["event_type"] == "order.paid"
    assert body["payload"] == {"order": 42}
    assert [d["endpoint"] for d in body["deliveries"]] == [endpoint.pk]
    assert body["deliveries"][0]["endpoint_url"] == LOCAL_URL
    assert not Delivery.objects.filter(endpoint__in=[other, disabled]).exists()
    assert len(callbacks) == 1


@pytest.mark.parametrize("payload", [[1, 2, 3], "text", 7, {}])
def test_create_event_accepts_any_json_payload(api, payload):
    response = api.post(
        API + "events/", {"event_type": "thing.done", "payload": payload}, format="json"
    )
    assert response.status_code == 201
    assert Event.objects.get().payload == payload


@pytest.mark.parametrize(
    "body",
    [
        {"payload": {}},
        {"event_type": "order.paid"},
        {"event_type": "order.paid", "payload": None},
        {"event_type": "", "payload": {}},
        {"event_type": "order paid", "payload": {}},
        {"event_type": "order.*", "payload": {}},
        {"event_type": "x" * 256, "payload": {}},
        {"event_type": "order.paid", "payload": {"note": "a\x00b"}},  # PostgreSQL: DataError
        {"event_type": "order.paid", "payload": json.loads("[" * 200 + "]" * 200)},
    ],
)
def test_create_event_validates_its_fields(api, body):
    assert api.post(API + "events/", body, format="json").status_code == 400
    assert not Event.objects.exists()


def test_idempotency_key_header_returns_the_existing_event(api, endpoint):
    body = {"event_type": "order.paid", "payload": {"order": 1}}
    first = api.post(API + "events/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1-paid")
    again = api.post(API + "events/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1-paid")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["idempotency_key"] == "order-1-paid"
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_idempotency_key_field_returns_the_existing_event(api, endpoint):
    body = {"event_type": "order.paid", "payload": {"order": 2}, "idempotency_key": "k2"}
    first = api.post(API + "events/", body, format="json")
    again = api.post(API + "events/", body, format="json")
    header = api.post(
        API + "events/",
        {"event_type": "order.paid", "payload": {"order": 2}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert (first.status_code, again.status_code, header.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == header.json()["id"]
    assert Event.objects.count() == 1


def test_an_idempotency_key_reused_for_another_event_is_refused(api):
    api.post(
        API + "events/", {"event_type": "a.b", "payload": {"n": 1}, "idempotency_key": "k"}, "json"
    )
    for body in ({"event_type": "a.b", "payload": {"n": 2}}, {"event_type": "a.c", "payload": {}}):
        response = api.post(API + "events/", {**body, "idempotency_key": "k"}, format="json")
        assert response.status_code == 422
    assert Event.objects.count() == 1


def test_an_event_with_an_ordering_key(api, endpoint):
    body = {"event_type": "order.paid", "payload": {"n": 1}, "ordering_key": "order-42"}
    first = api.post(API + "events/", body, format="json")
    plain = api.post(API + "events/", {**body, "ordering_key": None}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["ordering_key"] == "order-42"
    assert [d["ordering_key"] for d in first.json()["deliveries"]] == ["order-42"]
    stored = Event.objects.get(pk=first.json()["id"])
    assert (stored.ordering_key, stored.sequence is not None) == ("order-42", True)
    assert plain.status_code == 400  # null is not a key; leave the field out instead
    without = api.post(API + "events/", {"event_type": "order.paid", "payload": {}}, "json")
    assert without.json()["ordering_key"] == ""
    listed = api.get(API + "events/").json()["results"]
    assert sorted(e["ordering_key"] for e in listed) == ["", "order-42"]


def test_a_delivery_behind_an_earlier_one_of_its_key_is_waiting(api, endpoint):
    for n in range(2):
        body = {"event_type": "order.paid", "payload": {"n": n}, "ordering_key": "order-42"}
        assert api.post(API + "events/", body, format="json").status_code == 201
    listed = api.get(API + "deliveries/").json()["results"]
    by_n = {Delivery.objects.get(pk=d["id"]).event.payload["n"]: d["state"] for d in listed}
    assert by_n[0]["code"] == "due"
    assert by_n[1]["code"] == "waiting" and "ordering key" in by_n[1]["reason"]
    second = next(d for d in listed if d["state"]["code"] == "waiting")
    assert api.get(API + f"deliveries/{second['id']}/").json()["state"]["code"] == "waiting"
    event = api.get(API + f"events/{second['event']}/").json()
    assert [d["state"]["code"] for d in event["deliveries"]] == ["waiting"]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_ordering_key_must_be_1_to_255_characters(api, key):
    body = {"event_type": "order.paid", "payload": {}, "ordering_key": key}
    response = api.post(API + "events/", body, format="json")
    assert response.status_code == 400
    assert "ordering_key" in response.json()
    assert not Event.objects.exists()


def test_an_idempotency_key_reused_with_another_ordering_key_is_refused(api):
    body = {"event_type": "a.b", "payload": {}, "idempotency_key": "k", "ordering_key": "x"}
    assert api.post(API + "events/", body, format="json").status_code == 201
    assert api.post(API + "events/", body, format="json").status_code == 200
    for other in (
        {**body, "ordering_key": "y"},
        {k: v for k, v in body.items() if k != "ordering_key"},
    ):
        assert api.post(API + "events/", other, format="json").status_code == 422
    assert Event.objects.count() == 1


def test_header_and_field_keys_must_agree(api):
    response = api.post(
        API + "events/",
        {"event_type": "a.b", "payload": {}, "idempotency_key": "one"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="two",
    )
    assert response.status_code == 400
    assert "idempotency_key" in response.json()
    long_header = api.post(
        API + "events/",
        {"event_type": "a.b", "payload": {}},
        "json",
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )
    assert long_header.status_code == 400
    assert "Idempotency-Key" in long_header.json()
    assert not Event.objects.exists()


def test_events_are_immutable(api):
    event = make_event()
    assert api.put(API + f"events/{event.pk}/", {}, format="json").status_code == 405
    assert api.delete(API + f"events/{event.pk}/").status_code == 405


def test_events_filter_by_type_and_date(api):
    now = timezone.now()
    old = make_event("order.paid", created_at=now - timedelta(days=3))
    recent = make_event("order.paid", created_at=now - timedelta(hours=1))
    other = make_event("user.created", created_at=now - timedelta(hours=2))

    def ids(**params):
        response = api.get(API + "events/", params)
        assert response.status_code == 200
        return [e["id"] for e in response.json()["results"]]

    assert ids() == [recent.pk, other.pk, old.pk]
    assert ids(event_type="order.paid") == [recent.pk, old.pk]
    assert ids(created_after=(now - timedelta(days=1)).isoformat()) == [recent.pk, other.pk]
    assert ids(created_before=(now - timedelta(days=1)).isoformat()) == [old.pk]
    assert ids(event_type="user.created", created_after=(now - timedelta(days=1)).isoformat()) == [
        other.pk
    ]
    bad = api.get(API + "events/", {"created_after": "yesterday"})
    assert bad.status_code == 400
    assert "created_after" in bad.json()


def test_retrieve_event_nests_its_deliveries(api, endpoint):
    event = make_event()
    second = Endpoint.objects.create(url=LOCAL_URL + "2")
    make_delivery(endpoint, event)
    make_delivery(second, event, status=Delivery.Status.FAILED)
    body = api.get(API + f"events/{event.pk}/").json()
    assert [(d["endpoint"], d["status"]) for d in body["deliveries"]] == [
        (endpoint.pk, "pending"),
        (second.pk, "failed"),
    ]
    assert all(d["event"] == event.pk for d in body["deliveries"])
    assert api.get(API + "events/msg_missing/").status_code == 404


# --- deliveries ----------------------------------------------------------------------------


def test_deliveries_filter(api, endpoint):
    other = Endpoint.objects.create(url=LOCAL_URL + "2")
    paid = make_delivery(endpoint, make_event("order.paid"), status=Delivery.Status.FAILED)
    created = make_delivery(other, make_event("user.created"), status=Delivery.Status.SUCCEEDED)
    pending = make_delivery(other, make_event("order.paid"))

    def ids(**params):
        response = api.get(API + "deliveries/", params)
        assert response.status_code == 200, response.content
        return {d["id"] for d in response.json()["results"]}

    assert ids() == {paid.pk, created.pk, pending.pk}
    assert ids(status="failed") == {paid.pk}
    assert ids(endpoint=other.pk) == {created.pk, pending.pk}
    assert ids(event_type="order.paid") == {paid.pk, pending.pk}
    assert ids(event=created.event_id) == {created.pk}
    assert ids(endpoint=other.pk, status="pending") == {pending.pk}
    for bad in ({"status": "lost"}, {"endpoint": "x"}):
        assert api.get(API + "deliveries/", bad).status_code == 400


def test_retrieve_delivery_nests_its_attempts(api, endpoint):
    delivery = make_delivery(endpoint, status=Delivery.Status.FAILED, attempt_count=2)
    Attempt.objects.create(delivery=delivery, number=2, status_code=500, response_body="boom")
    Attempt.objects.create(delivery=delivery, number=1, error_type="timeout", error="slow")
    body = api.get(API + f"deliveries/{delivery.pk}/").json()
    assert body["event"] == delivery.event_id
    assert body["event_type"] == "order.paid"
    assert body["endpoint_url"] == LOCAL_URL
    assert [(a["number"], a["status_code"], a["error_type"]) for a in body["attempts"]] == [
        (1, None, "timeout"),
        (2, 500, ""),
    ]
    assert body["attempts"][1]["response_body"] == "boom"
    assert "attempts" not in api.get(API + "deliveries/").json()["results"][0]


def test_retry_makes_a_failed_delivery_due_and_enqueues_it(
    api, endpoint, django_capture_on_commit_callbacks
):
    delivery = make_delivery(endpoint, status=Delivery.Status.FAILED, finished_at=timezone.now())
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(API + f"deliveries/{delivery.pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at is not None
    assert delivery.finished_at is None
    assert len(callbacks) == 1


def test_retry_refuses_a_succeeded_delivery(api, endpoint):
    delivery = make_delivery(endpoint, status=Delivery.Status.SUCCEEDED)
    response = api.post(API + f"deliveries/{delivery.pk}/retry/")
    assert response.status_code == 409
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_cancel_fails_a_pending_delivery(api, endpoint):
    delivery = make_delivery(endpoint, next_attempt_at=timezone.now())
    response = api.post(API + f"deliveries/{delivery.pk}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["last_error"] == "Cancelled through the API"
    assert body["next_attempt_at"] is None
    assert api.post(API + f"deliveries/{delivery.pk}/cancel/").status_code == 409


# --- inbound events ----------------------------------------------------------------------


def test_inbound_events_filter(api):
    failed = make_inbound("a")
    processed = make_inbound("b", status=InboundEvent.Status.PROCESSED, event_type="user.x")
    other = make_inbound("c", source="stripe", status=InboundEvent.Status.PENDING)

    def ids(**params):
        response = api.get(API + "inbound-events/", params)
        assert response.status_code == 200
        return {e["id"] for e in response.json()["results"]}

    assert ids() == {failed.pk, processed.pk, other.pk}
    assert ids(source="standard") == {failed.pk, processed.pk}
    assert ids(status="failed") == {failed.pk}
    assert ids(event_type="user.x") == {processed.pk}
    assert ids(source="stripe", status="pending") == {other.pk}
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert ids(received_after=later) == set()
    assert ids(received_before=later) == {failed.pk, processed.pk, other.pk}
    assert api.get(API + "inbound-events/", {"status": "weird"}).status_code == 400


def test_retrieve_inbound_event(api):
    event = make_inbound("evt_9", headers={"webhook-id": "evt_9"})
    body = api.get(API + f"inbound-events/{event.pk}/").json()
    assert body["source"] == "standard"
    assert body["event_id"] == "evt_9"
    assert body["payload"] == {"id": "evt_9"}
    assert body["headers"] == {"webhook-id": "evt_9"}
    assert body["status"] == "failed"
    assert body["error"].startswith("RuntimeError")


def test_reprocess_runs_the_handler_of_a_failed_event(api):
    event = make_inbound("evt_r")
    response = api.post(API + f"inbound-events/{event.pk}/reprocess/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "processed"
    assert body["error"] == ""
    assert body["processing_attempts"] == 1
    assert Group.objects.filter(name="standard:evt_r").exists()
    # Processed now: a second reprocess is refused and runs nothing.
    assert api.post(API + f"inbound-events/{event.pk}/reprocess/").status_code == 409
    assert Group.objects.filter(name="standard:evt_r").count() == 1


def test_reprocess_records_a_missing_receiver(api):
    event = make_inbound("evt_m", receiver="")
    response = api.post(API + f"inbound-events/{event.pk}/reprocess/")
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert "LookupError" in response.json()["error"]


# --- tenants: staff see and manage every tenant's objects -------------------------------


def test_staff_set_and_change_an_endpoints_tenant(api):
    created = api.post(API + "endpoints/", {"url": LOCAL_URL, "tenant": "acme"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["tenant"] == "acme"
    endpoint = Endpoint.objects.get()
    assert endpoint.tenant == "acme"
    moved = api.patch(API + f"endpoints/{endpoint.pk}/", {"tenant": "globex"}, format="json")
    assert moved.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.tenant == "globex"
    operator = api.post(API + "endpoints/", {"url": LOCAL_URL}, format="json")
    assert operator.json()["tenant"] == ""
    too_long = api.post(API + "endpoints/", {"url": LOCAL_URL, "tenant": "t" * 256}, "json")
    assert too_long.status_code == 400
    assert "tenant" in too_long.json()


def test_staff_create_events_for_a_tenant(api):
    acme = Endpoint.objects.create(url=LOCAL_URL, tenant="acme")
    operator = Endpoint.objects.create(url=LOCAL_URL)  # the operator's: not reached
    response = api.post(
        API + "events/",
        {"event_type": "order.paid", "payload": {}, "tenant": "acme"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tenant"] == "acme"
    assert [(d["endpoint"], d["tenant"]) for d in body["deliveries"]] == [(acme.pk, "acme")]
    assert Event.objects.get().tenant == "acme"
    default = api.post(API + "events/", {"event_type": "order.paid", "payload": {}}, "json")
    assert default.json()["tenant"] == ""
    assert [d["endpoint"] for d in default.json()["deliveries"]] == [operator.pk]


def test_idempotency_keys_are_per_tenant_in_the_staff_api(api):
    def post(tenant, payload):
        body = {"event_type": "order.paid", "payload": payload, "idempotency_key": "k1"}
        if tenant is not None:
            body["tenant"] = tenant
        return api.post(API + "events/", body, format="json")

    acme = post("acme", {"n": 1})
    globex = post("globex", {"n": 2})  # another tenant's key: a new event, not a 422
    operator = post(None, {"n": 3})
    again = post("acme", {"n": 1})
    reused = post("acme", {"n": 9})
    assert (acme.status_code, globex.status_code, operator.status_code) == (201, 201, 201)
    assert again.status_code == 200
    assert again.json()["id"] == acme.json()["id"]
    assert reused.status_code == 422
    assert len({acme.json()["id"], globex.json()["id"], operator.json()["id"]}) == 3
    assert Event.objects.count() == 3


def test_staff_filter_by_tenant(api):
    acme = Endpoint.objects.create(url=LOCAL_URL, tenant="acme")
    globex = Endpoint.objects.create(url=LOCAL_URL, tenant="globex")
    operator = Endpoint.objects.create(url=LOCAL_URL)
    acme_delivery = make_delivery(acme, make_event(tenant="acme"))
    globex_delivery = make_delivery(globex, make_event(tenant="globex"))
    make_delivery(operator, make_event())

    def ids(collection, **params):
        response = api.get(API + collection, params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids("endpoints/", tenant="acme") == {acme.pk}
    assert ids("endpoints/", tenant="globex", is_active="true") == {globex.pk}
    assert ids("events/", tenant="acme") == {acme_delivery.event_id}
    assert ids("deliveries/", tenant="globex") == {globex_delivery.pk}
    assert ids("deliveries/", tenant="initech") == set()
    assert len(ids("endpoints/")) == 3  # no filter: every tenant's
    listed = api.get(API + "deliveries/", {"tenant": "acme"}).json()["results"]
    assert [d["tenant"] for d in listed] == ["acme"]
    assert api.get(API + "events/", {"tenant": "t" * 256}).status_code == 400


def test_a_deliverys_tenant_is_read_only_and_its_endpoints(api):
    endpoint = Endpoint.objects.create(url=LOCAL_URL, tenant="acme")
    delivery = make_delivery(endpoint, make_event(tenant="acme"))
    assert api.get(API + f"deliveries/{delivery.pk}/").json()["tenant"] == "acme"
    Endpoint.objects.filter(pk=endpoint.pk).update(tenant="globex")
    assert api.get(API + f"deliveries/{delivery.pk}/").json()["tenant"] == "globex"


# --- pagination and query counts ---------------------------------------------------------


def test_lists_are_paginated_by_the_configured_page_size(api):
    endpoints = [Endpoint.objects.create(url=f"{LOCAL_URL}/{n}") for n in range(5)]
    newest_first = [e.pk for e in reversed(endpoints)]
    with webhooks(API_PAGE_SIZE=2):
        first = api.get(API + "endpoints/").json()
        last = api.get(API + "endpoints/", {"page": 3}).json()
        beyond = api.get(API + "endpoints/", {"page": 4})
    assert first["count"] == 5
    assert [e["id"] for e in first["results"]] == newest_first[:2]
    assert first["previous"] is None
    assert first["next"].endswith("/api/webhooks/endpoints/?page=2")
    assert [e["id"] for e in last["results"]] == newest_first[4:]
    assert last["next"] is None
    assert beyond.status_code == 404
    assert len(api.get(API + "endpoints/").json()["results"]) == 5  # default 50


def _queries(client, path) -> int:
    client.get(path)  # the user's permissions are loaded once, then cached on the user
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def _grow(endpoint, count):
    event = make_event()
    for n in range(count):
        delivery = make_delivery(Endpoint.objects.create(url=f"{LOCAL_URL}/{n}"), event)
        Attempt.objects.create(delivery=delivery, number=1, status_code=500)
    make_inbound(f"grow-{count}")
    return event, delivery


@pytest.mark.parametrize("collection", ["endpoints/", "events/", "deliveries/", "inbound-events/"])
def test_lists_run_a_constant_number_of_queries(api, endpoint, collection):
    _grow(endpoint, 1)
    few = _queries(api, API + collection)
    _grow(endpoint, 6)
    assert _queries(api, API + collection) == few


def test_details_run_a_constant_number_of_queries(api, endpoint):
    small_event, small_delivery = _grow(endpoint, 1)
    big_event, big_delivery = _grow(endpoint, 6)
    for delivery in (small_delivery, big_delivery):
        for n in range(2, 6):
            Attempt.objects.create(delivery=delivery, number=n, status_code=500)
    assert _queries(api, API + f"events/{small_event.pk}/") == _queries(
        api, API + f"events/{big_event.pk}/"
    )
    assert _queries(api, API + f"deliveries/{small_delivery.pk}/") == _queries(
        api, API + f"deliveries/{big_delivery.pk}/"
    )


# --- the event-type catalog --------------------------------------------------------------


@pytest.fixture
def catalog():
    with isolated_event_types():
        event_types.register(
            "order.paid",
            description="An order was paid.",
            schema={"type": "object", "properties": {"id": {"type": "integer"}}},
            example={"id": 7},
        )
        event_types.register("order.legacy", deprecated=True)
        event_types.register("account.closed")
        yield


def test_the_catalog_lists_every_type_by_name(api, catalog):
    response = api.get(API + "event-types/")
    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "account.closed",
            "description": "",
            "schema": None,
            "example": None,
            "deprecated": False,
        },
        {
            "name": "order.legacy",
            "description": "",
            "schema": None,
            "example": None,
            "deprecated": True,
        },
        {
            "name": "order.paid",
            "description": "An order was paid.",
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "example": {"id": 7},
            "deprecated": False,
        },
    ]


def test_a_type_is_retrieved_by_its_dotted_name(api, catalog):
    response = api.get(API + "event-types/order.paid/")
    assert response.status_code == 200
    assert response.json()["example"] == {"id": 7}
    assert api.get(API + "event-types/order.refunded/").status_code == 404
    assert api.get(API + "event-types/order.*/").status_code == 404


def test_endpoints_show_the_deprecated_types_they_name(api, catalog):
    endpoint = Endpoint.objects.create(
        url=LOCAL_URL, event_types=["order.paid", "order.legacy", "order.*"]
    )
    data = api.get(API + f"endpoints/{endpoint.pk}/").json()
    assert data["deprecated_event_types"] == ["order.legacy"]
    listed = api.get(API + "endpoints/").json()["results"]
    assert listed[0]["deprecated_event_types"] == ["order.legacy"]
    response = api.patch(
        API + f"endpoints/{endpoint.pk}/",
        {"event_types": ["order.paid"], "deprecated_event_types": ["x"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["deprecated_event_types"] == []  # read-only, computed


def test_creating_an_event_with_a_refused_payload_is_a_400(api, catalog):
    body = {"event_type": "order.paid", "payload": {"id": "seven"}}
    with webhooks(VALIDATE_PAYLOADS=True):
        response = api.post(API + "events/", body, format="json")
        assert response.status_code == 400
        assert "at $.id" in response.json()["payload"][0]
        assert not Event.objects.exists()
        ok = api.post(API + "events/", {**body, "payload": {"id": 7}}, format="json")
        assert ok.status_code == 201
    assert api.post(API + "events/", body, format="json").status_code == 201  # validation off


# --- OpenAPI schema ----------------------------------------------------------------------


def test_the_schema_is_a_valid_openapi_3_document(api):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. duplicate operation ids, clashing components
        response = api.get(API + "schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert all(path.startswith(API) for path in schema["paths"])
    operation_ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_read_only_properties_have_no_default_in_the_schema(api):
    """A default on a field no client can write says nothing (validators of
    openapi-spec-validator 0.7, the newest that jsonschema 4.18 allows, refuse it)."""
    components = json.loads(api.get(API + "schema/").content)["components"]["schemas"]
    read_only = [
        (name, prop_name, prop)
        for name, component in components.items()
        for prop_name, prop in component.get("properties", {}).items()
        if prop.get("readOnly")
    ]
    assert any(prop_name == "tenant" for _, prop_name, _ in read_only)
    assert [(name, p) for name, p, prop in read_only if "default" in prop] == []


def test_the_schema_is_also_served_as_yaml(api):
    response = api.get(API + "schema/", {"format": "openapi"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    validate(schema)


def test_the_schema_describes_secrets_filters_and_idempotency(api):
    schema = api.get(API + "schema/").json()
    components = schema["components"]["schemas"]
    assert components["Endpoint"]["properties"]["secret"]["writeOnly"] is True
    assert components["EndpointCreated"]["properties"]["secret"]["readOnly"] is True
    assert "secret" in components["EndpointSecret"]["properties"]
    deliveries = schema["paths"][API + "deliveries/"]["get"]
    names = {p["name"] for p in deliveries["parameters"]}
    assert {"page", "status", "endpoint", "event_type", "tenant"} <= names
    for collection in ("endpoints/", "events/"):
        listed = schema["paths"][API + collection]["get"]
        assert "tenant" in {p["name"] for p in listed["parameters"]}
    assert "tenant" in components["EventCreate"]["properties"]
    assert "readOnly" not in components["Endpoint"]["properties"]["tenant"]
    create_event = schema["paths"][API + "events/"]["post"]
    assert {"201", "200"} <= set(create_event["responses"])
    assert "Idempotency-Key" in {p["name"] for p in create_event["parameters"]}
    send_test = schema["paths"][API + "endpoints/{id}/send-test/"]["post"]
    assert set(send_test["responses"]) == {"202"}
    assert components["Endpoint"]["properties"]["deprecated_event_types"]["readOnly"] is True
    catalog = schema["paths"][API + "event-types/"]["get"]
    assert catalog["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert not catalog.get("parameters")  # neither pages nor filters
    assert set(components["EventType"]["properties"]) == {
        "name",
        "description",
        "schema",
        "example",
        "deprecated",
    }


def test_the_schema_follows_the_permission_settings(member):
    member.user_permissions.set(all_permissions())
    client = APIClient()
    client.force_authenticate(member)
    assert client.get(API + "schema/").status_code == 403
    with webhooks(API_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticated"]):
        assert client.get(API + "schema/").status_code == 200


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGES = [(template, expected) for method, template, _, expected in ROUTES if method == "get"]


@pytest.mark.parametrize(("template", "expected"), PAGES, ids=[t or "/" for t, _ in PAGES])
def test_the_browsable_api_renders(objects, api, template, expected):
    path = API + fill(template, objects)
    response = api.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == expected
    html = response["Content-Type"].startswith("text/html")
    assert html == (template != "schema/")  # the schema is JSON (or YAML) only
