"""Signals sent by the outbound pipeline and the receivers.

- ``delivery_succeeded(sender=Delivery, delivery, attempt)``
- ``delivery_failed(sender=Delivery, delivery, attempt, reason)``: failed for good
  (out of attempts, a non-retryable answer, or 410 Gone).
- ``endpoint_disabled(sender=Endpoint, endpoint, reason)``

They are sent after the state change has been committed.
"""

from django.dispatch import Signal

delivery_succeeded = Signal()
delivery_failed = Signal()
endpoint_disabled = Signal()

# Inbound: sent after the outcome is committed.
# ``inbound_processed(sender=InboundEvent, event)``
# ``inbound_failed(sender=InboundEvent, event, exception)``
inbound_processed = Signal()
inbound_failed = Signal()
