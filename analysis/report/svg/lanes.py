"""Swim lanes: one row per session, one bar per request (waiting, then streaming)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agentload.analysis.report.svg.axes import (
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    WIDTH,
    Frame,
    Scale,
    axes,
    nice_ticks,
    svg,
)

LANE_PX = 14
WAIT_COLOR = "#93c5fd"
STREAM_COLOR = "#1d4ed8"
ERROR_COLOR = "#dc2626"


@dataclass(frozen=True)
class Bar:
    """One request in seconds from the run start; first_s None when no token arrived."""

    lane: str
    sent_s: float
    first_s: float | None
    end_s: float
    ok: bool
    label: str


def lanes_chart(bars: Sequence[Bar], *, title: str) -> str | None:
    """None when there is no finished request to draw."""
    if not bars:
        return None
    lanes = list(dict.fromkeys(b.lane for b in bars))
    height = 36 + MARGIN_BOTTOM + LANE_PX * len(lanes)
    xticks = nice_ticks(min(b.sent_s for b in bars), max(b.end_s for b in bars))
    x = Scale(xticks[0], xticks[-1], MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = Scale(0, len(lanes), 28, height - MARGIN_BOTTOM)
    frame = Frame(x, y, xticks, [], WIDTH, height)
    body = axes(frame, "time since run start (s)", "")
    row = {lane: i for i, lane in enumerate(lanes)}
    for lane, i in row.items():
        body.append(
            f'<text class="tick" x="{MARGIN_LEFT - 4}" y="{y(i + 0.75):.1f}" '
            f'text-anchor="end">{escape(lane[-10:])}</text>'
        )
    for b in bars:
        top = y(row[b.lane]) + 2
        split = b.first_s if b.first_s is not None else b.end_s
        segments = [(b.sent_s, split, WAIT_COLOR if b.ok else ERROR_COLOR)]
        if b.first_s is not None and b.ok:
            segments.append((b.first_s, b.end_s, STREAM_COLOR))
        for start, end, color in segments:
            w = max(x(end) - x(start), 0.8)
            body.append(
                f'<rect class="data" x="{x(start):.1f}" y="{top:.1f}" width="{w:.1f}" '
                f'height="{LANE_PX - 4}" fill="{color}"><title>{escape(b.label)}</title></rect>'
            )
    return svg(frame, body, title)
