"""The SVG bar charts (webhooks_app.observability.charts): well-formed, accessible, one
rectangle per non-zero segment, sized to scale, every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from webhooks_app.observability.charts import Bar, BarChart, Series, nice_ticks, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"
SERIES = [Series("Succeeded", "var(--ok, green)"), Series("Failed", "var(--bad, red)")]


def chart(bars, **kwargs) -> BarChart:
    fields = {
        "title": "Tries per hour",
        "description": "5 tries",
        "x_title": "Hour",
        "y_title": "Tries",
        "series": SERIES,
        "bars": bars,
        "empty_text": "No tries",
    }
    return BarChart(**{**fields, **kwargs})


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def segments(root: ET.Element) -> list[ET.Element]:
    """The bars' rectangles (the legend's swatches have no tooltip)."""
    return [rect for rect in root.iter(SVG + "rect") if rect.find(SVG + "title") is not None]


def texts(root: ET.Element) -> list[str]:
    return [text.text or "" for text in root.iter(SVG + "text")]


def test_a_well_formed_accessible_svg():
    root = parsed(stacked_bars(chart([Bar("13:00", [3, 1], "13:00"), Bar("14:00", [1, 0])]), "c1"))
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(SVG + "title").text == "Tries per hour"
    assert root.find(SVG + "title").get("id") == "c1-title"
    assert root.find(SVG + "desc").text == "5 tries"
    # Axis titles, the legend, the labelled bar; no script, no font of its own.
    assert {"Hour", "Tries", "Succeeded", "Failed", "13:00"} <= set(texts(root))
    assert not list(root.iter(SVG + "script"))
    assert "@font-face" not in stacked_bars(chart([]), "c2")


def test_one_rectangle_per_non_zero_segment_stacked_to_scale():
    root = parsed(stacked_bars(chart([Bar("a", [3, 1]), Bar("b", [1, 0]), Bar("c", [0, 0])]), "c"))
    rects = segments(root)
    assert [rect.find(SVG + "title").text for rect in rects] == [
        "a: Succeeded 3",
        "a: Failed 1",
        "b: Succeeded 1",
    ]
    heights = [float(rect.get("height")) for rect in rects]
    assert heights[0] == pytest.approx(3 * heights[1]) == pytest.approx(3 * heights[2])
    # Stacked: the failed part sits right on top of the succeeded one.
    a_ok, a_bad = rects[0], rects[1]
    assert float(a_bad.get("y")) + float(a_bad.get("height")) == pytest.approx(float(a_ok.get("y")))
    # Colours are the caller's CSS values (custom properties), not fixed fills.
    assert "var(--ok, green)" in a_ok.get("style")
    assert "var(--bad, red)" in a_bad.get("style")
    assert root.get("fill") == "currentColor"


def test_an_empty_chart_says_so():
    root = parsed(stacked_bars(chart([Bar("a", [0, 0])] * 24), "c"))
    assert segments(root) == []
    assert "No tries" in texts(root)
    assert "No tries" not in texts(parsed(stacked_bars(chart([Bar("a", [1, 0])]), "c")))


def test_every_text_is_escaped():
    hostile = '<script>alert("x")</script> & "quotes"'
    svg = stacked_bars(
        chart(
            [Bar(hostile, [1, 1], hostile)],
            title=hostile,
            series=[Series(hostile, "red"), Series("b", "blue")],
        ),
        'id"><script>',
    )
    root = parsed(svg)
    assert "<script>" not in svg
    assert root.find(SVG + "title").text == hostile
    assert hostile in texts(root)


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (45, [0, 20, 40, 60]),
        (100, [0, 50, 100]),
        (12345, [0, 5000, 10000, 15000]),
    ],
)
def test_ticks_are_round_numbers(largest, ticks):
    assert nice_ticks(largest) == ticks
