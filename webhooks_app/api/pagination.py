"""Page-number pagination sized by ``WEBHOOKS["API_PAGE_SIZE"]``, read per request."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from webhooks_app import conf


class WebhooksPagination(PageNumberPagination):
    def get_page_size(self, request) -> int:
        return conf.get("API_PAGE_SIZE")
