"""Webhooks received: one row per event, whatever the number of copies."""

from __future__ import annotations

import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


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
