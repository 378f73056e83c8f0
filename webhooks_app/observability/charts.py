"""Stacked bar charts as SVG, for pages that show them inline: pure, no Django.

The SVG is accessible (``role="img"``, a ``<title>`` and a ``<desc>`` that name it,
axis titles and a legend in text, each bar segment with its own ``<title>``, which
browsers show as a tooltip) and needs neither JavaScript nor a font of its own: its
text takes the page's font and colour (``currentColor``), grid lines are the text
colour faded, and each series' colour is a CSS value, typically a custom property
with a fallback (``var(--webhooks-ok, #3a9a4a)``), so a light and a dark theme both
read. Every text is given by the caller, translated; it is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 480, 220
# The plot area's margins: the legend above, tick labels and the y title on the left,
# tick labels and the x title below.
TOP, RIGHT, BOTTOM, LEFT = 34, 8, 40, 46
FONT_SIZE = 11
BAR_SHARE = 0.7  # of each bar's slot; the rest is the gap between bars
MAX_TICKS = 4


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar: its legend label and its colour (a CSS value)."""

    label: str
    colour: str


@dataclass(frozen=True)
class Bar:
    """One bar: a value per series (in the chart's series order), its name in tooltips,
    and the label under it (empty: none, where labelling every bar would crowd)."""

    name: str
    values: Sequence[int]
    label: str = ""


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str
    x_title: str
    y_title: str
    series: Sequence[Series]
    bars: Sequence[Bar]
    empty_text: str = ""  # shown across the plot when every bar is zero


def nice_ticks(largest: int, most: int = MAX_TICKS) -> list[int]:
    """Whole tick values from 0 to at least ``largest``, at most ``most`` + 1 of them,
    a step of 1, 2 or 5 times a power of ten."""
    if largest <= 0:
        return [0, 1]
    raw = largest / most
    power = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    top = math.ceil(largest / step) * step
    return list(range(0, top + 1, step))


def stacked_bars(chart: BarChart, element_id: str) -> str:
    """The chart as an ``<svg>`` element; ``element_id`` must be unique in the page (it
    prefixes the ids that the accessible name refers to)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    ticks = nice_ticks(max((sum(bar.values) for bar in chart.bars), default=0))
    scale = plot_h / ticks[-1]
    base = TOP + plot_h
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id={quoteattr(element_id)} '
        f'class="webhooks-chart" role="img" aria-labelledby={quoteattr(f"{title_id} {desc_id}")} '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'style="max-width: 100%; height: auto;" font-size="{FONT_SIZE}" fill="currentColor">',
        f"<title id={quoteattr(title_id)}>{escape(chart.title)}</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(chart.description)}</desc>",
    ]
    parts += _legend(chart.series)
    for tick in ticks:
        y = base - tick * scale
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity="{0.5 if tick == 0 else 0.15}"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    slot = plot_w / max(1, len(chart.bars))
    width = slot * BAR_SHARE
    for index, bar in enumerate(chart.bars):
        x = LEFT + index * slot + (slot - width) / 2
        parts += _stack(bar, chart.series, x, width, base, scale)
        if bar.label:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{base + 15}" text-anchor="middle">'
                f"{escape(bar.label)}</text>"
            )
    if chart.empty_text and not any(any(bar.values) for bar in chart.bars):
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle" fill-opacity="0.7">{escape(chart.empty_text)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'fill-opacity="0.8">{escape(chart.x_title)}</text>'
    )
    middle = TOP + plot_h / 2
    parts.append(
        f'<text x="12" y="{middle:.1f}" transform="rotate(-90 12 {middle:.1f})" '
        f'text-anchor="middle" fill-opacity="0.8">{escape(chart.y_title)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[Series]) -> list[str]:
    """A swatch and a label per series, in a row above the plot."""
    parts, x = [], LEFT
    for item in series:
        parts.append(
            f'<rect x="{x}" y="10" width="10" height="10" rx="2" '
            f"style={quoteattr(f'fill: {item.colour}')}/>"
        )
        parts.append(f'<text x="{x + 14}" y="19">{escape(item.label)}</text>')
        x += 14 + round(len(item.label) * FONT_SIZE * 0.6) + 16
    return parts


def _stack(
    bar: Bar, series: Sequence[Series], x: float, width: float, base: float, scale: float
) -> list[str]:
    """The bar's segments, bottom up in series order, each with its tooltip."""
    parts, top = [], base
    for item, value in zip(series, bar.values, strict=True):
        if not value:
            continue
        height = value * scale
        top -= height
        tooltip = f"{bar.name}: {item.label} {value}"
        parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f"style={quoteattr(f'fill: {item.colour}')}>"
            f"<title>{escape(tooltip)}</title></rect>"
        )
    return parts
