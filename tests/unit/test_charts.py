"""web/charts.py: inline SVG line charts (pure functions, parsed back as XML)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

from markupsafe import Markup

from web.charts import line_chart, month_axis, period_bar

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: Markup) -> ET.Element:
    return ET.fromstring(str(markup))


def floats(points_attr: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points_attr.split())]


POINTS = [
    (date(2023, 5, 10), 6.1),
    (date(2021, 5, 12), 5.6),  # out of order on purpose: the chart sorts by date
    (date(2025, 5, 10), 7.7),
    (date(2022, 5, 11), 5.9),
]


def test_points_make_a_line_with_markers_and_end_labels() -> None:
    svg = parse(line_chart(POINTS, unit="%", label="HbA1c"))
    assert svg.get("role") == "img"
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text == "HbA1c: 2021/05/12: 5.6 % → 2025/05/10: 7.7 %"
    assert svg.get("aria-label") == title.text
    line = svg.find(f"{SVG}polyline")
    assert line is not None
    coords = floats(line.get("points", ""))
    assert len(coords) == 4
    xs = [x for x, _ in coords]
    assert xs == sorted(xs) and xs[0] < xs[-1]  # time runs left to right
    ys = [y for _, y in coords]
    assert ys[-1] < ys[0]  # the highest value is drawn highest (smallest y)
    width, height = int(svg.get("width", "0")), int(svg.get("height", "0"))
    assert all(0 <= x <= width and 0 <= y <= height for x, y in coords)
    markers = svg.findall(f"{SVG}circle")
    assert len(markers) == 4
    assert [m.findtext(f"{SVG}title") for m in markers][0] == "2021/05/12: 5.6 %"
    labels = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-value"]
    assert labels == ["5.6", "7.7"]  # first and last value only
    # the axes: a date under the points (one a year here) and the value scale on the left
    dates = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-date"]
    assert dates == ["2021", "2022", "2023", "2025"]
    ticks = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-tick"]
    assert ticks == ["5.6", "7.7"]  # without a reference range: the lowest and highest value
    assert [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-unit"] == ["%"]
    assert len(svg.findall(f"{SVG}line")) == 2
    assert svg.find(f"{SVG}rect") is None  # no reference given, no band


def test_reference_band_and_points_outside_it() -> None:
    svg = parse(line_chart(POINTS, unit="%", reference=(None, 5.5), label="HbA1c"))
    band = svg.find(f"{SVG}rect")
    assert band is not None and band.get("class") == "chart-band"
    top, height = float(band.get("y", "0")), float(band.get("height", "0"))
    # open below: the band reaches the bottom of the drawing, its top is the 5.5 line
    line = floats(svg.find(f"{SVG}polyline").get("points", ""))  # type: ignore[union-attr]
    assert all(y < top for _, y in line)  # every value is above 5.5
    assert top + height > max(y for _, y in line)
    classes = [c.get("class") for c in svg.findall(f"{SVG}circle")]
    assert classes == ["chart-point out"] * 4

    ticks = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-tick"]
    assert ticks == ["5.5"]  # the scale names the reference bound
    both = parse(line_chart(POINTS, unit="%", reference=(5.0, 6.0)))
    band = both.find(f"{SVG}rect")
    assert band is not None
    marked = [c.get("class") for c in both.findall(f"{SVG}circle")]
    assert marked == ["chart-point", "chart-point", "chart-point out", "chart-point out"]


def test_single_point_is_one_marker_without_a_line() -> None:
    svg = parse(line_chart([(date(2025, 5, 10), 120.0)], unit="mmHg", width=200))
    assert svg.find(f"{SVG}polyline") is None
    (marker,) = svg.findall(f"{SVG}circle")
    date_label = next(t for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-date")
    assert float(marker.get("cx", "0")) == float(date_label.get("x", "0"))  # over its date
    assert date_label.text == "2025"
    assert [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-value"] == ["120"]
    assert svg.findtext(f"{SVG}title") == "2025/05/10: 120 mmHg"


def test_no_points_is_empty_markup() -> None:
    empty = line_chart([], unit="mg/dL", reference=(30.0, 149.0), label="TG")
    assert isinstance(empty, Markup) and str(empty) == ""


def test_equal_values_still_draw_inside_the_box() -> None:
    svg = parse(line_chart([(date(2024, 1, 1), 5.0), (date(2025, 1, 1), 5.0)], unit=""))
    coords = floats(svg.find(f"{SVG}polyline").get("points", ""))  # type: ignore[union-attr]
    assert coords[0][1] == coords[1][1]
    assert all(0 < y < 90 for _, y in coords)


def test_dates_in_one_year_show_the_month() -> None:
    svg = parse(line_chart([(date(2025, 1, 10), 1.0), (date(2025, 11, 10), 2.0)], unit=""))
    dates = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "chart-date"]
    assert dates == ["2025/01", "2025/11"]


def test_period_bar_and_month_axis() -> None:
    first, last = date(2024, 1, 15), date(2025, 12, 3)
    bar = parse(period_bar([(date(2024, 1, 1), date(2024, 1, 31))], first, last, label="薬A"))
    (rect,) = bar.findall(f"{SVG}rect")
    width = float(bar.get("width", "0"))
    # January of the first year is 1/24 of two years, at the left edge
    assert float(rect.get("x", "1")) == 0.0
    assert abs(float(rect.get("width", "0")) - width / 24) < width / 365
    assert bar.findtext(f"{SVG}title") == "薬A: 2024/01/01–2024/01/31"
    assert len(bar.findall(f"{SVG}line")) == 2  # a line at each January
    axis = parse(month_axis(first, last, "ja"))
    years = [t.text for t in axis.findall(f"{SVG}text") if t.get("class") == "chart-year"]
    assert years == ["2024年", "2025年"]
    english = parse(month_axis(first, last, "en"))
    assert [t.text for t in english.findall(f"{SVG}text") if t.get("class") == "chart-year"] == [
        "2024",
        "2025",
    ]


def test_all_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    markup = line_chart(
        [(date(2024, 1, 1), 1.0), (date(2025, 1, 1), 2.0)], unit=hostile, label=hostile
    )
    assert "<script>" not in str(markup)
    svg = parse(markup)  # still well-formed XML
    assert hostile in (svg.findtext(f"{SVG}title") or "")
    assert hostile in (svg.get("aria-label") or "")
    # markup is safe to embed as is: escaping it again changes nothing
    assert Markup.escape(markup) == markup
    assert not re.search(r"\bon\w+=", str(markup))  # no event handler attributes
