"""What a receiver got for a delivery: the request line, its headers and its body.

Built by the sender's own functions (:func:`~webhooks_app.sending.attempt.request_body`
and :func:`~webhooks_app.sending.attempt.request_headers`), so the page shows
what was sent rather than a description of it, with the secrets masked: the
signatures, the URL's password and query-string values, and any extra header
whose name says it carries a credential (``Authorization``, ``Cookie``,
``X-Api-Key``, a token, a secret...). Each try signs anew, so
``webhook-timestamp`` is named, not given a value of one try.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext

from webhooks_app import redaction
from webhooks_app.models import Delivery
from webhooks_app.sending.attempt import request_body, request_headers

# Header names whose values are credentials, whatever else the name says.
CREDENTIAL_NAME = re.compile(
    r"auth|token|secret|passw|cookie|session|signature|credential|(^|[-_])(api[-_]?)?key($|[-_])",
    re.IGNORECASE,
)

TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


@dataclass(frozen=True)
class Header:
    name: str
    value: str
    masked: bool = False
    per_try: bool = False  # the value differs from one try to the next


@dataclass(frozen=True)
class SentRequest:
    url: str  # masked
    headers: list[Header]
    body: str  # the JSON body, indented for reading
    size: int  # bytes of the body as sent


def is_credential(name: str) -> bool:
    """Whether an extra header's name says that its value is a credential."""
    return bool(CREDENTIAL_NAME.search(name))


def sent_request(delivery: Delivery) -> SentRequest:
    """The request the delivery's receiver got (its event and endpoint loaded)."""
    event, endpoint = delivery.event, delivery.endpoint
    body = request_body(event)
    headers = []
    for name, value in request_headers(endpoint, event, body, timezone.now()).items():
        if name == SIGNATURE_HEADER:
            masked = " ".join(
                f"{part.partition(',')[0]},{redaction.MASK}" for part in value.split()
            )
            headers.append(Header(name, masked, masked=True, per_try=True))
        elif name == TIMESTAMP_HEADER:
            headers.append(
                Header(name, gettext("the time of the try, in Unix seconds"), per_try=True)
            )
        elif is_credential(name):
            headers.append(Header(name, redaction.MASK, masked=True))
        else:
            headers.append(Header(name, value))
    document = json.loads(body)
    return SentRequest(
        url=redaction.mask_url(endpoint.url),
        headers=headers,
        body=json.dumps(document, indent=2, ensure_ascii=False),
        size=len(body),
    )
