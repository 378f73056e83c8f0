"""Signals sent by the outbound pipeline and the receivers.

- ``delivery_succeeded(sender=Delivery, delivery, attempt)``
- ``delivery_failed(sender=Delivery, delivery, attempt, reason)``: failed for good
  (out of attempts, a non-retryable answer, or 410 Gone).
- ``endpoint_disabled(sender=Endpoint, endpoint, reason)``: whoever disabled it (the
  engine, an operator, the owner).

Owner alerts (:mod:`webhooks_app.alerts`), each at most once per failing streak, with
``failure_streak`` (failed attempts in a row), ``failing_since`` and ``last_error``
(URL passwords and query-string values masked):

- ``endpoint_failing(sender=Endpoint, endpoint, failure_streak, failing_since, last_error)``:
  the streak reached ``WEBHOOKS["ALERT_AFTER_FAILURES"]``.
- ``endpoint_disable_warning(sender=Endpoint, endpoint, failure_streak, failing_since,
  last_error)``: the streak went ``WEBHOOKS["ALERT_DISABLE_WARNING"]`` of the way to
  being disabled.

They are sent after the state change has been committed. The alerts are sent whether
or not the endpoint has a contact address (its e-mail goes only to one); an exception
in one of their receivers is logged and stops nothing.
"""

from django.dispatch import Signal

delivery_succeeded = Signal()
delivery_failed = Signal()
endpoint_disabled = Signal()
endpoint_failing = Signal()
endpoint_disable_warning = Signal()

# Inbound: sent after the outcome is committed.
# ``inbound_processed(sender=InboundEvent, event)``
# ``inbound_failed(sender=InboundEvent, event, exception)``
inbound_processed = Signal()
inbound_failed = Signal()
