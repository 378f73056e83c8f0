"""An endpoint's delivery statistics in a page: its figures and two charts.

``{% include "webhooks_app/endpoint_stats.html" %}`` shows them for the context's
``endpoint``; the portal's endpoint page and the admin's endpoint change page both do.
The numbers are :func:`webhooks_app.observability.stats.endpoint_stats`; the charts,
SVG drawn by :mod:`webhooks_app.observability.charts` (which escapes every text) with
this module's labels, translated into the current language and dated in the current
time zone.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from webhooks_app.models import Endpoint
from webhooks_app.observability import charts
from webhooks_app.observability.stats import OUTCOMES, Bucket, EndpointStats, endpoint_stats
from webhooks_app.sending import state

register = template.Library()

# Colours: the portal's theme variables, else tones that read on light and dark pages.
COLOURS = {
    "succeeded": "var(--webhooks-ok, #3a9a4a)",
    "retrying": "var(--webhooks-warn, #c28a00)",
    "failed": "var(--webhooks-bad, #d64545)",
}
# The hours labelled under the hourly chart (local hours).
LABELLED_HOURS = (0, 6, 12, 18)


@register.simple_tag
def stats_of(endpoint: Endpoint) -> EndpointStats:
    """``{% stats_of endpoint as stats %}``: the endpoint's statistics (four queries)."""
    return endpoint_stats(endpoint)


@register.simple_tag
def hourly_chart(stats: EndpointStats, key: object) -> SafeString:
    """The tries of the last 24 hours by hour and outcome, as SVG (``key``, e.g. the
    endpoint's id, makes its element's id unique in the page)."""
    bars = []
    for bucket in stats.hourly:
        local = timezone.localtime(bucket.start)
        label = formats.time_format(local, "H:i") if local.hour in LABELLED_HOURS else ""
        name = formats.date_format(local, "SHORT_DATETIME_FORMAT")
        bars.append(charts.Bar(name, _values(bucket), label))
    chart = _chart(
        stats.hourly,
        bars,
        title=gettext("Tries per hour, last 24 hours"),
        x_title=gettext("Last 24 hours, by hour (%(zone)s)")
        % {"zone": timezone.get_current_timezone_name()},
    )
    return mark_safe(charts.stacked_bars(chart, f"webhooks-chart-{key}-hourly"))  # noqa: S308


@register.simple_tag
def daily_chart(stats: EndpointStats, key: object) -> SafeString:
    """The tries of the last 7 days by day and outcome, as SVG (``key`` as above)."""
    bars = [
        charts.Bar(
            formats.date_format(bucket.start, "DATE_FORMAT"),
            _values(bucket),
            formats.date_format(bucket.start, "D j"),
        )
        for bucket in stats.daily
    ]
    chart = _chart(
        stats.daily,
        bars,
        title=gettext("Tries per day, last 7 days"),
        x_title=gettext("Last 7 days, by day"),
    )
    return mark_safe(charts.stacked_bars(chart, f"webhooks-chart-{key}-daily"))  # noqa: S308


@register.filter
def percent(rate: float | None) -> str:
    """A share from 0 to 1 in per cent: one decimal, none when it is whole."""
    return "—" if rate is None else state.percent(rate)


def _values(bucket: Bucket) -> tuple[int, int, int]:
    return bucket.succeeded, bucket.retrying, bucket.failed


def _chart(
    buckets: Sequence[Bucket], bars: list[charts.Bar], *, title: str, x_title: str
) -> charts.BarChart:
    succeeded, retrying, failed = (sum(getattr(b, name) for b in buckets) for name in OUTCOMES)
    tries = succeeded + retrying + failed
    description = ngettext(
        "%(tries)d try: %(succeeded)d succeeded, %(retrying)d retrying, %(failed)d failed.",
        "%(tries)d tries: %(succeeded)d succeeded, %(retrying)d retrying, %(failed)d failed.",
        tries,
    ) % {"tries": tries, "succeeded": succeeded, "retrying": retrying, "failed": failed}
    return charts.BarChart(
        title=title,
        description=description,
        x_title=x_title,
        y_title=gettext("Tries"),
        series=[
            charts.Series(gettext("Succeeded"), COLOURS["succeeded"]),
            charts.Series(gettext("Retrying"), COLOURS["retrying"]),
            charts.Series(gettext("Failed"), COLOURS["failed"]),
        ],
        bars=bars,
        empty_text=gettext("No tries") if not tries else "",
    )
