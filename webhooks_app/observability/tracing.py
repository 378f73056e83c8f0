"""OpenTelemetry spans around sending and receiving, when ``opentelemetry-api`` is installed.

Without it (``pip install webhooks-app[otel]`` adds it) every function here is a
no-op that costs an attribute test: :data:`trace` is None and nothing is imported.
With the API but no SDK configured, OpenTelemetry's own no-op tracer applies.

- ``webhooks.send``: one client span per try, started on the sender thread
  under the context the delivery was claimed in (:func:`current_context`, kept
  on the claimed delivery by :mod:`webhooks_app.claims`), so that a try is a
  child of whatever span claimed it, however many threads away. The W3C
  ``traceparent`` header (and whatever else the global propagator writes) goes
  out with the request unless ``WEBHOOKS["PROPAGATE_TRACE_CONTEXT"]`` is False.
- ``webhooks.receive``: one span per inbound request, a child of the current
  span (a Django instrumentation's) or else of the request's ``traceparent``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from webhooks_app import redaction

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # the optional extra is not installed: everything below is a no-op
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from webhooks_app.models import Delivery
    from webhooks_app.retry import Decision
    from webhooks_app.transport import Response


class FinishedTry(Protocol):
    """What a send span records of a finished try
    (:class:`webhooks_app.sending.results.Result` is one)."""

    @property
    def response(self) -> Response: ...

    @property
    def decision(self) -> Decision: ...


TRACER_NAME = "webhooks_app"
_NO_SPAN: AbstractContextManager[None] = nullcontext()


def enabled() -> bool:
    """Whether ``opentelemetry-api`` is importable (spans may still be no-ops)."""
    return trace is not None


def current_context() -> Any:
    """The calling thread's OpenTelemetry context, to start spans under elsewhere; or None."""
    if trace is None:
        return None
    from opentelemetry import context

    return context.get_current()


def send_span(item: Delivery) -> AbstractContextManager[Any]:
    """The ``webhooks.send`` span of one try (current while it runs), or a no-op."""
    if trace is None:
        return _NO_SPAN
    return trace.get_tracer(TRACER_NAME).start_as_current_span(
        "webhooks.send",
        context=getattr(item, "trace_context", None),
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": "POST",
            "url.full": redaction.mask_url(item.endpoint.url),
            "webhooks.delivery_id": item.pk,
            "webhooks.event_id": str(item.event_id),
            "webhooks.event_type": item.event.event_type,
            "webhooks.endpoint_id": item.endpoint_id,
            "webhooks.attempt": item.attempt_count,
        },
    )


def end_send(span: Any, result: FinishedTry) -> None:
    """Put a try's answer on its span: status code, error type, verdict."""
    if span is None:
        return
    response, verdict = result.response, result.decision.verdict.value
    span.set_attribute("webhooks.verdict", verdict)
    if response.status_code is not None:
        span.set_attribute("http.response.status_code", response.status_code)
    if verdict != "succeeded":
        span.set_attribute("error.type", response.error_kind or str(response.status_code))
        span.set_status(Status(StatusCode.ERROR, result.decision.reason[:200] or None))


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current context's propagation headers (``traceparent``, ...) to ``headers``.

    Ours replace any header of the same name the endpoint sets, whatever its case.
    """
    if trace is None:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return
    names = {name.lower() for name in carrier}
    for name in [name for name in headers if name.lower() in names]:
        del headers[name]
    headers.update(carrier)


@contextmanager
def _receive(source: str, headers: Mapping[str, str]) -> Iterator[Any]:
    parent = None
    kind = SpanKind.INTERNAL
    if not trace.get_current_span().get_span_context().is_valid:
        # No server span around us (no Django instrumentation): the sender's is the parent.
        parent = propagate.extract(_LowerCased(headers))
        kind = SpanKind.SERVER
    with trace.get_tracer(TRACER_NAME).start_as_current_span(
        "webhooks.receive", context=parent, kind=kind, attributes={"webhooks.source": source}
    ) as span:
        yield span


def receive_span(source: str, headers: Mapping[str, str]) -> AbstractContextManager[Any]:
    """The ``webhooks.receive`` span of one inbound request, or a no-op."""
    return _NO_SPAN if trace is None else _receive(source, headers)


def note_inbound(event: Any, outcome: str) -> None:
    """Put a received event and its outcome on the current (``webhooks.receive``) span."""
    if trace is None:
        return
    span = trace.get_current_span()
    span.set_attribute("webhooks.event_id", event.event_id)
    span.set_attribute("webhooks.event_type", event.event_type)
    span.set_attribute("webhooks.outcome", outcome)


def end_receive(span: Any, status: int) -> None:
    """Put an inbound request's answer on its span."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


class _LowerCased(dict):
    """Headers for the propagator's getter, which looks names up in lower case."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((name.lower(), value) for name, value in headers.items())
