"""The receiver's SQL per request on PostgreSQL: a regression here is a slower receiver.

Every round trip counts (``BEGIN``, savepoints and ``COMMIT`` included), since
``benchmarks/receiver_speed.py`` measures the receiver against a hand-written
view that takes seven for a new event and three for a copy.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.receivers import STANDARD_SECRET, behaviour
from webhooks_app.models import InboundEvent
from webhooks_app.testing import WebhookClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL's statements"),
]

# The handler of tests.receivers.StandardReceiver writes one row: the INSERT in the savepoint.
NEW_EVENT = [
    "UPDATE",  # a copy of a processed event? (no: matches nothing, writes nothing)
    "BEGIN",
    "INSERT",  # ... ON CONFLICT DO UPDATE ... RETURNING: the row, locked until COMMIT
    "SAVEPOINT",
    "INSERT",  # the handler's row
    "RELEASE",
    "UPDATE",  # processed
    "COMMIT",
]
COPY_OF_A_PROCESSED_EVENT = ["UPDATE"]  # the duplicate count, in autocommit mode
# The same as a new event: the upsert counts the copy and locks the row.
RETRY_OF_A_FAILED_EVENT = NEW_EVENT


@pytest.fixture(autouse=True)
def _reset_behaviour():
    behaviour.reset()
    yield
    behaviour.reset()


def statements(payload: dict, msg_id: str = "msg_q") -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = WebhookClient().post_standard_webhooks(
            "/hooks/standard/", payload, secret=STANDARD_SECRET, msg_id=msg_id
        )
    return response.status_code, [query["sql"].split(None, 1)[0].upper() for query in captured]


def test_a_new_event_and_its_copy_take_eight_statements_and_one():
    assert statements({"type": "order.paid"}) == (200, NEW_EVENT)
    assert statements({"type": "order.paid"}) == (200, COPY_OF_A_PROCESSED_EVENT)
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 1, 1)


def test_a_failed_event_and_its_retry_take_nine_statements_and_eight():
    behaviour.fail_times = 1
    status, failed = statements({"type": "order.paid"})
    assert status == 500
    # the savepoint rolled back (and released), then the failure recorded
    assert failed == [*NEW_EVENT[:5], "ROLLBACK", "RELEASE", "UPDATE", "COMMIT"]
    assert statements({"type": "order.paid"}) == (200, RETRY_OF_A_FAILED_EVENT)
    event = InboundEvent.objects.get()
    assert (event.status, event.duplicate_count, event.processing_attempts) == ("processed", 1, 2)
