"""The delivery claim: the per-endpoint cap of requests in flight holds across claims.

Leased deliveries are the requests in flight. A claim must count the ones that
earlier claims (of this process or of another) still hold, not only what it
leases itself: otherwise the cap holds within one claim alone. These tests go
through :func:`claims.claim`, never the SQL text, so they hold whatever the
statements look like.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from tests.conftest import ROOT, service_env
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.sending import claims

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 4

# Nothing is sent: these tests only claim. The URL is a loopback port nobody listens on.
SETTINGS = {
    "ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "TIMEOUT": (2, 3),
    "LEASE_MARGIN": 1,
    "RETRY_SCHEDULE": [60],
    "BATCH_SIZE": 50,
    "MAX_IN_FLIGHT_PER_ENDPOINT": CAP,
}

# Claims in a separate Python process, on the same test database; prints the ids it leased.
CLAIM_IN_ANOTHER_PROCESS = """
import json, sys
import django
django.setup()
from webhooks_app.sending import claims
print(json.dumps(sorted(item.pk for item in claims.claim(int(sys.argv[1])))))
"""


@pytest.fixture(autouse=True)
def _settings():
    with override_settings(WEBHOOKS=SETTINGS):
        yield


def due_deliveries(endpoint: Endpoint, count: int, *, oldest: datetime) -> list[int]:
    """``count`` due deliveries to ``endpoint``, one second apart from ``oldest`` on; their ids
    oldest first. Written directly, so no wake-up is sent."""
    ids = []
    for n in range(count):
        event = Event.objects.create(event_type="order.paid", payload={"n": n})
        delivery = Delivery.objects.create(
            event=event, endpoint=endpoint, next_attempt_at=oldest + timedelta(seconds=n)
        )
        ids.append(delivery.pk)
    return ids


def new_endpoint(name: str) -> Endpoint:
    return Endpoint.objects.create(url=f"http://127.0.0.1:9/{name}")


def claimed_ids(limit: int) -> list[int]:
    return sorted(item.pk for item in claims.claim(limit))


def claim_in_another_process(limit: int) -> list[int]:
    """Run one claim in a new Python process on this test's database."""
    env = service_env(connection.settings_dict["NAME"], dict(settings.WEBHOOKS))
    done = subprocess.run(
        [sys.executable, "-c", CLAIM_IN_ANOTHER_PROCESS, str(limit)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_flight(endpoint: Endpoint) -> int:
    return Delivery.objects.filter(
        endpoint=endpoint, status=Delivery.Status.PENDING, locked_until__gt=timezone.now()
    ).count()


def test_a_claim_counts_the_requests_earlier_claims_keep_in_flight():
    endpoint = new_endpoint("busy")
    ids = due_deliveries(endpoint, 10, oldest=timezone.now() - timedelta(minutes=1))

    assert claimed_ids(2) == ids[:2]
    # Two in flight, cap 4: room for two more, whatever the limit asks for.
    assert claimed_ids(50) == ids[2:4]
    assert claimed_ids(50) == []
    assert in_flight(endpoint) == CAP


def test_the_cap_holds_across_processes():
    endpoint = new_endpoint("busy")
    ids = due_deliveries(endpoint, 10, oldest=timezone.now() - timedelta(minutes=1))

    assert claimed_ids(2) == ids[:2]
    assert claim_in_another_process(50) == ids[2:4]
    assert claim_in_another_process(50) == []
    assert claimed_ids(50) == []
    assert in_flight(endpoint) == CAP


def test_requests_in_flight_count_against_their_own_endpoint_only():
    oldest = timezone.now() - timedelta(minutes=1)
    first, second, idle = new_endpoint("first"), new_endpoint("second"), new_endpoint("idle")
    first_ids = due_deliveries(first, 10, oldest=oldest)
    second_ids = due_deliveries(second, 10, oldest=oldest + timedelta(seconds=20))
    idle_ids = due_deliveries(idle, 10, oldest=oldest + timedelta(seconds=40))

    assert claimed_ids(3) == first_ids[:3]
    assert sorted(item.pk for item in claims.claim(1, only=second_ids[:1])) == second_ids[:1]
    # Three in flight to the first, one to the second, none to the third.
    assert claimed_ids(50) == sorted(first_ids[3:4] + second_ids[1:4] + idle_ids[:CAP])


def test_an_expired_lease_is_not_a_request_in_flight():
    endpoint = new_endpoint("busy")
    ids = due_deliveries(endpoint, 10, oldest=timezone.now() - timedelta(minutes=1))
    assert claimed_ids(2) == ids[:2]
    # Their worker died: the leases ran out, so the two slots are free again.
    Delivery.objects.filter(pk__in=ids[:2]).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )

    assert claimed_ids(50) == ids[:4]  # the two lost tries first, then two more


def test_a_finished_delivery_is_not_a_request_in_flight():
    endpoint = new_endpoint("busy")
    ids = due_deliveries(endpoint, 10, oldest=timezone.now() - timedelta(minutes=1))
    assert claimed_ids(2) == ids[:2]
    # Recorded as succeeded by a worker that left the lease column as it was.
    Delivery.objects.filter(pk__in=ids[:2]).update(status=Delivery.Status.SUCCEEDED)

    assert claimed_ids(50) == ids[2:6]


@pytest.mark.parametrize("limit", [0, -1])
def test_a_claim_for_no_slot_leases_nothing(limit):
    due_deliveries(new_endpoint("busy"), 3, oldest=timezone.now() - timedelta(minutes=1))

    batch = claims.claim_batch(limit)
    assert batch.deliveries == []
    assert batch.contended is False  # nothing held elsewhere: the caller need not come back
    assert in_flight(Endpoint.objects.get()) == 0
