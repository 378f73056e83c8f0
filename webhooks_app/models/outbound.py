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
    # The outbox marker: null until the event's deliveries have been written.
    fanned_out_at = models.DateTimeField(_("fanned out at"), null=True, blank=True, editable=False)

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
            models.Index(
                fields=["created_at"],
                condition=Q(fanned_out_at__isnull=True),
                name="webhooks_event_unexpanded",
            ),
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

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
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
            # Requests in flight per endpoint: leased pending deliveries.
            models.Index(
                fields=["locked_until", "endpoint"],
                condition=Q(status="pending"),
                name="webhooks_delivery_leased",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One HTTP try of a delivery: the audit trail."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        MANUAL = "manual", _("manual")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
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
