"""Which extra headers the delivery page masks (webhooks_app.portal.sent)."""

from __future__ import annotations

import pytest

from webhooks_app.portal.sent import is_credential


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "Api-Key",
        "X-API_KEY",
        "Key",
        "X-Auth-Token",
        "X-Client-Secret",
        "X-Password",
        "X-Session-Id",
        "X-Hub-Signature",
        "X-Credentials",
    ],
)
def test_credentials_are_known_by_their_names(name):
    assert is_credential(name)


@pytest.mark.parametrize("name", ["X-Tenant", "X-Request-Id", "Accept", "X-Monkey", "X-Region"])
def test_other_headers_are_shown(name):
    assert not is_credential(name)
