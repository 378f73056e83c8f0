"""Endpoints, events, deliveries, attempts: the database is the source of truth."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, redaction, signals, signing, validators
from webhooks_app.event_patterns import event_type_matches
from webhooks_app.ids import new_event_id
from webhooks_app.tenancy import TENANT_MAX_LENGTH

logger = logging.getLogger(__name__)


class Endpoint(models.Model):
    """Where webhooks are sent."""

    class Alert(models.IntegerChoices):
        """How far the owner has been told about the current failing streak."""

        NONE = 0, _("none")
        FAILING = 1, _("failing")
        DISABLE_WARNING = 2, _("about to be disabled")
        DISABLED = 3, _("disabled")

    url = models.URLField(
        _("URL"),
        max_length=2000,
        validators=[URLValidator(schemes=["http", "https"]), validators.validate_endpoint_url],
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    contact_email = models.EmailField(
        _("contact e-mail"),
        blank=True,
        help_text=_(
            "Told by e-mail when the endpoint starts failing, before it is disabled and "
            "when it is disabled."
        ),
    )
    # The contact address as its owner confirmed it (through the link mailed to it) or
    # staff set it: alerts go to ``contact_email`` only while the two are equal, so a
    # changed address is unconfirmed whichever way it was changed.
    confirmed_contact_email = models.EmailField(
        _("confirmed contact e-mail"), blank=True, editable=False
    )
    tenant = models.CharField(
        _("tenant"),
        max_length=TENANT_MAX_LENGTH,
        blank=True,
        default="",
        help_text=_("The customer who owns it; empty for the operator's own endpoints."),
    )
    secret = models.CharField(
        _("secret"),
        max_length=100,
        blank=True,
        validators=[validators.validate_secret],
        help_text=_("A whsec_ secret; generated when left blank."),
    )
    previous_secret = models.CharField(_("previous secret"), max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(
        _("previous secret expires at"), null=True, blank=True
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        validators=[validators.validate_event_types],
        help_text=_('Event types to send, e.g. ["order.paid", "user.*"]; empty means all.'),
    )
    headers = models.JSONField(
        _("extra headers"),
        default=dict,
        blank=True,
        validators=[validators.validate_headers],
        help_text=_("Sent with every request."),
    )
    rate_limit = models.PositiveIntegerField(
        _("rate limit"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Requests per second at most, across all workers; empty means unlimited."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("disabled reason"), max_length=255, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    failure_streak = models.PositiveIntegerField(_("failed attempts in a row"), default=0)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    # The alerts already sent for the current streak (webhooks_app.alerts): each at most
    # once; back to NONE when the streak ends on a success or the endpoint is re-enabled.
    alerted_stage = models.PositiveSmallIntegerField(
        _("owner alerted"), choices=Alert.choices, default=Alert.NONE, editable=False
    )
    # Flow control, kept by the delivery engine: no request is claimed for this
    # endpoint before ``paused_until`` (a 429's Retry-After, an open circuit's
    # cool-down, the rate limit's spacing).
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    circuit_failures = models.PositiveIntegerField(
        _("timeouts and retryable failures in a row"), default=0
    )
    circuit_opened_at = models.DateTimeField(
        _("circuit opened at"),
        null=True,
        blank=True,
        help_text=_("Set while the circuit breaker is open: one probe at a time is sent."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("endpoint")
        verbose_name_plural = _("endpoints")
        ordering = ["-created_at"]
        permissions = [
            ("view_endpoint_secret", _("Can view endpoint secrets and credentials")),
        ]
        indexes = [
            # The fan-out's query: a tenant's active endpoints.
            models.Index(fields=["tenant", "is_active"], name="webhooks_endpoint_tenant"),
        ]

    def __str__(self) -> str:
        """The URL with its password and query-string values masked (it ends up in pages,
        the admin's history and logs)."""
        return redaction.mask_url(self.url)

    def save(self, *args, **kwargs) -> None:
        if not self.secret:
            self.secret = signing.generate_secret()
        super().save(*args, **kwargs)

    @property
    def contact_email_confirmed(self) -> bool:
        """Whether the contact address gets alerts: it has been confirmed (or set by staff)."""
        return bool(self.contact_email) and self.contact_email == self.confirmed_contact_email

    @property
    def circuit_state(self) -> str:
        """``closed``, ``open`` (waiting out its cool-down) or ``half-open`` (probing)."""
        if self.circuit_opened_at is None:
            return "closed"
        if self.paused_until and self.paused_until > timezone.now():
            return "open"
        return "half-open"

    def accepts(self, event_type: str) -> bool:
        return event_type_matches(self.event_types, event_type)

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The current secret, plus the previous one while its grace period lasts."""
        now = now or timezone.now()
        secrets_ = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and (self.previous_secret_expires_at > now)
        ):
            secrets_.append(self.previous_secret)
        return secrets_

    def rotate_secret(self, new_secret: str | None = None, grace: float | None = None) -> str:
        """Replace the secret; the old one keeps signing for ``grace`` seconds."""
        grace = conf.get("SECRET_ROTATION_GRACE") if grace is None else grace
        self.previous_secret = self.secret
        self.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace)
        self.secret = new_secret or signing.generate_secret()
        self.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )
        return self.secret

    def disable(self, reason: str) -> bool:
        """Stop deliveries to this endpoint with a reason, and send ``endpoint_disabled``.

        Returns False, sending nothing, when it is disabled already (with a reason):
        of several workers noticing the same failure, one disables and signals.
        """
        now = timezone.now()
        changed = Endpoint.objects.filter(
            Q(is_active=True) | Q(disabled_at__isnull=True), pk=self.pk
        ).update(
            is_active=False,
            disabled_reason=reason[:255],
            disabled_at=now,
            alerted_stage=Endpoint.Alert.DISABLED,  # no "failing" alert while disabled
            updated_at=now,
        )
        if not changed:
            return False
        self.is_active, self.disabled_reason, self.disabled_at = False, reason[:255], now
        self.alerted_stage = Endpoint.Alert.DISABLED
        logger.warning("Endpoint %s disabled: %s", self.pk, redaction.mask_text(reason[:255]))
        signals.endpoint_disabled.send(sender=Endpoint, endpoint=self, reason=self.disabled_reason)
        return True

    def enable(self) -> None:
        """Resume deliveries; pending ones are picked up by the next sweep."""
        self.is_active = True
        self.disabled_reason = ""
        self.disabled_at = None
        self.failure_streak = 0
        self.failing_since = None
        self.alerted_stage = Endpoint.Alert.NONE
        self.circuit_failures = 0
        self.circuit_opened_at = None
        self.paused_until = None
        self.save()


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


class InboundEvent(models.Model):
    """A webhook received: every verified copy of an event maps to one row."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PROCESSED = "processed", _("processed")
        FAILED = "failed", _("failed")

    source = models.CharField(_("source"), max_length=100)
    event_id = models.CharField(_("event id"), max_length=255)
    event_type = models.CharField(_("event type"), max_length=255, blank=True)
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    error = models.TextField(_("error"), blank=True)
    processing_attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    duplicate_count = models.PositiveIntegerField(_("duplicate copies"), default=0)
    receiver = models.CharField(
        _("receiver"), max_length=255, blank=True, help_text=_("The view class that handles it.")
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="webhooks_inbound_unique")
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="webhooks_inbound_status"),
            models.Index(fields=["source", "-received_at"], name="webhooks_inbound_source"),
            models.Index(fields=["event_type"], name="webhooks_inbound_type"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id} ({self.status})"


class ContactMailCount(models.Model):
    """How many mails one contact address has been sent on one UTC day (alerts and
    confirmation requests alike), so that ``WEBHOOKS["ALERT_MAX_PER_DAY"]`` holds across
    processes (:mod:`webhooks_app.sending.owner_mail`)."""

    address = models.EmailField(_("address"))  # lowercased
    day = models.DateField(_("day (UTC)"))
    count = models.PositiveIntegerField(_("mails sent"), default=0)

    class Meta:
        verbose_name = _("mails to a contact address")
        verbose_name_plural = _("mails to contact addresses")
        constraints = [
            models.UniqueConstraint(fields=["address", "day"], name="webhooks_contact_mail_day"),
        ]

    def __str__(self) -> str:
        return f"{self.address} {self.day}: {self.count}"
