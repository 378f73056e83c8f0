"""``WebhookReceiverView``: the base view users subclass to receive webhooks.

A plain Django view, as django-anymail's and dj-stripe's are: the project's REST
framework settings (throttles, authentication, renderers) never reach it, and
it is exempt from CSRF, from ``LoginRequiredMiddleware`` and from
``ATOMIC_REQUESTS`` (it manages its own transactions, so a failed handler
keeps its row for the sender's retry).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.contrib.auth.decorators import login_not_required
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from webhooks_app import conf
from webhooks_app.models import InboundEvent
from webhooks_app.observability import logs, tracing
from webhooks_app.receivers import parsing, processing
from webhooks_app.receivers.messages import MessageVerifier, VerifiedMessage
from webhooks_app.receivers.parsing import FORM_CONTENT_TYPE, MalformedBody, parse_body
from webhooks_app.receivers.verifiers import InvalidSignature, MissingSecret, Verifier
from webhooks_app.receivers.verifiers.adapter import VerifyOnly, as_message_verifier
from webhooks_app.wakeups import enqueue_inbound

logger = logging.getLogger(__name__)


@sensitive_variables()
def _verified(
    view: WebhookReceiverView, body: bytes, headers: Mapping[str, str]
) -> VerifiedMessage:
    """``view.verified_message``; Django's error reports hide the locals of every frame below."""
    return view.verified_message(body, headers)


