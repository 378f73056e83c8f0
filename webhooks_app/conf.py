"""The ``WEBHOOKS`` settings dict, with every default in one place.

Values are read from ``django.conf.settings`` on every access, so
``override_settings(WEBHOOKS=...)`` in tests takes effect at once and nothing
is cached at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    # Seconds to wait before each retry; the number of attempts is len + 1.
    "RETRY_SCHEDULE": [5, 300, 1800, 7200, 18000, 36000, 36000],
    # Connect and read timeouts for one delivery request, in seconds.
    "TIMEOUT": (5, 15),
    # CIDRs exempt from the private-address guard, e.g. ["127.0.0.0/8", "::1/128"].
    "ALLOWED_NETWORKS": [],
    # Seconds a signed timestamp may be off, either way (inbound verification).
    "SIGNATURE_TOLERANCE": 300,
    # Largest inbound body in bytes; larger ones are answered 413.
    "MAX_INBOUND_BODY": 1_048_576,
    # Seconds a delivery lease outlasts the request's connect + read timeouts.
    "LEASE_MARGIN": 10,
    # Celery queue for the app's tasks; None means the default queue.
    "QUEUE": None,
    # Bytes of a response body stored on an Attempt.
    "MAX_RESPONSE_BODY": 20_480,
    # Longest Retry-After (seconds) that is honoured; longer values are capped.
    "MAX_RETRY_AFTER": 3600,
    # Retries due within this many seconds are scheduled with a Celery countdown;
    # longer delays are left to the sweep (keep it well under the broker's
    # visibility timeout, one hour on Redis by default).
    "MAX_COUNTDOWN": 300,
    # Retry 4xx answers other than 408/410/425/429 (False: fail them at once).
    "RETRY_CLIENT_ERRORS": False,
    # How long a rotated-out secret still signs deliveries, in seconds.
    "SECRET_ROTATION_GRACE": 86_400,
    # An endpoint is disabled when it has failed this many attempts in a row ...
    "DISABLE_AFTER_FAILURES": 50,
    # ... and the streak has lasted at least this many seconds (both must hold).
    "DISABLE_AFTER_SECONDS": 5 * 86_400,
    # Owner alerts (webhooks_app.alerts), each at most once per failing streak: the
    # endpoint_failing signal and e-mail once this many attempts in a row have failed
    # (None: no such alert) ...
    "ALERT_AFTER_FAILURES": 5,
    # ... endpoint_disable_warning once the streak has gone this share of the way to
    # both disable thresholds, e.g. 0.5: half the failures over half the time (None: none).
    "ALERT_DISABLE_WARNING": 0.5,
    # E-mail the alerts (and the disabling) to endpoints' contact addresses; False: the
    # signals alone.
    "ALERT_EMAILS": True,
    # The alerts' sender; None means DEFAULT_FROM_EMAIL.
    "ALERT_FROM_EMAIL": None,
    # A link put in the alerts, with {endpoint_id} and {tenant} filled in, e.g.
    # "https://example.com/settings/webhooks/{endpoint_id}/"; None: no link.
    "ALERT_LINK": None,
    # Deliveries one claim statement leases to a worker at most.
    "BATCH_SIZE": 100,
    # Requests one run keeps in flight at once (its sender threads): one run per
    # prefork process, one per task with the threads pool.
    "SEND_CONCURRENCY": 32,
    # Requests in flight to one endpoint, across all workers.
    "MAX_IN_FLIGHT_PER_ENDPOINT": 8,
    # Timeouts, connection errors and retryable answers in a row that open an
    # endpoint's circuit breaker (its deliveries then wait) ...
    "CIRCUIT_BREAKER_THRESHOLD": 5,
    # ... for this many seconds, after which one probe request is let through.
    "CIRCUIT_BREAKER_COOLDOWN": 30,
    # The User-Agent of deliveries; None means "webhooks_app/<version>".
    "USER_AGENT": None,
    # DRF permission classes (import strings): who may use the REST API at all; staff
    # only by default. Model permissions are required on top, whatever this says.
    "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # Dotted path of f(request) -> tenant key or None: the tenant a customer-facing request
    # (the tenant API, the portal) acts for. None: those views refuse every request.
    "TENANT_RESOLVER": None,
    # Endpoints one tenant may have at most through the customer-facing API and portal;
    # None means no limit. Staff (admin, staff API, ORM) are not limited.
    "MAX_ENDPOINTS_PER_TENANT": None,
    # Page size of the REST API's lists.
    "API_PAGE_SIZE": 50,
    # send_event raises InvalidPayload when a registered event type's schema refuses
    # the payload (webhooks_app.event_types); unregistered types are never refused.
    "VALIDATE_PAYLOADS": False,
    # The "info" object of the catalog's OpenAPI document (manage.py webhooks_catalog);
    # given keys replace these, the command's --title and --api-version replace both.
    "CATALOG_INFO": {"title": "Webhooks", "version": "1.0.0"},
    # Send the W3C trace context (traceparent, through OpenTelemetry's global propagator)
    # with every delivery, when opentelemetry-api is installed.
    "PROPAGATE_TRACE_CONTEXT": True,
    # The bearer token Prometheus scrapes webhooks_app.metrics.urls with; None: staff
    # sessions only.
    "METRICS_TOKEN": None,
    # Inbound headers stored with an InboundEvent (and shown), compared without case: an
    # allow-list, so that credentials a sender adds (X-Auth-Key, ...) are never kept.
    # Signatures are left out too.
    "INBOUND_HEADERS": [
        "Content-Type",
        "User-Agent",
        "X-Request-Id",
        "webhook-id",
        "webhook-timestamp",
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-GitHub-Hook-ID",
        "X-GitHub-Hook-Installation-Target-ID",
        "X-GitHub-Hook-Installation-Target-Type",
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Event-Id",
        "X-Shopify-API-Version",
        "X-Shopify-Triggered-At",
        "Shopify-Topic",
        "Shopify-Shop-Domain",
        "Shopify-Webhook-Id",
        "Shopify-Event-Id",
        "Shopify-API-Version",
        "Shopify-Triggered-At",
        "X-Slack-Request-Timestamp",
        "X-Slack-Retry-Num",
        "X-Slack-Retry-Reason",
    ],
}


def get(name: str) -> Any:
    """Return the value of ``WEBHOOKS[name]``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown WEBHOOKS setting {name!r}")
    user = getattr(django_settings, "WEBHOOKS", None) or {}
    return user.get(name, DEFAULTS[name])


def timeouts() -> tuple[float, float]:
    """The (connect, read) timeouts; a single number means both."""
    value = get("TIMEOUT")
    if isinstance(value, int | float):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def lease_seconds() -> float:
    """How long a claimed delivery stays leased to one worker."""
    connect, read = timeouts()
    return connect + read + float(get("LEASE_MARGIN"))
