"""The portal's pages: a tenant's endpoints, their deliveries and attempts, the catalog.

Every view acts for the request's tenant (:mod:`webhooks_app.portal.access`) and
reaches only that tenant's objects; another tenant's answer 404. Pages are
GETs that change nothing; every action is a POST with a CSRF token, redirecting
back to a page (so a reload never repeats it). Pages may be framed by the same
origin only, and are never cached: some show a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from webhooks_app import conf, event_types, operations
from webhooks_app.models import Attempt, Delivery, Endpoint
from webhooks_app.portal import access
from webhooks_app.portal.forms import EndpointForm, RetrySinceForm, SendExampleForm
from webhooks_app.portal.links import InvalidLink, read_token
from webhooks_app.portal.sent import sent_request
from webhooks_app.sending import contacts
from webhooks_app.sending.ordering import with_earlier_in_key

DELIVERIES_PER_PAGE = 20

# The session key of the endpoint whose secret the next page shows (once).
SESSION_REVEAL = "_webhooks_portal_reveal"


def portal_view(methods: Iterable[str]) -> Callable:
    """The decorators of every portal view that acts for a tenant."""
    methods = list(methods)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view = access.tenant_required(view)
        if "POST" in methods:
            view = csrf_protect(view)  # whether or not the project has the middleware
        view = require_http_methods(methods)(view)
        return xframe_options_sameorigin(never_cache(view))

    return decorate


def render(request: HttpRequest, template: str, context: dict | None = None, **kwargs):
    return TemplateResponse(
        request,
        f"webhooks_app/portal/{template}",
        {
            "in_link_session": access.SESSION_TENANT in request.session,
            "section": "endpoints",
            **(context or {}),
        },
        **kwargs,
    )


def tenant_endpoints(tenant: str) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(tenant=tenant)


def tenant_endpoint(tenant: str, endpoint_id: int) -> Endpoint:
    return get_object_or_404(tenant_endpoints(tenant), pk=endpoint_id)


def to_endpoint(endpoint: Endpoint) -> HttpResponseRedirect:
    return redirect("webhooks_portal:endpoint", endpoint_id=endpoint.pk)


def show_secret_once(request: HttpRequest, endpoint: Endpoint) -> None:
    """Let the next view of this endpoint show its secret, that once (the session holds the
    endpoint's id, never the secret)."""
    request.session[SESSION_REVEAL] = endpoint.pk


# --- entering and leaving -------------------------------------------------------------


@xframe_options_sameorigin
@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def enter(request: HttpRequest, token: str) -> HttpResponse:
    """Open a signed link: a new session acting for its tenant until the link expires.

    A visitor who acts for another tenant already is asked first: a GET shows
    both tenants and a form, and only its POST switches (see
    :mod:`webhooks_app.portal.access`).
    """
    try:
        link = read_token(token)
    except InvalidLink:
        return access.refused(request, access.LINK_INVALID)
    current = access.needs_confirmation(request, link)
    if current is not None and request.method == "GET":
        request.webhooks_tenant = current  # type: ignore[attr-defined]  # the header names it
        return render(request, "enter_confirm.html", {"current": current, "link": link})
    access.start_session(request, link)
    return redirect("webhooks_portal:endpoints")


@xframe_options_sameorigin
@never_cache
@csrf_protect
@require_http_methods(["POST"])
def leave(request: HttpRequest) -> HttpResponse:
    """End the link's portal session (a login of the project's own is left alone)."""
    access.end_session(request)
    request.session.pop(SESSION_REVEAL, None)
    return render(request, "left.html")


# --- endpoints ------------------------------------------------------------------------


@portal_view(["GET"])
def endpoint_list(request: HttpRequest, tenant: str) -> HttpResponse:
    latest = Delivery.objects.filter(endpoint=OuterRef("pk"), attempt_count__gt=0).order_by(
        "-created_at", "-pk"
    )
    endpoints = tenant_endpoints(tenant).annotate(
        last_status_code=Subquery(latest.values("last_status_code")[:1]),
        last_status=Subquery(latest.values("status")[:1]),
        last_delivery_at=Subquery(latest.values("created_at")[:1]),
    )
    limit = conf.get("MAX_ENDPOINTS_PER_TENANT")
    return render(
        request,
        "endpoint_list.html",
        {
            "endpoints": endpoints,
            "limit": limit,
            "limit_reached": limit is not None and len(endpoints) >= limit,
        },
    )


def limit_message() -> str:
    limit = conf.get("MAX_ENDPOINTS_PER_TENANT")
    return ngettext(
        "You have reached the limit of %(limit)d endpoint. Delete one to add another.",
        "You have reached the limit of %(limit)d endpoints. Delete one to add another.",
        limit,
    ) % {"limit": limit}


@portal_view(["GET", "POST"])
def endpoint_add(request: HttpRequest, tenant: str) -> HttpResponse:
    if operations.endpoint_limit_reached(tenant):
        messages.error(request, limit_message())
        return redirect("webhooks_portal:endpoints")
    form = EndpointForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        endpoint = form.save()
        contacts.request_confirmation(request, endpoint)
        show_secret_once(request, endpoint)
        messages.success(request, gettext("The endpoint was added."))
        return to_endpoint(endpoint)
    return render(request, "endpoint_form.html", {"form": form, "endpoint": None})


@portal_view(["GET", "POST"])
def endpoint_edit(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    form = EndpointForm(request.POST or None, instance=endpoint, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        # The form's columns only: workers update the health columns meanwhile.
        endpoint.save(update_fields=[*EndpointForm.Meta.fields, "updated_at"])
        if "contact_email" in form.changed_data:
            contacts.request_confirmation(request, endpoint)
        messages.success(request, gettext("The endpoint was saved."))
        return to_endpoint(endpoint)
    return render(request, "endpoint_form.html", {"form": form, "endpoint": endpoint})


@portal_view(["GET"])
def endpoint_detail(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    reveal = request.session.get(SESSION_REVEAL) == endpoint.pk
    if reveal:
        del request.session[SESSION_REVEAL]
    deliveries = (
        with_earlier_in_key(endpoint.deliveries.select_related("event"))
        .prefetch_related(Prefetch("attempts", queryset=Attempt.objects.order_by("number")))
        .order_by("-created_at", "-pk")
    )
    status = request.GET.get("status")
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "endpoint_detail.html",
        {
            "endpoint": endpoint,
            "secret": endpoint.secret if reveal else None,
            "previous_secret_until": previous_secret_until(endpoint),
            "page": page,
            "status": status if status in Delivery.Status.values else "",
            "statuses": Delivery.Status.choices,
            "retry_form": RetrySinceForm(initial={"since": timezone.localdate()}),
            "example_form": SendExampleForm(endpoint=endpoint),
        },
    )


def previous_secret_until(endpoint: Endpoint):
    """When the rotated-out secret stops signing, while it still does."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        return expires
    return None


@portal_view(["GET", "POST"])
def endpoint_delete(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    if request.method == "POST":
        endpoint.delete()
        messages.success(request, gettext("The endpoint was deleted."))
        return redirect("webhooks_portal:endpoints")
    return render(request, "endpoint_confirm_delete.html", {"endpoint": endpoint})


@portal_view(["POST"])
def endpoint_disable(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    operations.disable_endpoints(
        tenant_endpoints(tenant).filter(pk=endpoint.pk), gettext("Disabled in the portal")
    )
    messages.success(request, gettext("The endpoint is disabled: nothing is sent to it."))
    return to_endpoint(endpoint)


@portal_view(["POST"])
def endpoint_enable(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    operations.enable_endpoints(tenant_endpoints(tenant).filter(pk=endpoint.pk))
    messages.success(request, gettext("The endpoint is enabled: waiting deliveries go out."))
    return to_endpoint(endpoint)


@portal_view(["POST"])
def endpoint_rotate(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    operations.rotate_secrets(tenant_endpoints(tenant).filter(pk=endpoint.pk))
    endpoint.refresh_from_db()
    show_secret_once(request, endpoint)
    until = previous_secret_until(endpoint)
    message = gettext("The secret was rotated.")
    if until:
        message += " " + gettext(
            "The previous secret also signs deliveries until %(time)s: update your receiver."
        ) % {"time": formats.date_format(timezone.localtime(until), "DATETIME_FORMAT")}
    messages.success(request, message)
    return to_endpoint(endpoint)


@portal_view(["POST"])
def endpoint_reveal(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    show_secret_once(request, endpoint)
    return to_endpoint(endpoint)


@portal_view(["POST"])
def endpoint_test(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    endpoint = tenant_endpoint(tenant, endpoint_id)
    operations.send_test_event(endpoint)
    if endpoint.is_active:
        messages.success(request, gettext("A test event was sent; its delivery is listed below."))
    else:
        messages.warning(
            request, gettext("A test event waits until the endpoint is enabled again.")
        )
    return to_endpoint(endpoint)


@portal_view(["POST"])
def endpoint_example(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    """Send the catalog's example of one of the types the endpoint subscribes to."""
    endpoint = tenant_endpoint(tenant, endpoint_id)
    form = SendExampleForm(request.POST, endpoint=endpoint)
    if not form.is_valid():
        messages.error(request, gettext("Pick one of the event types this endpoint receives."))
        return to_endpoint(endpoint)
    name = form.cleaned_data["event_type"]
    operations.send_example(endpoint, name)
    messages.success(
        request,
        gettext("An example %(type)s event was sent; its delivery is listed below.")
        % {"type": name},
    )
    return to_endpoint(endpoint)


# --- the catalog ----------------------------------------------------------------------


@portal_view(["GET"])
def catalog(request: HttpRequest, tenant: str) -> HttpResponse:
    """The event types sent, with their descriptions, schemas and examples."""
    return render(
        request, "event_types.html", {"event_types": event_types.all(), "section": "event_types"}
    )


# --- deliveries -----------------------------------------------------------------------


def tenant_deliveries(tenant: str) -> QuerySet[Delivery]:
    return Delivery.objects.filter(endpoint__tenant=tenant)


@portal_view(["GET"])
def delivery_detail(request: HttpRequest, tenant: str, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(
        with_earlier_in_key(tenant_deliveries(tenant).select_related("event", "endpoint")),
        pk=delivery_id,
    )
    attempts = delivery.attempts.order_by("number")
    return render(
        request,
        "delivery_detail.html",
        {"delivery": delivery, "attempts": attempts, "sent": sent_request(delivery)},
    )


@portal_view(["POST"])
def delivery_retry(request: HttpRequest, tenant: str, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(tenant_deliveries(tenant), pk=delivery_id)
    if delivery.status == Delivery.Status.FAILED:
        operations.retry_deliveries(tenant_deliveries(tenant).filter(pk=delivery.pk))
        messages.success(request, gettext("The delivery is being retried."))
    else:
        messages.info(request, gettext("Only a failed delivery can be retried."))
    return redirect(
        reverse("webhooks_portal:endpoint", kwargs={"endpoint_id": delivery.endpoint_id})
    )


@portal_view(["POST"])
def endpoint_retry(request: HttpRequest, tenant: str, endpoint_id: int) -> HttpResponse:
    """Retry every failed delivery of the endpoint made since the day picked."""
    endpoint = tenant_endpoint(tenant, endpoint_id)
    form = RetrySinceForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("since", []):
            messages.error(request, str(error))
        return to_endpoint(endpoint)
    failed = tenant_deliveries(tenant).filter(
        endpoint=endpoint, status=Delivery.Status.FAILED, created_at__gte=form.since_moment()
    )
    count = operations.retry_deliveries(failed)
    messages.success(
        request,
        ngettext(
            "%(count)d failed delivery is being retried.",
            "%(count)d failed deliveries are being retried.",
            count,
        )
        % {"count": count},
    )
    return to_endpoint(endpoint)
