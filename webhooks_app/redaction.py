"""Credentials kept out of sight: masks for URLs, extra headers, error text and inbound headers.

Pure functions (no Django, no HTTP). The API and the admin show endpoints' URL passwords,
query-string values and extra header values as :data:`MASK` to whoever may not see
secrets, and error text always with its query-string values and URL passwords masked.
A masked value sent back unchanged (an edit form, a PUT of what a GET returned) stands
for the stored value: :func:`unmask_headers` and :func:`unmask_url` put it back. A
masked header value is kept only for the URL's scheme, host and port
(:func:`same_origin`): :func:`webhooks_app.validators.unmask_headers` refuses the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# Who sees secrets and credentials in full, in the API and the admin alike.
REVEAL_PERMISSION = "webhooks_app.view_endpoint_secret"

# scheme://user:password@ ; the password is masked, the user name kept.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]*(?=@)")
# ?name=value or &name=value in free text; the value ends at a space, &, # or a quote.
_QUERY_VALUE = re.compile(r"(?P<head>[?&][^\s=&#?]+=)[^\s&#'\"<>)\]]+")


def may_see_secrets(user) -> bool:
    """Whether ``user`` may read endpoints' secrets and credentials in full."""
    return bool(user is not None and user.is_authenticated and user.has_perm(REVEAL_PERMISSION))


def mask_url(url: str) -> str:
    """``url`` with its password and the values of its query string masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query = "&".join(_mask_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_pair(pair: str) -> str:
    name, equals, value = pair.partition("=")
    return f"{name}={MASK}" if equals and value else pair


def mask_text(text: str) -> str:
    """Free text (an error message) with URL passwords and query-string values masked."""
    if not text:
        return text
    return _QUERY_VALUE.sub(rf"\g<head>{MASK}", _USERINFO.sub(rf"\g<head>{MASK}", text))


def mask_headers(headers: Mapping[str, object]) -> dict[str, object]:
    """Extra headers with every value masked (names are shown: they say what is set)."""
    return {name: MASK for name in headers}


def unmask_headers(submitted: object, stored: Mapping[str, object]) -> object:
    """Submitted headers where a :data:`MASK` value keeps the stored value of that header."""
    if not isinstance(submitted, dict) or not isinstance(stored, Mapping):
        return submitted
    return {
        name: stored[name] if value == MASK and name in stored else value
        for name, value in submitted.items()
    }


def masked_names(submitted: object, stored: Mapping[str, object]) -> list[str]:
    """The headers of ``submitted`` whose :data:`MASK` value stands for a stored one."""
    if not isinstance(submitted, dict) or not isinstance(stored, Mapping):
        return []
    return [name for name, value in submitted.items() if value == MASK and name in stored]


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs have the same scheme, host and port (default ports filled in).

    A URL that cannot be read has no origin: it is never the same as another.
    """
    try:
        return _origin(url) == _origin(other)
    except ValueError:
        return False


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    if not parts.hostname:
        raise ValueError("no host")
    return scheme, parts.hostname.lower(), port


def unmask_url(submitted: str, stored: str) -> str:
    """The stored URL when ``submitted`` is its masked form, else ``submitted``."""
    if stored and submitted != stored and submitted == mask_url(stored):
        return stored
    return submitted


def kept_headers(headers: Mapping[str, str], allowed: Iterable[str]) -> dict[str, str]:
    """The inbound headers on the allow-list (names compared case-insensitively)."""
    names = {name.lower() for name in allowed}
    return {name: value for name, value in headers.items() if name.lower() in names}
