"""Which tenant a portal request acts for: a link's session first, else the project's resolver.

A link (:mod:`webhooks_app.portal.links`) opens a portal session: the tenant and
the link's expiry are kept in the session, and the session stops acting for
that tenant when the link would have expired. Without one, the project's
``WEBHOOKS["TENANT_RESOLVER"]`` decides (its own login, typically). A request
for no tenant is answered with a 403 page that says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from webhooks_app import tenancy
from webhooks_app.portal.links import Link

SESSION_TENANT = "_webhooks_portal_tenant"
SESSION_EXPIRES = "_webhooks_portal_expires"

NO_TENANT = _(
    "You have no access to webhook settings here. Sign in to your account, or open the "
    "portal through the link your provider gives you."
)
LINK_EXPIRED = _("Your link to the webhook portal has expired. Ask your provider for a new one.")
LINK_INVALID = _("This link to the webhook portal is invalid or has expired.")


def start_session(request: HttpRequest, link: Link) -> None:
    """Make ``request``'s session act for the link's tenant until the link expires.

    The session key changes (as on a login), so a session id planted before the
    link was opened is worth nothing afterwards.
    """
    request.session.cycle_key()
    request.session[SESSION_TENANT] = link.tenant
    request.session[SESSION_EXPIRES] = link.expires_at


def end_session(request: HttpRequest) -> None:
    """Stop acting for a link's tenant; the rest of the session (a login) is left alone."""
    request.session.pop(SESSION_TENANT, None)
    request.session.pop(SESSION_EXPIRES, None)


def link_tenant(request: HttpRequest) -> tuple[str | None, bool]:
    """The tenant of the session's link, and whether a link there has expired."""
    session = getattr(request, "session", None)
    if session is None or SESSION_TENANT not in session:
        return None, False
    tenant, expires_at = session.get(SESSION_TENANT), session.get(SESSION_EXPIRES)
    if not isinstance(tenant, str) or not tenant or not isinstance(expires_at, int | float):
        end_session(request)
        return None, False
    if expires_at <= time.time():
        end_session(request)
        return None, True
    return tenant, False


def refused(request: HttpRequest, message, status: int = 403) -> HttpResponse:
    """The portal's page for a request it will not serve, saying why and nothing more."""
    return TemplateResponse(
        request, "webhooks_app/portal/refused.html", {"message": message}, status=status
    ).render()


def tenant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run ``view(request, tenant, ...)`` for the request's tenant, or answer 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        tenant, expired = link_tenant(request)
        if tenant is None:
            tenant = tenancy.resolve(request)
        if tenant is None:
            return refused(request, LINK_EXPIRED if expired else NO_TENANT)
        request.webhooks_tenant = tenant  # type: ignore[attr-defined]  # for templates
        return view(request, tenant, *args, **kwargs)

    return wrapper
