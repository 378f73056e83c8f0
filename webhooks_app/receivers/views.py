"""``WebhookReceiverView``: the base view users subclass to receive webhooks."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db import transaction
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webhooks_app import conf
from webhooks_app.dispatch import enqueue_inbound
from webhooks_app.models import InboundEvent
from webhooks_app.receivers import processing
from webhooks_app.receivers.verifiers import InvalidSignature, MissingSecret, Verifier

logger = logging.getLogger(__name__)

# Headers never stored: credentials, cookies and signatures.
SECRET_HEADER = re.compile(
    r"authorization|cookie|token|secret|signature|hmac|api[-_]?key|password", re.IGNORECASE
)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def headers_worth_keeping(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if not SECRET_HEADER.search(name)}


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class WebhookReceiverView(APIView):
    """Receive, verify, record and process webhooks exactly once.

    Subclass it, set ``source`` and ``verifier``, and override ``handle(event)``,
    or write one method per event type, ``handle_<type>`` with dots and dashes
    as underscores (``handle_order_paid`` for ``order.paid``).

    Answers: 200 processed or duplicate, 202 accepted (``process_async``),
    400 malformed or unstorable JSON, 401 bad signature, 413 body too large,
    500 handler failed (the sender retries; the retry processes it). Without
    an event id from the provider, the body's SHA-256 stands in for it.
    """

    source: ClassVar[str] = ""
    verifier: ClassVar[Verifier | Any] = None
    process_async: ClassVar[bool] = False

    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = []
    parser_classes: ClassVar[list] = []  # the raw body is read here, never parsed by DRF
    http_method_names: ClassVar[list[str]] = ["post", "head", "options"]

    # -- the steps, each overridable ---------------------------------------

    def get_verifier(self) -> Any:
        return self.verifier

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        verifier = self.get_verifier()
        if verifier is None:
            raise MissingSecret(f"{type(self).__name__} has no verifier")
        if isinstance(verifier, Verifier):
            verifier.verify(body, headers, default_tolerance=conf.get("SIGNATURE_TOLERANCE"))
        else:
            verifier.verify(body, headers)

    def get_event_id(self, payload: Any, headers: Mapping[str, str], body: bytes) -> str:
        """The provider's event id; the body's SHA-256 when the provider gives none."""
        verifier = self.get_verifier()
        event_id = verifier.event_id(payload, headers) if hasattr(verifier, "event_id") else None
        return str(event_id) if event_id else "sha256:" + hashlib.sha256(body).hexdigest()

    def get_event_type(self, payload: Any, headers: Mapping[str, str]) -> str:
        verifier = self.get_verifier()
        return verifier.event_type(payload, headers) if hasattr(verifier, "event_type") else ""

    def handle(self, event: InboundEvent) -> None:
        """Process one event; runs once per (source, event_id), in a transaction."""
        method = getattr(self, "handle_" + re.sub(r"[^0-9a-zA-Z]", "_", event.event_type), None)
        if method is not None:
            method(event)

    # -- HTTP ----------------------------------------------------------------

    def head(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(status=status.HTTP_200_OK)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.read_body(request._request)
        if body is None:
            return Response({"detail": "Body too large."}, status=413)
        headers = request._request.headers
        try:
            self.verify(body, headers)
        except MissingSecret:
            logger.error("%s is not configured with a secret", type(self).__name__)
            return Response({"detail": "Receiver misconfigured."}, status=500)
        except InvalidSignature as exc:
            logger.warning("Rejected a webhook for %r: %s", self.get_source(), exc)
            return Response({"detail": f"Invalid signature: {exc}"}, status=401)
        try:
            payload = json.loads(body, parse_constant=_refuse_constant)
        except ValueError:  # also UnicodeDecodeError and JSONDecodeError
            return Response({"detail": "The body is not valid JSON."}, status=400)
        if payload is None:
            return Response({"detail": "The body is JSON null."}, status=400)
        challenge = getattr(self.get_verifier(), "challenge", None)
        answer = challenge(payload) if callable(challenge) else None
        if answer is not None:  # a verified handshake (Slack): echo it, record nothing
            return Response({"challenge": answer}, status=200)
        try:
            event, created = processing.record(
                self.get_source(),
                self.get_event_id(payload, headers, body)[:255],
                event_type=self.get_event_type(payload, headers)[:255],
                payload=payload,
                headers=headers_worth_keeping(headers),
                receiver=f"{type(self).__module__}.{type(self).__qualname__}",
            )
        except processing.UnstorablePayload:
            logger.warning("A verified webhook for %r could not be stored", self.get_source())
            return Response({"detail": "The payload cannot be stored."}, status=400)
        if not created and event.status == InboundEvent.Status.PROCESSED:
            return Response(self.summary(event, "duplicate"), status=200)  # nothing to lock
        if self.process_async:
            transaction.on_commit(lambda: enqueue_inbound(event.pk))
            return Response(self.summary(event, "accepted"), status=202)
        result = processing.process(event.pk, self.handle)
        if not result.ok:
            return Response(self.summary(result.event, "failed"), status=500)
        return Response(self.summary(result.event, result.outcome), status=200)

    def get_source(self) -> str:
        return self.source or type(self).__name__

    def read_body(self, request: HttpRequest) -> bytes | None:
        """The raw body, or None when it is over ``MAX_INBOUND_BODY``.

        ``Content-Length`` is checked before anything is read; a body sent
        without one is read to at most one byte over the limit.
        """
        limit = conf.get("MAX_INBOUND_BODY")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return None
        body = request.read(limit + 1)
        return None if len(body) > limit else body

    @staticmethod
    def summary(event: InboundEvent, outcome: str) -> dict[str, str]:
        # Never the error text: it could hold anything the handler raised.
        return {"status": outcome, "event_id": event.event_id}
