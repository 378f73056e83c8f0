"""What one POST produced, and the texts both clients describe failures with.

Shared by the synchronous client (:mod:`.client`) and the asynchronous one
(:mod:`.async_client`), so that an Attempt reads the same whichever sent it.
No HTTP library in here.
"""

from __future__ import annotations

import codecs
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

NOT_SENT = "The request's deadline passed before it was sent (the worker was stalled)"
NO_ANSWER = "No complete answer before the request's deadline"
BODY_LATE = "The body did not arrive before the request's deadline"
UNENCODABLE_HEADER = "A header value has characters HTTP cannot carry"
ILLEGAL_HEADER = "A header name or value has characters HTTP does not allow (CR, LF, NUL...)"


@dataclass(frozen=True)
class Response:
    """What one POST produced: a status and capped body, or an error.

    With a status, ``error_kind`` is empty or ``response_body`` (the body could
    not be read whole); without one it says why no answer came.
    """

    status_code: int | None
    body: str
    headers: Mapping[str, str]
    duration_ms: int
    error_kind: str = ""
    error: str = ""


@functools.lru_cache(maxsize=256)  # receivers repeat their Content-Type
def charset(content_type: str | None) -> str:
    """The response's charset if Python knows it as a text encoding, else UTF-8.

    ``codecs.lookup`` also knows bytes-to-bytes and str-to-str codecs (``base64``,
    ``zlib``, ``rot13``), which ``bytes.decode`` refuses: a receiver naming one gets
    its body read as UTF-8, and its status judged as it is.
    """
    message = Message()
    message["Content-Type"] = content_type or ""
    name = message.get_content_charset() or "utf-8"
    try:
        info = codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return info.name if getattr(info, "_is_text_encoding", True) else "utf-8"


def body_problem(exc: BaseException) -> str:
    """Why a body whose status arrived could not be read whole."""
    return f"The response body could not be read: {type(exc).__name__}: {exc}"


def describe(exc: BaseException, url: str) -> str:
    """The error for the Attempt row, with any password from the URL masked."""
    text = f"{type(exc).__name__}: {exc}"
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "********")
    return text[:1000]


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
