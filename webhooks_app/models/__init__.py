"""Endpoints, events, deliveries, attempts: the database is the source of truth.

One module per side: :mod:`.endpoints`, :mod:`.outbound` (events, deliveries,
attempts), :mod:`.inbound`, :mod:`.contact_mail`; every model is imported from here.
"""

from webhooks_app.models.contact_mail import ContactMailCount
from webhooks_app.models.endpoints import Endpoint
from webhooks_app.models.inbound import InboundEvent
from webhooks_app.models.outbound import Attempt, Delivery, Event, OutboxEntry

__all__ = [
    "Attempt",
    "ContactMailCount",
    "Delivery",
    "Endpoint",
    "Event",
    "InboundEvent",
    "OutboxEntry",
]
