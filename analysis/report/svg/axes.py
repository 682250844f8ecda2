"""Shared SVG plumbing: linear scales, nice ticks, the plot frame with axes and legend.

Charts are plain SVG strings generated in Python so the HTML report needs no JavaScript
library and works offline. Every element that shows data carries class ``data`` (the
browser test counts them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 560
HEIGHT = 260
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 28
MARGIN_BOTTOM = 42
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def fmt(value: float) -> str:
    """Short tick label: 1.2k, 3.4M, 0.05."""
    mag = abs(value)
    if mag >= 1e9:
        return f"{value / 1e9:.3g}G"
    if mag >= 1e6:
        return f"{value / 1e6:.3g}M"
    if mag >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.4g}"


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks in log10 units covering [lo, hi]: every decade, with 2 and 5 between them
    when the range spans fewer than three decades."""
    first, last = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    steps = (1.0, 2.0, 5.0) if last - first < 3 else (1.0,)
    ticks = [d + math.log10(m) for d in range(first, last) for m in steps]
    ticks.append(float(last))
    # trim decades' inner ticks outside the data, keeping one tick either side of it
    below = [x for x in ticks if x <= lo]
    above = [x for x in ticks if x >= hi]
    return [x for x in ticks if (below and x >= below[-1]) and (above and x <= above[0])]


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    exp = math.floor(math.log10(raw))
    step = next(m * 10.0**exp for m in (1, 2, 5, 10) if m * 10.0**exp >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - step * 1e-9 or len(ticks) < 2:
        ticks.append(round(start + len(ticks) * step, 12))
    return ticks


@dataclass(frozen=True)
class Scale:
    """Maps a data interval onto a pixel interval."""

    lo: float
    hi: float
    px_lo: float
    px_hi: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.px_lo + (value - self.lo) / span * (self.px_hi - self.px_lo)


@dataclass(frozen=True)
class Frame:
    """A plot area with its two scales, built from the data ranges."""

    x: Scale
    y: Scale
    xticks: list[float]
    yticks: list[float]
    width: int = WIDTH
    height: int = HEIGHT
    x_log: bool = False  # x values are log10 of the data; ticks are labelled 10^x
    top: int = MARGIN_TOP  # the plot area's top: more when the legend takes several rows


def make_frame(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    y_from_zero: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
    x_log: bool = False,
    legend_rows: int = 1,
) -> Frame:
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = min(ys), max(ys)
    if y_from_zero:
        ylo = min(ylo, 0.0)
    xticks = log_ticks(xlo, xhi) if x_log else nice_ticks(xlo, xhi)
    yticks = nice_ticks(ylo, yhi)
    extra = LEGEND_ROW_PX * max(legend_rows - 1, 0)
    height += extra
    top = MARGIN_TOP + extra
    x = Scale(xticks[0], xticks[-1], MARGIN_LEFT, width - MARGIN_RIGHT)
    y = Scale(yticks[0], yticks[-1], height - MARGIN_BOTTOM, top)
    return Frame(x, y, xticks, yticks, width, height, x_log, top)


def axes(frame: Frame, xlabel: str, ylabel: str) -> list[str]:
    """Grid lines, tick labels and axis titles."""
    out: list[str] = []
    bottom, top = frame.height - MARGIN_BOTTOM, frame.top
    left, right = frame.x.px_lo, frame.width - MARGIN_RIGHT
    for t in frame.yticks:
        py = frame.y(t)
        out.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">')
        out.append(f"{fmt(t)}</text>")
    for t in frame.xticks:
        px = frame.x(t)
        out.append(f'<line class="grid" x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}"/>')
        out.append(f'<text class="tick" x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">')
        out.append(f"{fmt(10**t if frame.x_log else t)}</text>")
    out.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    mid_x = (left + right) / 2
    out.append(
        f'<text class="label" x="{mid_x:.1f}" y="{frame.height - 6}" '
        f'text-anchor="middle">{escape(xlabel)}</text>'
    )
    mid_y = (top + bottom) / 2
    out.append(
        f'<text class="label" transform="translate(14 {mid_y:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(ylabel)}</text>'
    )
    return out


CHAR_PX = 6.6  # width of an 11px system-ui character, generous (labels must fit)
LEGEND_ROW_PX = 14
MAX_LEGEND_ROWS = 3


def legend_layout(
    labels: Sequence[str], width: int = WIDTH, left: float = MARGIN_LEFT
) -> list[tuple[float, int]]:
    """(x, row) of each legend entry that fits, wrapping onto up to MAX_LEGEND_ROWS rows;
    entries past the last row are left out (the legend then says "+N more")."""
    out: list[tuple[float, int]] = []
    x, row = float(left), 0
    for label in labels:
        size = 16 + CHAR_PX * len(label)
        if x + size > width - 4 and x > left:
            x, row = float(left), row + 1
        if row >= MAX_LEGEND_ROWS or x + size > width - 4:
            break
        out.append((x, row))
        x += size + 12
    return out


def legend_rows(labels: Sequence[str], width: int = WIDTH) -> int:
    """Rows the legend takes, its "+N more" line included."""
    places = legend_layout(labels, width)
    rows = max((row for _, row in places), default=0) + 1
    return rows + (1 if len(places) < len(labels) else 0)


def legend(labels: Sequence[tuple[str, str]], frame: Frame, left: float = MARGIN_LEFT) -> list[str]:
    """The legend above the plot area: (label, color) pairs, wrapped onto rows."""
    out: list[str] = []
    places = legend_layout([label for label, _ in labels], frame.width, left)
    for (label, color), (x, row) in zip(labels, places, strict=False):
        y = 8 + LEGEND_ROW_PX * row
        out.append(f'<rect class="key" x="{x:.1f}" y="{y}" width="12" height="8" fill="{color}"/>')
        out.append(f'<text class="legend" x="{x + 16:.1f}" y="{y + 8}">{escape(label)}</text>')
    if len(places) < len(labels):
        x, row = places[-1] if places else (left, 0)
        y = 8 + LEGEND_ROW_PX * (row + 1)
        more = len(labels) - len(places)
        out.append(f'<text class="legend" x="{left:.1f}" y="{y + 8}">+{more} more</text>')
    return out


def svg(frame: Frame, body: list[str], title: str) -> str:
    """Wrap chart elements into a standalone <svg> element."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-label="{escape(title)}">' + "".join(body) + "</svg>"
    )
