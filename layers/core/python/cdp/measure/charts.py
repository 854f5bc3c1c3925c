"""Inline SVG charts drawn in Python (no script, no font file, no external reference): bars, an interval plot,
lines over time and a heatmap. Every text is escaped; every chart scales to its container through its viewBox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563")
INK, MUTED, GRID = "#111827", "#6b7280", "#e5e7eb"
Format = Callable[[float], str]


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, anchor: str = "start", size: int = 12, fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}">{escape(content)}</text>')  # fmt: skip


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<title>{escape(label)}</title>{"".join(body)}</svg>')  # fmt: skip


def bars(items: Sequence[tuple[str, float, str]], label: str, width: int = 520, scale_to: float | None = None) -> str:
    """Horizontal bars: (name, value, value as shown), longest = the largest value (or `scale_to`)."""
    row, left, right = 26, 150, 90
    top = max([scale_to or 0.0, *(value for _, value, _ in items)]) or 1.0
    body = []
    for index, (name, value, shown) in enumerate(items):
        y = index * row + 4
        length = (width - left - right) * max(0.0, value) / top
        body.append(_text(left - 8, y + 14, name, "end"))
        body.append(f'<rect x="{left}" y="{y}" width="{max(length, 1):.1f}" height="{row - 8}" rx="3" '
                    f'fill="{PALETTE[index % len(PALETTE)]}"/>')  # fmt: skip
        body.append(_text(left + length + 6, y + 14, shown, fill=MUTED))
    return _svg(width, len(items) * row + 8, body, label)


def intervals(items: Sequence[tuple[str, float, tuple[float, float] | None, bool]], label: str, shown: Format = percent,
              width: int = 620) -> str:
    """A point and its interval per row (name, estimate, (low, high), significant), with the zero line."""
    row, left, right = 30, 200, 20
    values = [0.0, *(estimate for _, estimate, _, _ in items)]
    values += [bound for _, _, interval, _ in items if interval for bound in interval]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 0.01
    low, high = low - pad, high + pad
    height = len(items) * row + 30

    def x(value: float) -> float:
        return left + (width - left - right) * (value - low) / (high - low)

    body = [f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{height - 24}" stroke="{MUTED}" stroke-dasharray="4 3"/>',
            _text(x(0), height - 8, "0", "middle", 11, MUTED), _text(left, height - 8, shown(low), "start", 11, MUTED),
            _text(width - right, height - 8, shown(high), "end", 11, MUTED)]  # fmt: skip
    for index, (name, estimate, interval, significant) in enumerate(items):
        y = index * row + row / 2
        colour = PALETTE[1] if significant else PALETTE[0]
        body.append(_text(left - 10, y + 4, name, "end"))
        if interval:
            body.append(f'<line x1="{x(interval[0]):.1f}" y1="{y:.1f}" x2="{x(interval[1]):.1f}" y2="{y:.1f}" '
                        f'stroke="{colour}" stroke-width="3" stroke-linecap="round"/>')  # fmt: skip
        body.append(f'<circle cx="{x(estimate):.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>')
    return _svg(width, height, body, label)


def lines(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], label: str,
          shown: Format = number, width: int = 620, height: int = 240) -> str:
    """Lines over `labels` (x), one per series (name, values; None leaves a gap), with a legend."""
    left, right, top, bottom = 56, 16, 12, 56
    values = [value for _, points in series for value in points if value is not None] or [0.0]
    low, high = min(0.0, min(values)), max(values) or 1.0
    plot_width, plot_height = width - left - right, height - top - bottom

    def x(index: int) -> float:
        return left + plot_width * (index / max(1, len(labels) - 1))

    def y(value: float) -> float:
        return top + plot_height * (1 - (value - low) / (high - low or 1))

    body = []
    for step in range(5):
        tick = low + (high - low) * step / 4
        body.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y(tick) + 4, shown(tick), "end", 10, MUTED))
    for index in range(0, len(labels), max(1, (len(labels) + 7) // 8)):
        body.append(_text(x(index), height - bottom + 16, labels[index], "middle", 10, MUTED))
    for number_, (name, points) in enumerate(series):
        colour = PALETTE[number_ % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for index, point in enumerate(points):
            if point is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(index):.1f},{y(point):.1f}")
        for segment in segments:
            if len(segment) > 1:
                body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(segment)}"/>')
            for position in segment:
                cx, cy = position.split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        legend_x = left + (number_ % 4) * (plot_width / 4)
        legend_y = height - 22 + (number_ // 4) * 14
        body.append(f'<rect x="{legend_x:.1f}" y="{legend_y - 8:.1f}" width="10" height="10" fill="{colour}"/>')
        body.append(_text(legend_x + 14, legend_y + 1, name, size=10))
    rows_of_legend = (len(series) + 3) // 4
    return _svg(width, height + max(0, rows_of_legend - 1) * 14, body, label)


def heatmap(rows: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[float | None]], label: str,
            shown: Format = percent, scale_to: float | None = None, cell: int = 46) -> str:
    """A grid of cells shaded by value (None: empty), rows and columns named."""
    left, top = 150, 90
    top_value = scale_to or max([value for line in cells for value in line if value is not None] or [1.0]) or 1.0
    width, height = left + len(columns) * cell + 60, top + len(rows) * cell + 8  # room for the last slanted name
    body = []
    for column_index, name in enumerate(columns):
        cx = left + column_index * cell + cell / 2
        body.append(f'<text x="{cx:.1f}" y="{top - 8}" font-size="11" fill="{MUTED}" '
                    f'transform="rotate(-40 {cx:.1f} {top - 8})">{escape(name)}</text>')  # fmt: skip
    for row_index, name in enumerate(rows):
        y = top + row_index * cell
        body.append(_text(left - 8, y + cell / 2 + 4, name, "end", 11))
        for column_index, value in enumerate(cells[row_index]):
            x = left + column_index * cell
            if value is None:
                body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#f9fafb"/>')
                continue
            strength = min(1.0, max(0.0, value / top_value))
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="2" '
                        f'fill="rgb({int(239 - 202 * strength)},{int(246 - 147 * strength)},{int(255 - 20 * strength)})"/>')  # fmt: skip
            body.append(_text(x + (cell - 2) / 2, y + cell / 2 + 3, shown(value), "middle", 10,
                              "#ffffff" if strength > 0.55 else INK))  # fmt: skip
    return _svg(width, height, body, label)
