"""The Django admin of webhooks_app: endpoints, events, deliveries, inbound events.

Operator actions call :mod:`webhooks_app.operations` (and
:func:`webhooks_app.receivers.processing.reprocess`), the same functions as the
REST API and the management commands, so every front end behaves alike.
"""

from webhooks_app.admin.endpoints import EndpointAdmin
from webhooks_app.admin.events import DeliveryAdmin, EventAdmin
from webhooks_app.admin.inbound import InboundEventAdmin

__all__ = ["DeliveryAdmin", "EndpointAdmin", "EventAdmin", "InboundEventAdmin"]
