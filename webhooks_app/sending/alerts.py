"""Owner alerts: an endpoint's owner told, out of band, that it fails and will be disabled.

Standard Webhooks asks senders to tell consumers when their endpoint keeps failing.
Three moments, each at most once per failing streak:

- **failing**: ``WEBHOOKS["ALERT_AFTER_FAILURES"]`` attempts in a row have failed;
- **about to be disabled**: the streak has gone ``WEBHOOKS["ALERT_DISABLE_WARNING"]``
  (a share, e.g. one half) of the way to *both* disable thresholds: that share of
  ``DISABLE_AFTER_FAILURES`` failures in a row, lasting that share of
  ``DISABLE_AFTER_SECONDS``;
- **disabled**: the engine disabled it (a long streak, 410 Gone, unusable event types).

Recording finds, inside its transaction, the moment a streak has reached and claims it
with a guarded UPDATE of ``Endpoint.alerted_stage`` (:func:`claim`): of the workers
recording one endpoint's failures, exactly one alerts, once; a later moment reached
first supersedes an earlier one. A success ending the streak and re-enabling reset it.

After commit, :func:`notify` sends the moment's signal (always) and, when the endpoint
has a *confirmed* contact address (:mod:`~webhooks_app.sending.contacts`), an e-mail
through :mod:`~webhooks_app.sending.owner_mail` (capped per address and day by
``WEBHOOKS["ALERT_MAX_PER_DAY"]``), rendered from templates a project can override
(``webhooks_app/email/<moment>_subject.txt``, ``<moment>_body.txt`` and, if it exists,
``<moment>_body.html``). The templates get the masked URL and last error, never a
secret. The URL and description are the customer's words: the app's subjects carry
neither, and its bodies show them as quoted data on lines of their own. Nothing here
raises: a failing mail backend or signal receiver is logged, and recording goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Any
from urllib.parse import quote

from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from webhooks_app import conf, redaction, signals
from webhooks_app.models import Attempt, Endpoint
from webhooks_app.sending import owner_mail

logger = logging.getLogger(__name__)

Stage = Endpoint.Alert

# The template names' stem of each moment.
TEMPLATES = {
    Stage.FAILING: "endpoint_failing",
    Stage.DISABLE_WARNING: "endpoint_disable_warning",
    Stage.DISABLED: "endpoint_disabled",
}


@dataclass(frozen=True)
class Alert:
    """A moment claimed for one endpoint's streak, with the streak as it stood."""

    stage: Stage
    failure_streak: int
    failing_since: datetime | None


def reached(streak: int, since: datetime | None, now: datetime) -> Stage:
    """The latest moment a failing streak has reached (``NONE`` for none yet).

    The disabling itself is not decided here (recording does it); a streak long
    enough to be disabled is reported as the warning, which the disabling supersedes.
    """
    stage = Stage.NONE
    after = conf.get("ALERT_AFTER_FAILURES")
    if after is not None and streak >= after:
        stage = Stage.FAILING
    share = conf.get("ALERT_DISABLE_WARNING")
    if share is not None and since is not None:
        failures = max(1, ceil(share * conf.get("DISABLE_AFTER_FAILURES")))
        lasted = timedelta(seconds=share * conf.get("DISABLE_AFTER_SECONDS"))
        if streak >= failures and now - since >= lasted:
            stage = Stage.DISABLE_WARNING
    return stage


def claim(
    endpoints: QuerySet[Endpoint], streak: int, since: datetime | None, now: datetime
) -> Alert | None:
    """Claim the moment this streak has reached, unless it (or a later one) was sent.

    Runs in the recording transaction: the guarded UPDATE lets one caller alone have it.
    """
    stage = reached(streak, since, now)
    if stage is Stage.NONE:
        return None
    if not endpoints.filter(is_active=True, alerted_stage__lt=stage).update(alerted_stage=stage):
        return None
    return Alert(stage, streak, since)


def notify(alert: Alert, endpoint: Endpoint, attempt: Attempt | None = None) -> None:
    """Send a claimed moment's signal and e-mail; call it after commit."""
    signal = (
        signals.endpoint_failing
        if alert.stage is Stage.FAILING
        else signals.endpoint_disable_warning
    )
    last_error = _last_error(attempt)
    _signal(
        signal,
        endpoint,
        failure_streak=alert.failure_streak,
        failing_since=alert.failing_since,
        last_error=last_error,
    )
    _mail(
        alert.stage,
        endpoint,
        failure_streak=alert.failure_streak,
        failing_since=alert.failing_since,
        last_error=last_error,
        disable_after_failures=conf.get("DISABLE_AFTER_FAILURES"),
        failures_left=max(0, conf.get("DISABLE_AFTER_FAILURES") - alert.failure_streak),
        disabled_not_before=_disabled_not_before(alert.failing_since),
    )


def _disabled_not_before(since: datetime | None) -> datetime | None:
    """When the streak will have lasted long enough to disable; None if it has already."""
    if since is None:
        return None
    at = since + timedelta(seconds=conf.get("DISABLE_AFTER_SECONDS"))
    return at if at > timezone.now() else None


def disabled(endpoint: Endpoint, reason: str, attempt: Attempt | None = None) -> None:
    """E-mail the owner that the engine disabled the endpoint, and why; call it after
    :meth:`Endpoint.disable` returned True (which sends ``endpoint_disabled``)."""
    _mail(
        Stage.DISABLED,
        endpoint,
        reason=redaction.mask_text(reason),
        last_error=_last_error(attempt),
        disabled_at=endpoint.disabled_at,
    )


def _last_error(attempt: Attempt | None) -> str:
    if attempt is None:
        return ""
    error = redaction.mask_text(attempt.error or "")
    if attempt.status_code and str(attempt.status_code) not in error:
        return f"HTTP {attempt.status_code}: {error}" if error else f"HTTP {attempt.status_code}"
    return error


def _signal(signal: Signal, endpoint: Endpoint, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=Endpoint, endpoint=endpoint, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "A receiver of an alert for endpoint %s failed: %r",
                endpoint.pk,
                receiver,
                exc_info=result,
            )


def context(endpoint: Endpoint, **extra: Any) -> dict[str, Any]:
    """What the e-mail templates get: masked, and no secret (no endpoint object either,
    so that an overriding template cannot print one). The customer's text is on one line,
    so that it cannot pass for lines of the operator's."""
    link = conf.get("ALERT_LINK")
    return {
        "endpoint_id": endpoint.pk,
        "url": redaction.mask_url(endpoint.url),
        "description": " ".join(endpoint.description.split()),
        "tenant": endpoint.tenant,
        "link": link.format(endpoint_id=endpoint.pk, tenant=quote(endpoint.tenant, safe=""))
        if link
        else "",
        **extra,
    }


def _mail(stage: Stage, endpoint: Endpoint, **extra: Any) -> None:
    """The moment's e-mail to the endpoint's contact address, if it has a confirmed one."""
    if not endpoint.contact_email_confirmed or not conf.get("ALERT_EMAILS"):
        return
    owner_mail.send(
        TEMPLATES[stage],
        endpoint.contact_email,
        context(endpoint, **extra),
        endpoint_id=endpoint.pk,
        kind="alert",
    )
