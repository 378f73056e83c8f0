"""One try of a delivery: build the signed request, send it, judge the answer.

:func:`send` runs on a sender thread and never touches the database: it takes
a delivery claimed by :mod:`webhooks_app.sending.claims` (event and endpoint
loaded) and returns a :class:`~webhooks_app.sending.results.Result`, whatever
goes wrong, so that every try ends in exactly one Attempt.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from webhooks_app import __version__, conf, retry, signing, transport, validators
from webhooks_app.models import Delivery, Endpoint, Event
from webhooks_app.observability import tracing
from webhooks_app.sending.results import Result

logger = logging.getLogger(__name__)

ErrorKind = retry.ErrorKind


def request_body(event: Event) -> bytes:
    """The Standard Webhooks payload shape, identical on every attempt."""
    document = {
        "type": event.event_type,
        "timestamp": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def user_agent() -> str:
    """``WEBHOOKS["USER_AGENT"]``, or ``webhooks_app/<version>``."""
    return conf.get("USER_AGENT") or f"webhooks_app/{__version__}"


def request_headers(endpoint: Endpoint, event: Event, body: bytes, now: datetime) -> dict[str, str]:
    """The endpoint's extra headers, then ours.

    An extra header named as a reserved one, whatever its case, is never sent: validation
    refuses them, but ``.update()``, fixtures or the shell write past it, and a stored
    ``Host`` or ``Content-Length`` would misdirect the request or desynchronise the
    kept-alive connection (the transport sets those from the URL and the body).
    """
    ours = {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        **signing.headers(endpoint.signing_secrets(now), event.pk, body, int(now.timestamp())),
    }
    extra = {
        str(name): str(value)
        for name, value in (endpoint.headers or {}).items()
        if str(name).lower() not in validators.RESERVED_HEADERS
    }
    return {**extra, **ours}


def settings_problem(endpoint: Endpoint) -> transport.Response | None:
    """A stored setting that makes any request impossible, as the try's failure."""
    headers = endpoint.headers or {}
    if not isinstance(headers, dict):
        return _refused(ErrorKind.INVALID_HEADER, "The endpoint's extra headers are not an object.")
    for name, value in headers.items():
        problem = validators.header_problem(name, value)
        if problem and str(name).lower() not in validators.RESERVED_HEADERS:
            return _refused(ErrorKind.INVALID_HEADER, str(problem))
    for secret in endpoint.signing_secrets():
        problem = validators.secret_problem(secret)
        if problem:
            return _refused(
                ErrorKind.INVALID_SECRET, f"The endpoint's secret cannot sign: {problem}"
            )
    return None


def _refused(kind: str, error: str) -> transport.Response:
    return transport.Response(None, "", {}, 0, kind, error)


def send(item: Delivery, *, manual: bool = False) -> Result:
    """Send one claimed try in this thread and judge the answer; never raises."""
    with tracing.send_span(item) as span:
        try:
            response = settings_problem(item.endpoint) or _send(item)
        except Exception as exc:  # any bug of ours is that try's error, not a lost try
            response = _internal_error(item, exc)
        result = Result(item, response, decide(item.attempt_count, response), manual)
        tracing.end_send(span, result)
    return result


async def send_async(item: Delivery, client: transport.AsyncClient) -> Result:
    """:func:`send` on an event loop, through ``client``; never raises."""
    with tracing.send_span(item) as span:
        try:
            response = settings_problem(item.endpoint)
            if response is None:
                body, headers = _request(item)
                response = await client.post(
                    item.endpoint.url,
                    body,
                    headers,
                    timeout=conf.timeouts(),
                    deadline=item.deadline,
                    max_body=conf.get("MAX_RESPONSE_BODY"),
                )
        except Exception as exc:  # any bug of ours is that try's error, not a lost try
            response = _internal_error(item, exc)
        result = Result(item, response, decide(item.attempt_count, response))
        tracing.end_send(span, result)
    return result


def _internal_error(item: Delivery, exc: Exception) -> transport.Response:
    logger.exception("Delivery %s, attempt %s", item.pk, item.attempt_count)
    return _refused(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"[:1000])


def _request(item: Delivery) -> tuple[bytes, dict[str, str]]:
    """The signed body and headers of this try."""
    body = request_body(item.event)
    headers = request_headers(item.endpoint, item.event, body, timezone.now())
    if conf.get("PROPAGATE_TRACE_CONTEXT"):
        tracing.inject(headers)  # the send span's traceparent
    return body, headers


def _send(item: Delivery) -> transport.Response:
    body, headers = _request(item)
    return transport.post(
        item.endpoint.url,
        body,
        headers,
        timeout=conf.timeouts(),
        allowed_networks=conf.get("ALLOWED_NETWORKS"),
        max_body=conf.get("MAX_RESPONSE_BODY"),
        # Set by the claim, so that the request always ends before its lease does.
        deadline=getattr(item, "deadline", None),
        pool_size=conf.get("SEND_CONCURRENCY"),
    )


def decide(attempt_number: int, response: transport.Response) -> retry.Decision:
    return retry.decide(
        attempt_number,
        response.status_code,
        response.error_kind,
        conf.get("RETRY_SCHEDULE"),
        retry_after=response.headers.get("Retry-After"),
        max_retry_after=conf.get("MAX_RETRY_AFTER"),
        retry_client_errors=conf.get("RETRY_CLIENT_ERRORS"),
    )
