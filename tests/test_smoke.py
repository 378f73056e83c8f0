import pytest

from tests.conftest import wait_until
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint


@pytest.mark.django_db(transaction=True)
def test_event_is_delivered_by_a_real_worker(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())
    event = send_event("order.paid", {"order_id": 42})
    (request,) = http_server.wait_for(1)
    assert request.headers["webhook-id"] == str(event.id)
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
