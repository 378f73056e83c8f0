"""Endpoints: where deliveries go, with their secrets, credentials and health."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, redaction, signals, signing, validators
from webhooks_app.event_patterns import event_type_matches
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
    # The circuit breaker's window (webhooks_app.breaker, kept by webhooks_app.sending.health):
    # tries and transient failures counted since ``window_started_at``, the window before
    # at half weight; the circuit opens on the failure rate over it.
    window_started_at = models.DateTimeField(_("window started at"), null=True, blank=True)
    window_requests = models.PositiveIntegerField(_("requests in the window"), default=0)
    window_failures = models.PositiveIntegerField(_("failures in the window"), default=0)
    # Ownership (webhooks_app.sending.ownership): only the worker named here sends to
    # this endpoint until ``owned_until``; another may take it over only after that.
    owner = models.CharField(_("owner"), max_length=100, blank=True, default="", editable=False)
    owned_until = models.DateTimeField(_("owned until"), null=True, blank=True, editable=False)
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

    ENGINE_FIELDS = frozenset({"owner", "owned_until"})
    """Written by the engine alone: a save() of a copy loaded earlier (the admin's form,
    a shell) must not move an ownership back in time."""

    def save(self, *args, **kwargs) -> None:
        if not self.secret:
            self.secret = signing.generate_secret()
        if not self._state.adding and self.pk and kwargs.get("update_fields") is None:
            if not kwargs.get("force_insert"):
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name not in self.ENGINE_FIELDS
                ]
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
        self.window_started_at = None
        self.window_requests = 0
        self.window_failures = 0
        self.save()
