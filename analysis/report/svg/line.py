"""Line (and step / marker) charts of one or more series sharing both axes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agentload.analysis.report.svg.axes import (
    PALETTE,
    Frame,
    axes,
    legend,
    legend_rows,
    make_frame,
    svg,
)

MAX_POINTS = 2000


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    step: bool = False  # draw as a step function (value holds until the next x)
    markers: bool = False
    dashed: bool = False
    color: str | None = None


def _finite(series: Series) -> list[tuple[float, float]]:
    pts = [
        (float(x), float(y))
        for x, y in zip(series.xs, series.ys, strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    if len(pts) > MAX_POINTS:  # thin evenly; keep the last point so curves end right
        stride = math.ceil(len(pts) / MAX_POINTS)
        pts = [*pts[::stride], pts[-1]]
    return pts


def _path(frame: Frame, pts: list[tuple[float, float]], step: bool) -> str:
    parts: list[str] = []
    prev_y: float | None = None
    for i, (x, y) in enumerate(pts):
        px, py = frame.x(x), frame.y(y)
        if i == 0:
            parts.append(f"M{px:.1f},{py:.1f}")
        elif step and prev_y is not None:
            parts.append(f"H{px:.1f}V{py:.1f}")
        else:
            parts.append(f"L{px:.1f},{py:.1f}")
        prev_y = py
    return "".join(parts)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    y_from_zero: bool = True,
    x_log: bool = False,
) -> str | None:
    """An SVG line chart, or None when no series has a finite point (nothing to draw).
    `x_log`: the xs are log10 of the data (ticks are labelled with the data's values)."""
    cleaned = [(s, _finite(s)) for s in series]
    cleaned = [(s, pts) for s, pts in cleaned if pts]
    if not cleaned:
        return None
    xs = [x for _, pts in cleaned for x, _ in pts]
    ys = [y for _, pts in cleaned for _, y in pts]
    rows = legend_rows([s.label for s, _ in cleaned])
    frame = make_frame(xs, ys, y_from_zero=y_from_zero, x_log=x_log, legend_rows=rows)
    body = axes(frame, xlabel, ylabel)
    labels: list[tuple[str, str]] = []
    for i, (s, pts) in enumerate(cleaned):
        color = s.color or PALETTE[i % len(PALETTE)]
        labels.append((s.label, color))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        tip = f"<title>{escape(s.label)}</title>"
        if len(pts) > 1 or not s.markers:
            body.append(
                f'<path class="data" d="{_path(frame, pts, s.step)}" fill="none" '
                f'stroke="{color}" stroke-width="1.8"{dash}>{tip}</path>'
            )
        if s.markers or len(pts) == 1:
            for x, y in pts[:400]:
                body.append(
                    f'<circle class="data" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" '
                    f'fill="{color}"><title>{escape(s.label)}: ({x:.4g}, {y:.4g})</title>'
                    "</circle>"
                )
    body += legend(labels, frame)
    return svg(frame, body, title)