def _chunked_under_wsgi(request: HttpRequest) -> bool:
    return (
        isinstance(request, WSGIRequest)
        and not request.META.get("CONTENT_LENGTH")
        and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class WebhookReceiverView(View):
    """Receive, verify, record and process webhooks exactly once.

    Subclass it, set ``source`` and ``verifier``, and override ``handle(event)``,
    or write one method per event type, ``handle_<type>`` with dots and dashes
    as underscores (``handle_order_paid`` for ``order.paid``).

    Answers: 200 processed or duplicate, 202 accepted (``process_async``),
    400 malformed, too deeply nested or unstorable body, 401 bad signature,
    411 a chunked body the server cannot hand over (WSGI), 413 body too large,
    500 handler failed (the sender retries; the retry processes it). Without
    an event id from the provider, the body's SHA-256 stands in for it.
    """

    source: ClassVar[str] = ""
    verifier: ClassVar[MessageVerifier | Any] = None
    process_async: ClassVar[bool] = False

    message: VerifiedMessage  # this request's, once verified

    http_method_names = ["post", "head", "options"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        # On the view function, not on dispatch, so that subclasses may override dispatch.
        view = super().as_view(**initkwargs)
        view = sensitive_post_parameters()(view)  # Slack's forms carry a token
        view = login_not_required(csrf_exempt(view))  # the sender signs; it has no session
        for alias in connections:
            view = transaction.non_atomic_requests(using=alias)(view)
        return view

    # -- the steps, each overridable ---------------------------------------

    def get_verifier(self) -> Any:
        return self.verifier

    def get_message_verifier(self) -> MessageVerifier:
        """What the view asks, once per request, for the verified message.

        The verifier itself when it implements :class:`MessageVerifier`, else
        adapted from its ``verify(body, headers)``. A subclass that overrides
        :meth:`verify` checks the signature itself; the verifier, if it has
        one, still reads the id and type.
        """
        verifier = self.get_verifier()
        if type(self).verify is not WebhookReceiverView.verify:
            return VerifyOnly(self.verify, rules=verifier)
        if verifier is None:
            raise MissingSecret(f"{type(self).__name__} has no verifier")
        return as_message_verifier(verifier)

    def verified_message(self, body: bytes, headers: Mapping[str, str]) -> VerifiedMessage:
        """The verifier's verified message, its payload parsed by :meth:`parse_body` as the
        verifier's ``body_format`` says (the ``Content-Type`` header for ``any``)."""
        label = self.request.content_type or ""
        body_format = getattr(self.get_verifier(), "body_format", parsing.ANY)
        return self.get_message_verifier().verified(
            body,
            headers,
            parse=lambda raw: self.parse_body(raw, parsing.read_as(body_format, label, raw)),
            default_tolerance=conf.get("SIGNATURE_TOLERANCE"),
        )

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise InvalidSignature unless the body is signed: the verifier's check alone.

        Override it to check the signature another way (and call
        ``super().verify(body, headers)`` to keep the verifier's check as well).
        """
        verifier = self.get_verifier()
        if verifier is None:
            raise MissingSecret(f"{type(self).__name__} has no verifier")
        if isinstance(verifier, Verifier):
            verifier.verify(body, headers, default_tolerance=conf.get("SIGNATURE_TOLERANCE"))
        else:
            verifier.verify(body, headers)

    def get_event_id(self, payload: Any, headers: Mapping[str, str], body: bytes) -> str:
        """The verified message's event id; the body's SHA-256 when the provider gives none."""
        event_id = self.message.id
        return event_id if event_id else "sha256:" + hashlib.sha256(body).hexdigest()

    def get_event_type(self, payload: Any, headers: Mapping[str, str]) -> str:
        """The verified message's event type (raise InvalidSignature to refuse the request)."""
        return self.message.type

    def handle(self, event: InboundEvent) -> None:
        """Process one event; runs once per (source, event_id), in a transaction."""
        method = getattr(self, "handle_" + re.sub(r"[^0-9a-zA-Z]", "_", event.event_type), None)
        if method is not None:
            method(event)

    # -- HTTP ----------------------------------------------------------------

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with tracing.receive_span(self.get_source(), request.headers) as span:
            response = self._receive(request)
            tracing.end_receive(span, response.status_code)
        return response

    def _receive(self, request: HttpRequest) -> HttpResponse:
        body = self.read_body(request)
        if body is None:
            return JsonResponse({"detail": "Body too large."}, status=413)
        if not body and self.length_required(request):
            return JsonResponse({"detail": "Send the body with a Content-Length."}, status=411)
        headers = request.headers
        refused = self.read_verified(body, headers)
        if refused is not None:
            return refused
        payload = self.message.payload
        if self.message.handshake is not None:  # a verified handshake (Slack): answer it only
            return JsonResponse(self.message.handshake, status=200)
        try:
            event_id = self.get_event_id(payload, headers, body)[:255]
            event_type = self.get_event_type(payload, headers)[:255]
        except InvalidSignature as exc:  # e.g. a type header the signed body contradicts
            logger.warning("Rejected a webhook for %r: %s", self.get_source(), exc)
            return JsonResponse({"detail": f"Invalid signature: {exc}"}, status=401)
        values = {
            "event_type": event_type,
            "payload": payload,
            "headers": headers,  # processing keeps only WEBHOOKS['INBOUND_HEADERS']
            "receiver": f"{type(self).__module__}.{type(self).__qualname__}",
        }
        try:
            if self.process_async:
                return self._record_for_later(event_id, values)
            result = processing.receive(self.get_source(), event_id, handler=self.handle, **values)
        except processing.UnstorablePayload:
            logger.warning("A verified webhook for %r could not be stored", self.get_source())
            return JsonResponse({"detail": "The payload cannot be stored."}, status=400)
        tracing.note_inbound(result.event, result.outcome)
        return self.respond(result.event, result.outcome, 200 if result.ok else 500)

    def _record_for_later(self, event_id: str, values: dict[str, Any]) -> HttpResponse:
        """``process_async``: record the event, answer 202 and process it in a task."""
        event, created = processing.record(self.get_source(), event_id, **values)
        outcome = (
            "duplicate"
            if not created and event.status == InboundEvent.Status.PROCESSED
            else "accepted"
        )
        logs.inbound(event.source, outcome, event)
        tracing.note_inbound(event, outcome)
        if outcome == "duplicate":
            return self.respond(event, outcome, 200)  # nothing to enqueue
        transaction.on_commit(lambda: enqueue_inbound(event.pk))
        return self.respond(event, outcome, 202)

    def read_verified(self, body: bytes, headers: Mapping[str, str]) -> HttpResponse | None:
        """None once ``self.message`` is verified, else the answer that refuses the request.

        Whatever goes wrong, the answer is this view's own: never Django's error
        page, whose frames (with ``DEBUG = True``) would show the secrets.
        """
        try:
            self.message = _verified(self, body, headers)
        except MalformedBody as exc:  # signed, but not JSON (or form data) the view can take
            return JsonResponse({"detail": str(exc)}, status=400)
        except MissingSecret:
            logger.error("%s is not configured with a secret", type(self).__name__)
            return JsonResponse({"detail": "Receiver misconfigured."}, status=500)
        except InvalidSignature as exc:
            logger.warning("Rejected a webhook for %r: %s", self.get_source(), exc)
            return JsonResponse({"detail": f"Invalid signature: {exc}"}, status=401)
        except Exception:
            logger.exception("Verifying a webhook for %r failed", self.get_source())
            return JsonResponse({"detail": "The signature could not be checked."}, status=500)
        return None

    def parse_body(self, body: bytes, content_type: str) -> Any:
        """The payload of the verified body: JSON, or form data (GitHub, Slack)."""
        return parse_body(body, content_type)

    def respond(self, event: InboundEvent, outcome: str, status: int) -> HttpResponse:
        """The answer to the sender once the event is recorded.

        A form-encoded request (Slack's slash commands and interactivity) gets an
        empty body, since Slack shows any text it gets back to the user.
        """
        if self.request.content_type == FORM_CONTENT_TYPE:
            return HttpResponse(status=status)
        return JsonResponse(self.summary(event, outcome), status=status)

    def get_source(self) -> str:
        return self.source or type(self).__name__

    def read_body(self, request: HttpRequest) -> bytes | None:
        """The raw body, or None when it is over ``MAX_INBOUND_BODY``.

        ``Content-Length`` is checked before anything is read; a body sent
        without one (chunked) is read to at most one byte over the limit.
        """
        limit = conf.get("MAX_INBOUND_BODY")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return None
        stream = request
        if _chunked_under_wsgi(request) and request.META.get("wsgi.input_terminated"):
            # Django reads Content-Length bytes of a WSGI body, so none of a chunked one;
            # a server that decodes chunks and ends the input (gunicorn) can be read to EOF.
            stream = request.META["wsgi.input"]
        body = stream.read(limit + 1)
        return None if len(body) > limit else body

    @staticmethod
    def length_required(request: HttpRequest) -> bool:
        """A chunked body that the server could not hand over.

        Under WSGI, Django reads ``Content-Length`` bytes of the body, so a chunked
        request without one arrives empty unless the server ends its input
        (``wsgi.input_terminated``, as gunicorn does). Answering 411 says why,
        where checking the empty body would say "bad signature".
        """
        return _chunked_under_wsgi(request) and not request.META.get("wsgi.input_terminated")

    @staticmethod
    def summary(event: InboundEvent, outcome: str) -> dict[str, str]:
        # Never the error text: it could hold anything the handler raised.
        return {"status": outcome, "event_id": event.event_id}
