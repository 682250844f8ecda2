"""Swim lanes: one row per session, one bar per request (waiting, then streaming)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agentload.analysis.report.svg.axes import (
    CHAR_PX,
    LEGEND_ROW_PX,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    WIDTH,
    Frame,
    Scale,
    axes,
    legend,
    legend_rows,
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


KEYS = (
    ("waiting for first token", WAIT_COLOR),
    ("streaming", STREAM_COLOR),
    ("failed", ERROR_COLOR),
)


def lanes_chart(bars: Sequence[Bar], *, title: str) -> str | None:
    """None when there is no finished request to draw. Lane labels are the full session
    ids: the plot area starts after the longest one (the chart widens to keep its plot
    area), so no label is cut."""
    if not bars:
        return None
    lanes = list(dict.fromkeys(b.lane for b in bars))
    left = max(MARGIN_LEFT, round(8 + CHAR_PX * max(len(lane) for lane in lanes)))
    width = WIDTH + left - MARGIN_LEFT
    extra = LEGEND_ROW_PX * (legend_rows([k for k, _ in KEYS], width) - 1)
    top = MARGIN_TOP + extra
    height = top + 8 + MARGIN_BOTTOM + LANE_PX * len(lanes)
    xticks = nice_ticks(min(b.sent_s for b in bars), max(b.end_s for b in bars))
    x = Scale(xticks[0], xticks[-1], left, width - MARGIN_RIGHT)
    y = Scale(0, len(lanes), top, height - MARGIN_BOTTOM)
    frame = Frame(x, y, xticks, [], width, height, top=top)
    body = axes(frame, "time since run start (s)", "")
    row = {lane: i for i, lane in enumerate(lanes)}
    for lane, i in row.items():
        body.append(
            f'<text class="tick" x="{left - 4}" y="{y(i + 0.75):.1f}" '
            f'text-anchor="end">{escape(lane)}</text>'
        )
    for b in bars:
        top_px = y(row[b.lane]) + 2
        split = b.first_s if b.first_s is not None else b.end_s
        segments = [(b.sent_s, split, WAIT_COLOR if b.ok else ERROR_COLOR)]
        if b.first_s is not None and b.ok:
            segments.append((b.first_s, b.end_s, STREAM_COLOR))
        for start, end, color in segments:
            w = max(x(end) - x(start), 0.8)
            body.append(
                f'<rect class="data" x="{x(start):.1f}" y="{top_px:.1f}" width="{w:.1f}" '
                f'height="{LANE_PX - 4}" fill="{color}"><title>{escape(b.label)}</title></rect>'
            )
    body += legend(list(KEYS), frame, left)
    return svg(frame, body, title)
