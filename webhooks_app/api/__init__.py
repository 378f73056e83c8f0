"""The REST API of webhooks_app (Django REST framework).

Mount it with ``path("api/webhooks/", include("webhooks_app.api.urls"))``.
Staff only by default (``WEBHOOKS["API_PERMISSION_CLASSES"]``), and every route
needs its Django model permissions on top (:mod:`webhooks_app.api.permissions`);
the OpenAPI schema is served at ``schema/``.

The customer-facing API, ``include("webhooks_app.api.tenant_urls")``, offers the same
resources scoped to the tenant that ``WEBHOOKS["TENANT_RESOLVER"]`` finds for the
request (:mod:`webhooks_app.api.tenant_views`).
"""
