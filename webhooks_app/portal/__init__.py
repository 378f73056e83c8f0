"""The embeddable customer portal: server-rendered pages for one tenant's endpoints.

Mount it with ``path("webhooks/", include("webhooks_app.portal.urls"))``; a request
acts for the tenant of a signed link (:func:`portal_link`) or, without one, the
tenant that ``WEBHOOKS["TENANT_RESOLVER"]`` finds for it. See docs/portal.md.

Importing this package imports no model, so a project's ``urls.py`` or a view
module may import :func:`portal_link` at any time.
"""

from __future__ import annotations

from webhooks_app.portal.links import portal_link

__all__ = ["portal_link"]
