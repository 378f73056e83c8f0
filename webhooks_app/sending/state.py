"""An endpoint's state and a delivery's next try, described once for every surface.

The health columns (:mod:`webhooks_app.sending.health`) and the delivery's own
row say everything, but not plainly: an endpoint whose circuit is open is still
``is_active``, and a delivery due at 15:03:02 waits past it while its endpoint is
paused. :func:`describe_endpoint` and :func:`describe_delivery` read them the way
the engine does (:mod:`webhooks_app.sending.due`) and say what is going on, why,
and when the next try is; an endpoint's state also carries the circuit breaker's
window as of now (:class:`RecentTries`: its failure rate). The portal, the APIs and
the admin all show these.

Both read only the objects' attributes, the settings and ``now``: no query, no request.
A time is "when the next try is" only while it is still to come; a past time
is never presented as a next try.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import breaker, conf, redaction


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
    window_started_at: datetime | None
    window_requests: int
    window_failures: int
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


def percent(rate: float) -> str:
    """A share from 0 to 1 in per cent: one decimal, none when it is whole."""
    value = 100 * rate
    digits = 0 if value == round(value) else 1
    # number_format cuts digits off; round first.
    return f"{formats.number_format(round(value, digits), digits)} %"


@dataclass(frozen=True)
class RecentTries:
    """The circuit breaker's window as of now (:mod:`webhooks_app.breaker`): the tries
    of the last ``seconds`` or so (the window before counts half) and the failed ones,
    timeouts, connection errors and retryable statuses."""

    seconds: float
    requests: int = 0
    failures: int = 0

    @property
    def failure_rate(self) -> float | None:
        """The share of them that failed; None without any."""
        return self.failures / self.requests if self.requests else None

    @property
    def summary(self) -> str:
        """The line the pages show, "failure rate 30 % over roughly the last 60 s (12 of
        40 requests)"; empty without any request."""
        if not self.requests:
            return ""
        return (
            ngettext(
                "failure rate %(rate)s over roughly the last %(seconds)s s "
                "(%(failures)d of %(requests)d request)",
                "failure rate %(rate)s over roughly the last %(seconds)s s "
                "(%(failures)d of %(requests)d requests)",
                self.requests,
            )
            % self.figures()
        )

    def figures(self) -> dict[str, Any]:
        """The values of the sentences that quote it, formatted."""
        return {
            "rate": percent(self.failure_rate or 0),
            "seconds": formats.number_format(self.seconds),
            "failures": self.failures,
            "requests": self.requests,
        }

    def as_dict(self) -> dict[str, Any]:
        """The APIs' ``window`` object."""
        return {
            "seconds": self.seconds,
            "requests": self.requests,
            "failures": self.failures,
            "failure_rate": self.failure_rate,
        }


def recent_tries(endpoint: EndpointHealth, now: datetime) -> RecentTries:
    """The endpoint's breaker window as it stands at ``now``: its counts halved, or
    dropped, when no try has been recorded since the window turned."""
    seconds = conf.get("CIRCUIT_BREAKER_WINDOW")
    stored = breaker.Window(
        endpoint.window_started_at, endpoint.window_requests, endpoint.window_failures
    )
    window = breaker.counted(stored, now, seconds)
    return RecentTries(seconds, window.requests, window.failures)


@dataclass(frozen=True)
class State:
    """What is going on, why, and until when (the next try or probe, when known); for an
    endpoint, its recent tries too."""

    code: str
    reason: str = ""
    until: datetime | None = None
    since: datetime | None = None
    streak: int = 0
    recent: RecentTries | None = None

    @property
    def label(self) -> str:
        """A short name of the state (an endpoint's)."""
        return str(LABELS.get(self.code, self.code))

    @property
    def tone(self) -> str:
        """``ok``, ``warn`` or ``bad``."""
        return TONES.get(self.code, "warn")

    def as_dict(self) -> dict[str, Any]:
        """The APIs' ``state`` object: ``{"code", "reason", "until"}``, and an endpoint's
        ``window`` (:meth:`RecentTries.as_dict`)."""
        described: dict[str, Any] = {"code": self.code, "reason": self.reason, "until": self.until}
        if self.recent is not None:
            described["window"] = self.recent.as_dict()
        return described


def describe_endpoint(endpoint: EndpointHealth, now: datetime) -> State:
    """The endpoint's state: disabled, circuit open or probing, paused, failing, or active.

    A pause with no failure in a row is the rate limit spacing requests, which is
    sending as usual: the endpoint reads as active.
    """
    recent = recent_tries(endpoint, now)
    streak, since = endpoint.failure_streak, endpoint.failing_since
    if not endpoint.is_active:
        reason = redaction.mask_text(endpoint.disabled_reason) or gettext("Disabled.")
        return State(DISABLED, reason, since=endpoint.disabled_at, streak=streak, recent=recent)
    paused = _future(endpoint.paused_until, now)
    if endpoint.circuit_opened_at is not None:
        if paused:
            reason = _why_the_circuit_opened(endpoint, recent)
            return State(CIRCUIT_OPEN, reason, paused, endpoint.circuit_opened_at, streak, recent)
        reason = gettext(
            "The circuit breaker sends one probe request at a time: "
            "when it succeeds, sending resumes."
        )
        return State(PROBING, reason, None, endpoint.circuit_opened_at, streak, recent)
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
        return State(PAUSED, reason, paused, since, streak, recent)
    if streak:
        reason = ngettext(
            "%(count)d failed attempt in a row.", "%(count)d failed attempts in a row.", streak
        ) % {"count": streak}
        return State(FAILING, reason, None, since, streak, recent)
    return State(ACTIVE, recent=recent)


def _why_the_circuit_opened(endpoint: EndpointHealth, recent: RecentTries) -> str:
    """A run of failures when there was one (``CIRCUIT_BREAKER_THRESHOLD`` or more in a
    row), else the failure rate that opened it."""
    count = endpoint.circuit_failures
    if count >= conf.get("CIRCUIT_BREAKER_THRESHOLD") or not recent.requests:
        return ngettext(
            "The circuit breaker opened after %(count)d timeout or error in a row: "
            "nothing is sent until one probe request is tried.",
            "The circuit breaker opened after %(count)d timeouts or errors in a row: "
            "nothing is sent until one probe request is tried.",
            count,
        ) % {"count": count}
    return (
        ngettext(
            "The circuit breaker opened: %(failures)d of the last %(requests)d request failed "
            "(%(rate)s over roughly %(seconds)s s); nothing is sent until one probe request "
            "is tried.",
            "The circuit breaker opened: %(failures)d of the last %(requests)d requests failed "
            "(%(rate)s over roughly %(seconds)s s); nothing is sent until one probe request "
            "is tried.",
            recent.requests,
        )
        % recent.figures()
    )


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
