"""``path("metrics/", include("webhooks_app.metrics.urls"))``: the Prometheus scrape view."""

from django.urls import path

from webhooks_app.metrics.views import metrics_view

app_name = "webhooks_metrics"
urlpatterns = [path("", metrics_view, name="metrics")]
