"""Confirming a contact address (:mod:`webhooks_app.sending.contacts`): the page its link
opens, and the portal's button that mails the link again.

It needs no portal session: the signed link is the authority, and whoever reads
the address has it. A GET shows what would be confirmed, and only the POST of its
button confirms (mail scanners follow links); the POST redirects back to the page,
which then says the address is confirmed. A forged or expired link, or one mailed
to an address the endpoint no longer has, is refused and changes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from webhooks_app import conf
from webhooks_app.portal import access, views
from webhooks_app.sending import contacts

LINK_INVALID = _("This confirmation link is invalid or has expired.")
LINK_STALE = _(
    "This confirmation link is for an address that the endpoint no longer has: nothing was changed."
)


@xframe_options_deny  # a confirming click must not be hijacked by a framing page
@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def confirm_contact(request: HttpRequest, token: str) -> HttpResponse:
    try:
        confirmation = contacts.read_token(token)
    except contacts.InvalidConfirmation:
        return access.refused(request, LINK_INVALID, status=400)
    endpoint = contacts.endpoint_for(confirmation)
    if endpoint is None:
        return access.refused(request, LINK_STALE, status=410)
    if request.method == "POST":
        if not contacts.confirm(confirmation):  # changed since the GET above
            return access.refused(request, LINK_STALE, status=410)
        return redirect(request.path)
    return TemplateResponse(
        request,
        "webhooks_app/portal/contact_confirm.html",
        {
            "address": confirmation.address,
            "endpoint_id": endpoint.pk,
            "confirmed": endpoint.contact_email_confirmed,
        },
    )


@views.portal_view(["POST"])
def resend_confirmation(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    """Mail the confirmation link to the endpoint's unconfirmed contact address again."""
    endpoint = views.tenant_endpoint(tenant, endpoint_id)
    if endpoint.contact_email and not endpoint.contact_email_confirmed:
        contacts.request_confirmation(request, endpoint)
        message = gettext("A confirmation link is on its way to %(address)s.") % {
            "address": endpoint.contact_email
        }
        cap = conf.get("ALERT_MAX_PER_DAY")
        if cap is not None:
            message += " " + ngettext(
                "An address is sent at most %(cap)d e-mail a day.",
                "An address is sent at most %(cap)d e-mails a day.",
                cap,
            ) % {"cap": cap}
        messages.success(request, message)
    return views.to_endpoint(endpoint)
