"""Imported by webhooks_app's ``ready()``: the registration a project would write."""

from tests.model_events_app.models import Order
from tests.model_events_app.serializers import OrderSerializer
from webhooks_app.sending import model_events

model_events.register(
    Order,
    events={"created": "order.created", "updated": "order.updated", "deleted": "order.deleted"},
    serializer=OrderSerializer,
    tenant="shop_id",
)
