"""Mail to an endpoint's contact address: rendered from templates, capped per day, never raising.

Alerts (:mod:`~webhooks_app.sending.alerts`) and confirmation requests
(:mod:`~webhooks_app.sending.contacts`) both go through :func:`send`. An address is
sent at most ``WEBHOOKS["ALERT_MAX_PER_DAY"]`` mails per UTC day, both kinds
together and across every endpoint naming it, so that neither a failing endpoint
nor a customer changing its contact address over and over can have the operator
mail anyone repeatedly. The count is a row per (address, day) in
:class:`~webhooks_app.models.ContactMailCount`, created if missing and then
incremented by one guarded UPDATE (``count < cap``): of processes racing for the
last mail of the day, one alone has it, on PostgreSQL as on SQLite. A mail counts
when it is attempted, so a failing mail server does not raise the cap.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone, translation

from webhooks_app import conf
from webhooks_app.models import ContactMailCount
from webhooks_app.observability import metrics

logger = logging.getLogger(__name__)


def take_slot(address: str, now: datetime | None = None) -> bool:
    """Count one mail to ``address`` today (UTC); False, counting nothing, once it has had
    ``ALERT_MAX_PER_DAY``."""
    cap = conf.get("ALERT_MAX_PER_DAY")
    if cap is None:
        return True
    key = address.strip().lower()
    day = (now or timezone.now()).astimezone(UTC).date()
    ContactMailCount.objects.filter(day__lt=day - timedelta(days=1)).delete()
    ContactMailCount.objects.bulk_create(
        [ContactMailCount(address=key, day=day)], ignore_conflicts=True
    )
    taken = ContactMailCount.objects.filter(address=key, day=day, count__lt=cap)
    return bool(taken.update(count=F("count") + 1))


def send(name: str, address: str, values: dict[str, Any], *, endpoint_id: int, kind: str) -> bool:
    """Render ``webhooks_app/email/<name>_*`` with ``values`` and mail it to ``address``,
    within the day's cap; whether it went. ``kind`` labels the dropped-mail counter."""
    try:
        if not take_slot(address):
            # No address in the line: it is the customer's, and the endpoint's id finds it.
            logger.warning(
                "The %s e-mail for endpoint %s was not sent: its contact address has had "
                "its ALERT_MAX_PER_DAY mails today",
                name,
                endpoint_id,
            )
            metrics.count_mail_dropped(kind)
            return False
        # The owner's mail is not in the language of whatever request caused it.
        with translation.override(settings.LANGUAGE_CODE):
            subject, body, html = render(name, values)
        send_mail(subject, body, conf.get("ALERT_FROM_EMAIL"), [address], html_message=html)
    except Exception:
        logger.exception("The %s e-mail for endpoint %s could not be sent", name, endpoint_id)
        return False
    logger.info("Sent the %s e-mail for endpoint %s", name, endpoint_id)
    return True


def render(name: str, values: dict[str, Any]) -> tuple[str, str, str | None]:
    """Subject (on one line), text body and, if its template exists, HTML body."""
    subject = render_to_string(f"webhooks_app/email/{name}_subject.txt", values)
    body = render_to_string(f"webhooks_app/email/{name}_body.txt", values)
    try:
        html = render_to_string(f"webhooks_app/email/{name}_body.html", values)
    except TemplateDoesNotExist:
        html = None
    return " ".join(subject.split()), body, html
