"""Which tenant a portal request acts for: a link's session, or the project's resolver.

A link (:mod:`webhooks_app.portal.links`) opens a portal session: the tenant and
the link's expiry are kept in the session, and the session stops acting for
that tenant when the link would have expired. Without one, the project's
``WEBHOOKS["TENANT_RESOLVER"]`` decides (its own login, typically). A request
for no tenant is answered with a 403 page that says why.

A link never silently replaces the tenant a visitor already acts for:

- Opening a link (a GET) starts its session only for a visitor who acts for no
  tenant yet, or for the link's own tenant. One who acts for another tenant
  (signed in through the resolver, or in another link's session) is asked to
  confirm the switch with a POST (:func:`needs_confirmation`).
- Afterwards the link's session wins over the resolver only while the resolver
  finds no tenant, the link's own, or the very tenant the switch was confirmed
  over (:data:`SESSION_OVER`). A login for any other tenant made after the link
  was opened wins: the link's session ends, and the login's tenant is shown.
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
# The resolver's tenant when the link's session started: a login the customer switched away from.
SESSION_OVER = "_webhooks_portal_over"

NO_TENANT = _(
    "You have no access to webhook settings here. Sign in to your account, or open the "
    "portal through the link your provider gives you."
)
LINK_EXPIRED = _("Your link to the webhook portal has expired. Ask your provider for a new one.")
LINK_INVALID = _("This link to the webhook portal is invalid or has expired.")


def start_session(request: HttpRequest, link: Link) -> None:
    """Make ``request``'s session act for the link's tenant until the link expires.

    The session key changes (as on a login), so a session id planted before the
    link was opened is worth nothing afterwards. The resolver's tenant of this
    moment is kept: the link's session wins over that login only.
    """
    over = tenancy.resolve(request)
    request.session.cycle_key()
    request.session[SESSION_TENANT] = link.tenant
    request.session[SESSION_EXPIRES] = link.expires_at
    request.session[SESSION_OVER] = over


def end_session(request: HttpRequest) -> None:
    """Stop acting for a link's tenant; the rest of the session (a login) is left alone."""
    for key in (SESSION_TENANT, SESSION_EXPIRES, SESSION_OVER):
        request.session.pop(key, None)


def current_tenant(request: HttpRequest) -> tuple[str | None, bool]:
    """The tenant ``request`` acts for, and whether a link's session has just expired."""
    linked, expired = link_tenant(request)
    resolved = tenancy.resolve(request)
    if linked is None:
        return resolved, expired
    if resolved in (None, linked, request.session.get(SESSION_OVER)):
        return linked, False
    end_session(request)  # signed in for another tenant since the link: the login wins
    return resolved, False


def needs_confirmation(request: HttpRequest, link: Link) -> str | None:
    """The other tenant ``request`` acts for, which opening ``link`` would replace; or None."""
    current, _expired = current_tenant(request)
    return current if current not in (None, link.tenant) else None


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
        tenant, expired = current_tenant(request)
        if tenant is None:
            return refused(request, LINK_EXPIRED if expired else NO_TENANT)
        request.webhooks_tenant = tenant  # type: ignore[attr-defined]  # for templates
        return view(request, tenant, *args, **kwargs)

    return wrapper
