"""An endpoint's state and a delivery's next try, described once for every surface.

The health columns (:mod:`webhooks_app.sending.health`) and the delivery's own
row say everything, but not plainly: an endpoint whose circuit is open is still
``is_active``, and a delivery due at 15:03:02 waits past it while its endpoint is
paused. :func:`describe_endpoint` and :func:`describe_delivery` read them the way
the engine does (:mod:`webhooks_app.sending.due`) and say what is going on, why,
and when the next try is; the portal, the APIs and the admin all show these.

Both read only the objects' attributes and ``now``: no query, no request.
A time is "when the next try is" only while it is still to come; a past time
is never presented as a next try.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import redaction


class EndpointHealth(Protocol):
    """The columns of :class:`~webhooks_app.models.Endpoint` read here."""

    is_active: bool
    disabled_reason: str
    disabled_at: datetime | None
    failure_streak: int
    failing_since: datetime | None
    paused_until: datetime | None
    circuit_failures: int
    circuit_opened_at: datetime | None
    rate_limit: int | None


ACTIVE, FAILING, PAUSED, CIRCUIT_OPEN, PROBING, DISABLED = (
    "active",
    "failing",
    "paused",
    "circuit_open",
    "probing",
    "disabled",
)
"""An endpoint's state codes, from the best to the worst."""

LABELS: dict[str, Promise] = {
    ACTIVE: _("Active"),
    FAILING: _("Active, failing"),
    PAUSED: _("Active, paused"),
    CIRCUIT_OPEN: _("Active, circuit open"),
    PROBING: _("Active, probing"),
    DISABLED: _("Disabled"),
}
ENDPOINT_CODES = tuple(LABELS)

SUCCEEDED, FAILED, SENDING, SCHEDULED, DUE, WAITING = (
    "succeeded",
    "failed",
    "sending",
    "scheduled",
    "due",
    "waiting",
)
"""A delivery's codes: finished (the first two), or pending (the others)."""

DELIVERY_CODES = (SUCCEEDED, FAILED, SENDING, SCHEDULED, DUE, WAITING)

TONES = {
    ACTIVE: "ok",
    SUCCEEDED: "ok",
    FAILING: "warn",
    PAUSED: "warn",
    CIRCUIT_OPEN: "warn",
    PROBING: "warn",
    SENDING: "warn",
    SCHEDULED: "warn",
    DUE: "warn",
    WAITING: "warn",
    DISABLED: "bad",
    FAILED: "bad",
}
"""How each code reads at a glance: good, needs an eye, or stopped."""


@dataclass(frozen=True)
class State:
    """What is going on, why, and until when (the next try or probe, when known)."""

    code: str
    reason: str = ""
    until: datetime | None = None
    since: datetime | None = None
    streak: int = 0

    @property
    def label(self) -> str:
        """A short name of the state (an endpoint's)."""
        return str(LABELS.get(self.code, self.code))

    @property
    def tone(self) -> str:
        """``ok``, ``warn`` or ``bad``."""
        return TONES.get(self.code, "warn")

    def as_dict(self) -> dict[str, Any]:
        """The APIs' ``state`` object: ``{"code", "reason", "until"}``."""
        return {"code": self.code, "reason": self.reason, "until": self.until}


def describe_endpoint(endpoint: EndpointHealth, now: datetime) -> State:
    """The endpoint's state: disabled, circuit open or probing, paused, failing, or active.

    A pause with no failure in a row is the rate limit spacing requests, which is
    sending as usual: the endpoint reads as active.
    """
    streak, since = endpoint.failure_streak, endpoint.failing_since
    if not endpoint.is_active:
        reason = redaction.mask_text(endpoint.disabled_reason) or gettext("Disabled.")
        return State(DISABLED, reason, since=endpoint.disabled_at, streak=streak)
    paused = _future(endpoint.paused_until, now)
    if endpoint.circuit_opened_at is not None:
        count = endpoint.circuit_failures
        if paused:
            reason = ngettext(
                "The circuit breaker opened after %(count)d timeout or error in a row: "
                "nothing is sent until one probe request is tried.",
                "The circuit breaker opened after %(count)d timeouts or errors in a row: "
                "nothing is sent until one probe request is tried.",
                count,
            ) % {"count": count}
            return State(CIRCUIT_OPEN, reason, paused, endpoint.circuit_opened_at, streak)
        reason = gettext(
            "The circuit breaker sends one probe request at a time: "
            "when it succeeds, sending resumes."
        )
        return State(PROBING, reason, None, endpoint.circuit_opened_at, streak)
    if paused and streak:
        if endpoint.rate_limit:
            reason = gettext(
                "The endpoint asked us to wait (429 Too Many Requests with Retry-After), "
                "or its rate limit spaces requests."
            )
        else:
            reason = gettext(
                "The endpoint asked us to wait (429 Too Many Requests with Retry-After)."
            )
        return State(PAUSED, reason, paused, since, streak)
    if streak:
        reason = ngettext(
            "%(count)d failed attempt in a row.", "%(count)d failed attempts in a row.", streak
        ) % {"count": streak}
        return State(FAILING, reason, None, since, streak)
    return State(ACTIVE)


class DeliveryRow(Protocol):
    """The columns of :class:`~webhooks_app.models.Delivery` read here."""

    status: str
    next_attempt_at: datetime | None
    locked_until: datetime | None
    last_error: str


def describe_delivery(delivery: DeliveryRow, endpoint: EndpointHealth, now: datetime) -> State:
    """The delivery's state, and for a pending one when its next try really is.

    A pending delivery whose time has come waits while its endpoint is paused
    or its circuit open: its next try is when the endpoint reopens; and, when
    annotated by :func:`webhooks_app.sending.ordering.with_earlier_in_key`,
    while an earlier delivery of its ordering key is pending. One whose
    time has passed and that nothing holds is due now, never "next try at" a
    time gone by.
    """
    if delivery.status == "succeeded":
        return State(SUCCEEDED)
    if delivery.status == "failed":
        return State(FAILED, redaction.mask_text(delivery.last_error))
    if _future(delivery.locked_until, now):
        return State(SENDING, gettext("It is being sent now."))
    if not endpoint.is_active:
        return State(WAITING, gettext("It waits until the endpoint is enabled again."))
    if getattr(delivery, "earlier_in_key", False):  # ordering.with_earlier_in_key
        return State(
            WAITING,
            gettext(
                "It waits for the earlier events of its ordering key: each goes out once "
                "the one before it has been delivered or has failed for good."
            ),
        )
    at = delivery.next_attempt_at or now
    reopens = _future(endpoint.paused_until, now)
    if reopens and reopens > at:
        health = describe_endpoint(endpoint, now)
        if health.code in (CIRCUIT_OPEN, PAUSED):
            return State(WAITING, health.reason, reopens)
        return State(SCHEDULED, "", reopens)  # the rate limit's spacing
    if at > now:
        return State(SCHEDULED, "", at)
    return State(DUE, gettext("It is due: it goes out as soon as a worker takes it."))


def _future(moment: datetime | None, now: datetime) -> datetime | None:
    return moment if moment is not None and moment > now else None
