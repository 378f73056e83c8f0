"""Every ``WEBHOOKS`` key, declared once: default, validator, description and group.

A new setting is one more :class:`Setting` here; the system checks
(:mod:`webhooks_app.checks`) and the settings reference (docs/settings.md, rewritten by
``python -m webhooks_app.conf.reference``) follow from it. Descriptions are Markdown, with
links relative to ``docs/``; ``group`` names the table of the reference the key is shown in.
"""

from __future__ import annotations

from typing import Any

from webhooks_app.conf.rules import (
    BOOLEAN,
    POSITIVE_SECONDS,
    POSITIVE_WHOLE,
    RATE,
    SECONDS,
    Rule,
    is_alert_link,
    is_callable_path,
    is_catalog_info,
    is_list_of_strings,
    is_metrics_token,
    is_networks,
    is_positive_whole,
    is_schedule,
    is_share,
    is_text,
    is_timeout,
    is_whole,
    optional,
)
from webhooks_app.conf.setting import Setting

SETTINGS: tuple[Setting, ...] = (
    # --- sending
    Setting(
        "RETRY_SCHEDULE",
        [5, 300, 1800, 7200, 18000, 36000, 36000],
        Rule(is_schedule, "a list of non-negative numbers of seconds"),
        "seconds (floats allowed) to wait after each failed attempt: `RETRY_SCHEDULE[n-1]` "
        "follows attempt `n`, so there are `len + 1` attempts; the default (Svix's) makes 8 "
        "attempts over about 28 hours; each wait gets a jitter of ±20 %",
        "sending",
    ),
    Setting(
        "TIMEOUT",
        (5, 15),
        Rule(is_timeout, "a positive number or a (connect, read) pair of them"),
        "connect and read timeouts of a request, in seconds (one number: both); together they "
        "are the request's one overall deadline, enforced on the socket",
        "sending",
    ),
    Setting(
        "ALLOWED_NETWORKS",
        [],
        Rule(is_networks, 'a list of CIDRs such as "127.0.0.0/8"'),
        'CIDRs exempt from the private-address guard, e.g. `["127.0.0.0/8", "::1/128"]` for '
        "local development; never opens a cloud-metadata address "
        "([Security](security.md#allowed_networks))",
        "sending",
    ),
    Setting(
        "MAX_RESPONSE_BODY",
        20_480,
        Rule(is_whole, "a non-negative whole number of bytes"),
        "bytes of a response body stored on an `Attempt` (the rest is not read)",
        "sending",
    ),
    Setting(
        "MAX_RETRY_AFTER",
        3600,
        SECONDS,
        "longest `Retry-After`, in seconds, that is honoured; longer values are capped",
        "sending",
    ),
    Setting(
        "RETRY_CLIENT_ERRORS",
        False,
        BOOLEAN,
        "`True`: retry 4xx answers other than 408, 410, 425 and 429 (which have rules of their "
        "own); `False`: fail them at once",
        "sending",
    ),
    Setting(
        "SECRET_ROTATION_GRACE",
        86_400,
        SECONDS,
        "seconds a rotated-out secret keeps signing beside the new one",
        "sending",
    ),
    Setting(
        "USER_AGENT",
        None,
        optional(Rule(lambda value: isinstance(value, str), "a string")),
        "the `User-Agent` header of deliveries; `None` means `webhooks_app/<version>`",
        "sending",
    ),
    Setting(
        "VALIDATE_PAYLOADS",
        False,
        BOOLEAN,
        "`True`: `send_event` raises `webhooks_app.InvalidPayload`, writing nothing, when a "
        "registered type's schema refuses the payload ([Event types](event-types.md)); "
        "unregistered types are never refused",
        "sending",
    ),
    # --- the engine
    Setting(
        "QUEUE",
        None,
        optional(Rule(is_text, "a queue name")),
        "Celery queue for every task of the app (`deliver_due`, `deliver`, `sweep`, "
        "`process_inbound`), however it is sent, beat's sweep included; `None`: the project's "
        "own routing (`task_routes`), else the default queue. A queue named by the sender still "
        "wins ([Deployment](deployment.md#queues-and-routing))",
        "engine",
    ),
    Setting(
        "BATCH_SIZE",
        100,
        POSITIVE_WHOLE,
        "deliveries one wake-up from the sweep stands for: it sends one per `BATCH_SIZE` "
        "claimable deliveries",
        "engine",
    ),
    Setting(
        "SEND_CONCURRENCY",
        32,
        POSITIVE_WHOLE,
        "requests one worker process keeps in flight at once, on its event loop (shared by "
        "the runs of a threads pool)",
        "engine",
    ),
    Setting(
        "MAX_IN_FLIGHT_PER_ENDPOINT",
        8,
        POSITIVE_WHOLE,
        "requests in flight to one endpoint, across all workers",
        "engine",
    ),
    Setting(
        "LEASE_MARGIN",
        10,
        SECONDS,
        "seconds a delivery lease outlasts the request's connect + read timeouts, so a request "
        "always ends before its lease",
        "engine",
    ),
    Setting(
        "MAX_COUNTDOWN",
        300,
        SECONDS,
        "retries due within this many seconds get a wake-up with a Celery countdown; later ones "
        "are left to the sweep (keep it well under the broker's visibility timeout, one hour on "
        "Redis)",
        "engine",
    ),
    Setting(
        "CIRCUIT_BREAKER_THRESHOLD",
        5,
        POSITIVE_WHOLE,
        "timeouts, connection errors and retryable statuses in a row that open an endpoint's "
        "circuit (its deliveries then wait) when they are not outweighed by its recent "
        "successes: a dead endpoint opens after this many, a flaky one that mostly answers "
        "does not ([Sending](sending.md#the-circuit-breaker))",
        "engine",
    ),
    Setting(
        "CIRCUIT_BREAKER_FAILURE_RATE",
        0.5,
        RATE,
        "the share of an endpoint's recent tries (over `CIRCUIT_BREAKER_WINDOW`) that failed "
        "with a timeout, a connection error or a retryable status at which its circuit opens",
        "engine",
    ),
    Setting(
        "CIRCUIT_BREAKER_MIN_REQUESTS",
        20,
        POSITIVE_WHOLE,
        "recent tries an endpoint must have had before its failure rate alone opens its "
        "circuit (fewer: only `CIRCUIT_BREAKER_THRESHOLD` failures in a row do)",
        "engine",
    ),
    Setting(
        "CIRCUIT_BREAKER_WINDOW",
        60,
        POSITIVE_SECONDS,
        "seconds of the window the failure rate is counted over; at each new window the "
        "previous one's counts are halved, not dropped",
        "engine",
    ),
    Setting(
        "CIRCUIT_BREAKER_COOLDOWN",
        30,
        SECONDS,
        "seconds an open circuit waits before it lets one probe request through; a success "
        "closes it",
        "engine",
    ),
    Setting(
        "DISABLE_AFTER_FAILURES",
        50,
        POSITIVE_WHOLE,
        "failed attempts in a row that, with the next key, disable an endpoint "
        "(`is_active=False`, with `disabled_reason`)",
        "engine",
    ),
    Setting(
        "DISABLE_AFTER_SECONDS",
        5 * 86_400,
        SECONDS,
        "seconds (5 days) the failure streak must have lasted too: both must hold",
        "engine",
    ),
    # --- receiving
    Setting(
        "SIGNATURE_TOLERANCE",
        300,
        POSITIVE_SECONDS,
        "seconds a signed timestamp may be off, either way, for verifiers that take no "
        "`tolerance=` of their own",
        "receiving",
    ),
    Setting(
        "MAX_INBOUND_BODY",
        1_048_576,
        Rule(is_positive_whole, "a positive whole number of bytes"),
        "bytes; a larger inbound body gets 413, from `Content-Length` before any of it is read",
        "receiving",
    ),
    Setting(
        "INBOUND_HEADERS",
        [
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
        Rule(is_list_of_strings, "a list of header names"),
        "inbound request headers stored with an `InboundEvent` (an allow-list, compared without "
        "case); signatures and credentials are never kept",
        "receiving",
    ),
    # --- the REST APIs, tenancy and the catalog
    Setting(
        "API_PERMISSION_CLASSES",
        ["rest_framework.permissions.IsAdminUser"],
        Rule(is_list_of_strings, "a list of import strings"),
        "DRF permission classes (import strings): who may use the staff REST API at all (staff "
        "by default); each route's model permission applies on top, whatever this says "
        "([Operating](operating.md#permissions))",
        "api",
    ),
    Setting(
        "API_PAGE_SIZE",
        50,
        POSITIVE_WHOLE,
        "page size of the REST APIs' lists",
        "api",
    ),
    Setting(
        "TENANT_RESOLVER",
        None,
        optional(Rule(is_callable_path, "the dotted path of a function f(request)")),
        "dotted path of `f(request) -> tenant or None`: the tenant a request to the customer API "
        "or the portal acts for; `None`: those refuse every request that has no portal link "
        "([Tenancy](tenancy.md))",
        "api",
    ),
    Setting(
        "TENANT_LABEL",
        None,
        optional(Rule(is_callable_path, "the dotted path of a function f(key)")),
        "dotted path of `f(key) -> str`: a tenant's name where staff see tenants (the admin's "
        "column, filter and form); `None`, or an empty name: the key itself "
        "([Tenancy](tenancy.md#tenants-by-name-in-the-admin))",
        "api",
    ),
    Setting(
        "TENANT_CHOICES",
        None,
        optional(Rule(is_callable_path, "the dotted path of a function f()")),
        "dotted path of `f() -> iterable of (key, name)`: the tenants the admin's endpoint form "
        "offers in a list; `None`: a text field, with a warning when a key is new "
        "([Tenancy](tenancy.md#tenants-by-name-in-the-admin))",
        "api",
    ),
    Setting(
        "MAX_ENDPOINTS_PER_TENANT",
        None,
        optional(POSITIVE_WHOLE),
        "endpoints one tenant may add through the customer API and the portal; `None`: no "
        "limit; staff (admin, staff API, ORM) are never limited",
        "api",
    ),
    Setting(
        "CATALOG_INFO",
        {"title": "Webhooks", "version": "1.0.0"},
        Rule(
            is_catalog_info,
            'a dict such as {"title": "Shop webhooks", "version": "2.1.0"} (an OpenAPI info '
            "object; title and version non-empty strings)",
        ),
        "the `info` object of `manage.py webhooks_catalog`'s OpenAPI document; given keys "
        "replace these, and the command's `--title` and `--api-version` replace both",
        "api",
    ),
    # --- telling endpoint owners
    Setting(
        "ALERT_AFTER_FAILURES",
        5,
        optional(POSITIVE_WHOLE),
        'failures in a row that send the "failing" alert (the `endpoint_failing` signal, and a '
        "mail to the endpoint's `contact_email`); `None` turns it off "
        "([Operating](operating.md#telling-endpoint-owners))",
        "alerts",
    ),
    Setting(
        "ALERT_DISABLE_WARNING",
        0.5,
        optional(Rule(is_share, "a number between 0 and 1, e.g. 0.5")),
        "warn (`endpoint_disable_warning`) once the streak is this share of the way to **both** "
        "disable thresholds; between 0 and 1; `None` turns it off",
        "alerts",
    ),
    Setting(
        "ALERT_EMAILS",
        True,
        BOOLEAN,
        "`False` keeps the signals but sends no mail",
        "alerts",
    ),
    Setting(
        "ALERT_MAX_PER_DAY",
        3,
        optional(POSITIVE_WHOLE),
        "mails one contact address is sent per UTC day at most, alerts and confirmation "
        "requests together, across all endpoints and processes; mails over it are dropped "
        "(logged and counted); `None`: no cap "
        "([Operating](operating.md#telling-endpoint-owners))",
        "alerts",
    ),
    Setting(
        "ALERT_FROM_EMAIL",
        None,
        optional(Rule(is_text, "an e-mail address")),
        "the alerts' sender; `None` uses `DEFAULT_FROM_EMAIL`",
        "alerts",
    ),
    Setting(
        "ALERT_LINK",
        None,
        optional(Rule(is_alert_link, "a URL whose placeholders are {endpoint_id} and {tenant}")),
        "a URL added to the mails, with `{endpoint_id}` and `{tenant}` filled in",
        "alerts",
    ),
    # --- observability
    Setting(
        "PROPAGATE_TRACE_CONTEXT",
        True,
        BOOLEAN,
        "send the W3C trace context (`traceparent`, from OpenTelemetry's global propagator) "
        "with every delivery, when `opentelemetry-api` is installed "
        "([Observability](observability.md))",
        "observability",
    ),
    Setting(
        "METRICS_TOKEN",
        None,
        optional(Rule(is_metrics_token, "a string of at least 16 characters")),
        "the bearer token (16 characters or more) Prometheus scrapes "
        "`webhooks_app.metrics.urls` with; `None`: staff sessions only",
        "observability",
    ),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}

DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}
"""Every key's default, derived from the declarations (``conf.get`` reads it)."""
