"""Small inline SVG charts for the clinical pages.

`line_chart`: values of one checkup item over the years, time running left to right (oldest
first, as the checkup table's columns do), with a date axis below, the value axis on the left
and the reference range shaded. `period_bar` and `month_axis`: one medicine's periods on a
shared time axis, the condensed drug timeline.

Pure functions returning escaped markup, so a page can embed them without inline script or
style (the CSP forbids both); colours come from classes in clinical.css, and every chart names
itself (role="img" with a <title>) so a screen reader says what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

PAD_LEFT = 38  # room for the value axis labels
PAD_RIGHT = 22  # room for the last value label
PAD_TOP = 16  # room for a value label above a point
PAD_BOTTOM = 18  # room for the date labels
DATE_GAP = 46  # the least distance between two date labels (px)


def line_chart(
    points: Sequence[tuple[date, float]],
    *,
    unit: str,
    reference: tuple[float | None, float | None] | None = None,
    width: int = 300,
    height: int = 120,
    label: str = "",
) -> Markup:
    """A line over time with point markers, the reference band shaded, first/last values shown,
    dates along the bottom and the value scale on the left."""
    if not points:
        return Markup("")
    ordered = sorted(points, key=lambda p: p[0])
    low, high = reference if reference is not None else (None, None)
    scale = _Scale(ordered, low, high, width, height)

    parts: list[str] = []
    title = _title(ordered, unit, label)
    parts.append(
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    )
    parts.append(f"<title>{escape(title)}</title>")
    if low is not None or high is not None:
        top = scale.y(high) if high is not None else PAD_TOP / 2
        bottom = scale.y(low) if low is not None else height - PAD_BOTTOM
        parts.append(
            f'<rect class="chart-band" x="{PAD_LEFT:.1f}" y="{top:.1f}" '
            f'width="{width - PAD_LEFT - PAD_RIGHT / 2:.1f}" '
            f'height="{max(bottom - top, 1.0):.1f}"/>'
        )
    parts.extend(_axes(scale, ordered, low, high, unit, width, height))
    coords = [(scale.x(day), scale.y(value)) for day, value in ordered]
    if len(coords) > 1:
        joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline class="chart-line" fill="none" points="{joined}"/>')
    for (day, value), (x, y) in zip(ordered, coords, strict=True):
        out = _outside(value, low, high)
        css = "chart-point out" if out else "chart-point"
        parts.append(
            f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="{4 if out else 3}">'
            f"<title>{escape(_point_text(day, value, unit))}</title></circle>"
        )
    parts.append(_value_label(coords[0], ordered[0][1]))
    if len(coords) > 1:
        parts.append(_value_label(coords[-1], ordered[-1][1]))
    parts.append("</svg>")
    return Markup("".join(parts))


def _axes(
    scale: _Scale,
    ordered: Sequence[tuple[date, float]],
    low: float | None,
    high: float | None,
    unit: str,
    width: int,
    height: int,
) -> list[str]:
    """The two axis lines, the dates below (as many as fit) and the value scale on the left."""
    base = height - PAD_BOTTOM
    parts = [
        f'<line class="chart-axis" x1="{PAD_LEFT}" y1="{PAD_TOP / 2:.1f}" x2="{PAD_LEFT}" '
        f'y2="{base}"/>',
        f'<line class="chart-axis" x1="{PAD_LEFT}" y1="{base}" x2="{width - PAD_RIGHT / 2:.1f}" '
        f'y2="{base}"/>',
    ]
    same_year = len({day.year for day, _ in ordered}) < len(ordered)
    last_x: float | None = None
    for day, _ in ordered:
        x = scale.x(day)
        if last_x is not None and x - last_x < DATE_GAP:
            continue
        shown = f"{day:%Y/%m}" if same_year else f"{day.year}"
        parts.append(
            f'<text class="chart-date" x="{x:.1f}" y="{height - 4}" '
            f'text-anchor="middle">{shown}</text>'
        )
        last_x = x
    ticks = sorted({b for b in (low, high) if b is not None}) or sorted(
        {min(v for _, v in ordered), max(v for _, v in ordered)}
    )
    for value in ticks:
        y = scale.y(value)
        parts.append(
            f'<text class="chart-tick" x="{PAD_LEFT - 4}" y="{y + 3:.1f}" '
            f'text-anchor="end">{escape(number_text(value))}</text>'
        )
    if unit:
        parts.append(f'<text class="chart-unit" x="2" y="9">{escape(unit)}</text>')
    return parts


class _Scale:
    """Maps dates to x and values to y inside the padded drawing area."""

    def __init__(
        self,
        points: Sequence[tuple[date, float]],
        low: float | None,
        high: float | None,
        width: int,
        height: int,
    ) -> None:
        values = [v for _, v in points] + [b for b in (low, high) if b is not None]
        lo, hi = min(values), max(values)
        if hi - lo < 1e-9:
            lo, hi = lo - 1.0, hi + 1.0
        margin = (hi - lo) * 0.08
        self._lo, self._hi = lo - margin, hi + margin
        self._first = points[0][0].toordinal()
        self._span = points[-1][0].toordinal() - self._first
        self._width, self._height = width, height

    def x(self, day: date) -> float:
        inner = self._width - PAD_LEFT - 2 * PAD_RIGHT
        if self._span == 0:
            return PAD_LEFT + inner / 2 + PAD_RIGHT / 2
        return PAD_LEFT + PAD_RIGHT / 2 + inner * (day.toordinal() - self._first) / self._span

    def y(self, value: float) -> float:
        inner = self._height - PAD_TOP - PAD_BOTTOM - 4
        clamped = min(max(value, self._lo), self._hi)
        return PAD_TOP + inner * (self._hi - clamped) / (self._hi - self._lo)


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def number_text(value: float) -> str:
    """5.80 → "5.8", 120.0 → "120": values as a person writes them."""
    return f"{value:.10g}"


def _point_text(day: date, value: float, unit: str) -> str:
    return f"{day:%Y/%m/%d}: {number_text(value)} {unit}".rstrip()


def _title(points: Sequence[tuple[date, float]], unit: str, label: str) -> str:
    first_day, first_value = points[0]
    last_day, last_value = points[-1]
    span = _point_text(first_day, first_value, unit)
    if len(points) > 1:
        span += " → " + _point_text(last_day, last_value, unit)
    return f"{label}: {span}" if label else span


def _value_label(point: tuple[float, float], value: float) -> str:
    # Centred above its point; the side paddings keep a label of a few characters inside.
    x, y = point
    return (
        f'<text class="chart-value" x="{x:.1f}" y="{max(y - 6, 10):.1f}" '
        f'text-anchor="middle">{escape(number_text(value))}</text>'
    )


# -- the condensed drug timeline ---------------------------------------------------------------
BAR_WIDTH = 560
BAR_HEIGHT = 18


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


class _TimeScale:
    """Maps days between the first day of `first`'s month and the end of `last`'s month to x."""

    def __init__(self, first: date, last: date, width: int) -> None:
        start = _month_index(first)
        end = _month_index(last) + 1
        self.start = date(start // 12, start % 12 + 1, 1)
        self.end = date(end // 12, end % 12 + 1, 1)  # exclusive
        self.width = width

    def x(self, day: date) -> float:
        span = (self.end - self.start).days
        offset = min(max((day - self.start).days, 0), span)
        return self.width * offset / span


def period_bar(
    periods: Sequence[tuple[date, date]],
    first: date,
    last: date,
    *,
    label: str,
    current: bool = False,
    width: int = BAR_WIDTH,
    height: int = BAR_HEIGHT,
) -> Markup:
    """One medicine's periods (first day, last day, both included) as bars on the time axis
    from `first`'s month to `last`'s month; `current` marks the bars as still taken."""
    scale = _TimeScale(first, last, width)
    spans = "; ".join(_span_text(a, b) for a, b in periods)
    title = f"{label}: {spans}" if label else spans
    parts = [
        f'<svg class="period-bar" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for index in range(_month_index(scale.start), _month_index(scale.end)):
        if index % 12 == 0:  # a faint line at each new year
            x = scale.x(date(index // 12, 1, 1))
            parts.append(
                f'<line class="period-year" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}"/>'
            )
    css = "period current" if current else "period"
    for begin, end in periods:
        x0 = scale.x(begin)
        x1 = scale.x(end + _ONE_DAY)
        parts.append(
            f'<rect class="{css}" x="{x0:.1f}" y="3" width="{max(x1 - x0, 2.0):.1f}" '
            f'height="{height - 6}" rx="2"><title>{escape(_span_text(begin, end))}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def month_axis(first: date, last: date, lang: str, *, width: int = BAR_WIDTH) -> Markup:
    """The axis above the period bars: a tick per month, the year at each January (and at the
    start when no January is near), the month number every third month."""
    scale = _TimeScale(first, last, width)
    height = 30
    parts = [
        f'<svg class="month-axis" aria-hidden="true" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<line class="chart-axis" x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}"/>',
    ]
    start = _month_index(scale.start)
    for index in range(start, _month_index(scale.end)):
        year, month = index // 12, index % 12 + 1
        x = scale.x(date(year, month, 1))
        # the year at each January, and at the start unless a January follows within 3 months
        tall = month == 1 or (index == start and month <= 9)
        parts.append(
            f'<line class="chart-axis" x1="{x:.1f}" y1="{height - (10 if tall else 5)}" '
            f'x2="{x:.1f}" y2="{height - 1}"/>'
        )
        if tall:
            shown = f"{year}" if lang == "en" else f"{year}年"
            parts.append(f'<text class="chart-year" x="{x + 2:.1f}" y="10">{shown}</text>')
        if month in (1, 4, 7, 10):
            shown = f"{month}" if lang == "en" else f"{month}月"
            parts.append(f'<text class="chart-date" x="{x + 2:.1f}" y="20">{shown}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


_ONE_DAY = timedelta(days=1)


def _span_text(begin: date, end: date) -> str:
    return f"{begin:%Y/%m/%d}" if begin == end else f"{begin:%Y/%m/%d}–{end:%Y/%m/%d}"
