"""Small inline SVG charts for the clinical pages: values of one checkup item over the years.

Pure functions returning escaped markup, so a page can embed them without inline script or
style (the CSP forbids both); colours come from classes in clinical.css, and every chart names
itself (role="img" with a <title>) so a screen reader says what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

PAD_X = 30  # room for the first/last value labels at the sides
PAD_TOP = 16  # room for a value label above a point
PAD_BOTTOM = 8


def line_chart(
    points: Sequence[tuple[date, float]],
    *,
    unit: str,
    reference: tuple[float | None, float | None] | None = None,
    width: int = 260,
    height: int = 90,
    label: str = "",
) -> Markup:
    """A line over time with point markers, the reference band shaded, first/last values shown."""
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
        bottom = scale.y(low) if low is not None else height - PAD_BOTTOM / 2
        parts.append(
            f'<rect class="chart-band" x="{PAD_X / 2:.1f}" y="{top:.1f}" '
            f'width="{width - PAD_X:.1f}" height="{max(bottom - top, 1.0):.1f}"/>'
        )
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
        inner = self._width - 2 * PAD_X
        if self._span == 0:
            return self._width / 2
        return PAD_X + inner * (day.toordinal() - self._first) / self._span

    def y(self, value: float) -> float:
        inner = self._height - PAD_TOP - PAD_BOTTOM
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
    # Centred above its point; PAD_X keeps a label of a few characters inside the drawing.
    x, y = point
    return (
        f'<text class="chart-value" x="{x:.1f}" y="{max(y - 6, 10):.1f}" '
        f'text-anchor="middle">{escape(number_text(value))}</text>'
    )
