"""Events, their deliveries and every attempt: the sending side's source of truth."""

from __future__ import annotations

import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks_app.ids import new_event_id
from webhooks_app.models.endpoints import Endpoint
from webhooks_app.tenancy import TENANT_MAX_LENGTH

logger = logging.getLogger(__name__)


class Event(models.Model):
    """Something that happened; immutable once written."""

    id = models.CharField(primary_key=True, max_length=64, default=new_event_id, editable=False)
    event_type = models.CharField(_("event type"), max_length=255, db_index=True)
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder)
    tenant = models.CharField(
        _("tenant"), max_length=TENANT_MAX_LENGTH, blank=True, default="", editable=False
    )
    # Unique per tenant (the constraint below). Null when not given, not "": nulls never
    # collide in a unique constraint, so events without a key need no key of their own.
    idempotency_key = models.CharField(  # noqa: DJ001
        _("idempotency key"), max_length=255, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    # Ordering keys (webhooks_app.sending.ordering): events of one (tenant, key) go to each
    # endpoint one at a time, in ``sequence`` order (the order they were sent in).
    ordering_key = models.CharField(
        _("ordering key"), max_length=255, blank=True, default="", editable=False
    )
    sequence = models.BigIntegerField(_("sequence"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="webhooks_event_idempotency"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="webhooks_event_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"

    def save(self, *args, **kwargs) -> None:
        # Receivers may already hold what was sent; an edited event would make the
        # history lie. (Queryset updates bypass this, as they bypass save().)
        if not self._state.adding:
            raise ValueError("Events are immutable once written; send a new event instead.")
        super().save(*args, **kwargs)


class OutboxEntry(models.Model):
    """An event not fanned out yet: written with the event, deleted by its fan-out.

    The outbox marker lives apart from the event so that marking an event fanned
    out deletes a small row instead of rewriting the event, payload and all. It
    carries what the fan-out's order and ordering keys need without a join.
    """

    event = models.OneToOneField(
        Event, primary_key=True, on_delete=models.CASCADE, related_name="outbox_entry"
    )
    tenant = models.CharField(max_length=TENANT_MAX_LENGTH, blank=True, default="")
    ordering_key = models.CharField(max_length=255, blank=True, default="")
    sequence = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("outbox entry")
        verbose_name_plural = _("outbox entries")
        indexes = [
            models.Index(fields=["created_at"], name="webhooks_outbox_order"),
            # Ordering keys: an unexpanded earlier event of the key holds the key back.
            models.Index(
                fields=["tenant", "ordering_key", "sequence"],
                condition=~Q(ordering_key=""),
                name="webhooks_outbox_key",
            ),
        ]

    def __str__(self) -> str:
        return str(self.event_id)


class Delivery(models.Model):
    """One event to one endpoint: the unit of at-least-once work."""

    # Set on a claimed delivery, never stored: the time.monotonic() by which its try ends,
    # and the tracing context its try's span starts under (webhooks_app.tracing).
    deadline: float | None = None
    trace_context: object = None

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    # No index of their own: the unique (event, endpoint) and the (endpoint, created_at)
    # indexes below serve every lookup by either.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    locked_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The event's ordering key and sequence, copied at fan-out (see Event).
    ordering_key = models.CharField(
        _("ordering key"), max_length=255, blank=True, default="", editable=False
    )
    sequence = models.BigIntegerField(_("sequence"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhooks_delivery_unique")
        ]
        indexes = [
            # Claims and the sweep: pending deliveries, oldest due first (the id breaks ties,
            # so that "ORDER BY next_attempt_at, id LIMIT n" reads n rows of the index).
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhooks_delivery_due",
            ),
            # "Deliveries of this endpoint, newest first".
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_delivery_endpoint"),
            models.Index(fields=["status", "-created_at"], name="webhooks_delivery_status"),
            # An owner's claims: one endpoint's pending deliveries, oldest due first; also
            # its requests in flight (leased pending deliveries).
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhooks_delivery_endpoint_due",
            ),
            # Requests in flight per endpoint (leased pending deliveries): few, whatever
            # the backlog of due and scheduled deliveries.
            models.Index(
                fields=["endpoint", "locked_until"],
                condition=Q(status="pending", locked_until__isnull=False),
                name="webhooks_delivery_in_flight",
            ),
            # Ordering keys: the head of each (endpoint, key) among pending deliveries.
            models.Index(
                fields=["endpoint", "ordering_key", "sequence"],
                condition=Q(status="pending") & ~Q(ordering_key=""),
                name="webhooks_delivery_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One HTTP try of a delivery: the audit trail."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        MANUAL = "manual", _("manual")

    # No index of its own: the unique (delivery, number) serves lookups by delivery.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    number = models.PositiveIntegerField(_("number"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error_type = models.CharField(_("error type"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_body = models.TextField(_("response body"), blank=True)
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULED
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_unique")
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.status_code or self.error_type}"
