"""Serializers of the REST API.

An endpoint's secret is write-only in :class:`EndpointSerializer`; it is read
back only through :class:`EndpointCreatedSerializer` (the create response) and
:class:`EndpointSecretSerializer` (the reveal and rotate actions), and only by
users with the ``view_endpoint_secret`` permission (``null`` for the others).
The same permission shows an endpoint's credentials: without it, the values of
its extra headers, its URL's password and query-string values are masked
(``********``); a masked value sent back unchanged keeps the stored one. Error
texts are always shown with query-string values and URL passwords masked.

The customer-facing API's views put the request's tenant in the serializer context
(``context["tenant"]``, None while the schema is generated) and serialize that
tenant's objects alone: there an endpoint's ``tenant`` is read-only, and the owner
sees the secrets and credentials it set.

One module per resource; the names below are the serializers the views use.
"""

from webhooks_app.api.serializers.catalog import EventTypeSerializer
from webhooks_app.api.serializers.deliveries import (
    AttemptSerializer,
    DeliveryDetailSerializer,
    DeliverySerializer,
)
from webhooks_app.api.serializers.endpoints import (
    DisableEndpointSerializer,
    EndpointCreatedSerializer,
    EndpointSecretSerializer,
    EndpointSerializer,
    SendTestSerializer,
)
from webhooks_app.api.serializers.events import (
    EventCreateSerializer,
    EventDetailSerializer,
    EventSerializer,
)
from webhooks_app.api.serializers.inbound import InboundEventSerializer
from webhooks_app.api.serializers.stats import EndpointStatsSerializer

__all__ = [
    "AttemptSerializer",
    "DeliveryDetailSerializer",
    "DeliverySerializer",
    "DisableEndpointSerializer",
    "EndpointCreatedSerializer",
    "EndpointSecretSerializer",
    "EndpointSerializer",
    "EndpointStatsSerializer",
    "EventCreateSerializer",
    "EventDetailSerializer",
    "EventSerializer",
    "EventTypeSerializer",
    "InboundEventSerializer",
    "SendTestSerializer",
]
