"""Confirming a contact address: a signed link mailed to it, before it gets any alert.

A customer can type any address as an endpoint's ``contact_email`` (tenant API,
portal); alerts go to it only once whoever reads that address has opened the link
mailed to it and confirmed (:attr:`Endpoint.contact_email_confirmed`). Staff set
confirmed addresses directly (:func:`confirmed_by_staff`).

The link's token is signed (:mod:`django.core.signing`, with a salt of its own), lasts
:data:`MAX_AGE`, and names the endpoint and the address it was sent to: confirming
stores that address as confirmed only while it is still the endpoint's contact
address, so a link mailed to an earlier address confirms nothing later. Requests go
through :mod:`~webhooks_app.sending.owner_mail`, whose daily cap per address counts
them with the alerts: changing the address or asking again does not make the
operator mail anyone more than ``ALERT_MAX_PER_DAY`` times a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from webhooks_app.models import Endpoint
from webhooks_app.sending import owner_mail

logger = logging.getLogger(__name__)

SALT = "webhooks_app.contact_confirmation"
MAX_AGE = timedelta(days=3)
"""How long a confirmation link works."""

URL_NAME = "webhooks_portal:contact_confirm"
"""The confirmation page, in the portal's URLs."""


class InvalidConfirmation(Exception):
    """A confirmation token that is forged, damaged or expired."""


@dataclass(frozen=True)
class Confirmation:
    """What a valid token says: this address, for this endpoint."""

    endpoint_id: int
    address: str


def make_token(endpoint: Endpoint) -> str:
    """A token confirming the endpoint's current contact address."""
    return signing.dumps({"e": endpoint.pk, "a": endpoint.contact_email}, salt=SALT)


def read_token(token: str) -> Confirmation:
    """The confirmation a token carries; :exc:`InvalidConfirmation` if it is not one of
    ours or is older than :data:`MAX_AGE`."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired included
        raise InvalidConfirmation from exc
    if not isinstance(data, dict):
        raise InvalidConfirmation
    endpoint_id, address = data.get("e"), data.get("a")
    if type(endpoint_id) is not int or not isinstance(address, str) or not address:
        raise InvalidConfirmation
    return Confirmation(endpoint_id, address)


def endpoint_for(confirmation: Confirmation) -> Endpoint | None:
    """The endpoint whose contact address is still the one confirmed; None if it has
    another address by now, or is gone."""
    return Endpoint.objects.filter(
        pk=confirmation.endpoint_id, contact_email=confirmation.address
    ).first()


def confirm(confirmation: Confirmation) -> bool:
    """Mark the address confirmed, if it is still the endpoint's; whether it is."""
    return bool(
        Endpoint.objects.filter(
            pk=confirmation.endpoint_id, contact_email=confirmation.address
        ).update(confirmed_contact_email=confirmation.address, updated_at=timezone.now())
    )


def confirmed_by_staff(endpoint: Endpoint) -> None:
    """Take the endpoint's contact address as confirmed (staff set it); the caller saves
    ``confirmed_contact_email``."""
    endpoint.confirmed_contact_email = endpoint.contact_email


def request_confirmation(request: HttpRequest, endpoint: Endpoint) -> None:
    """Once the current transaction commits, mail the confirmation link to the endpoint's
    contact address, unless it has none or it is confirmed already.

    The link is made absolute from ``request``; a project without the portal's URLs has
    no confirmation page, and its staff confirm addresses.
    """
    if not endpoint.contact_email or endpoint.contact_email_confirmed:
        return
    try:
        path = reverse(URL_NAME, kwargs={"token": make_token(endpoint)})
    except NoReverseMatch:
        logger.warning(
            "No confirmation link for endpoint %s: the portal's URLs are not installed",
            endpoint.pk,
        )
        return
    values = {
        "endpoint_id": endpoint.pk,
        "link": request.build_absolute_uri(path),
        "days": MAX_AGE.days,
    }
    address, endpoint_id = endpoint.contact_email, endpoint.pk
    transaction.on_commit(
        lambda: owner_mail.send(
            "confirm_contact", address, values, endpoint_id=endpoint_id, kind="confirmation"
        )
    )
