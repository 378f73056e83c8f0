"""The scrape view: this process's counters and the database gauges, for Prometheus.

Who may scrape: a request with ``Authorization: Bearer <WEBHOOKS["METRICS_TOKEN"]>``
(what Prometheus's ``authorization`` scrape option sends), or a staff user's
session. With no token set, staff only: nothing is public by default. The
metrics hold no secret either way (counts, outcomes, receiver sources).
"""

from __future__ import annotations

import hmac

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from webhooks_app import conf, metrics


def allowed(request: HttpRequest) -> bool:
    """A staff session, or the bearer token when one is set."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = conf.get("METRICS_TOKEN")
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@login_not_required  # a scraper has no session; allowed() decides
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if metrics.prometheus_client is None:
        return HttpResponse(metrics.MISSING, status=501, content_type="text/plain")
    if not allowed(request):
        response = HttpResponse(
            _("Send the metrics token as a bearer token."), status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="webhooks metrics"'
        return response
    from prometheus_client.exposition import choose_encoder

    registry = metrics.scrape_registry()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
