"""The daily count of mails to contact addresses (``ALERT_MAX_PER_DAY``)."""

from __future__ import annotations

import logging

from django.db import models
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


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
