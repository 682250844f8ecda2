"""Pareto fronts of sweep points: throughput (higher is better) against a latency (lower is
better). A point is on the front when no other point has throughput >= and latency <=
with at least one strict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agentload.analysis.report.svg.axes import PALETTE, axes, legend, make_frame, svg


@dataclass(frozen=True)
class Point:
    label: str
    throughput: float | None
    latency: float | None


def front(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points with both values, sorted by latency."""
    known = [p for p in points if p.throughput is not None and p.latency is not None]
    out = []
    for p in known:
        assert p.throughput is not None and p.latency is not None
        dominated = any(
            q is not p
            and q.throughput is not None
            and q.latency is not None
            and q.throughput >= p.throughput
            and q.latency <= p.latency
            and (q.throughput > p.throughput or q.latency < p.latency)
            for q in known
        )
        if not dominated:
            out.append(p)
    return sorted(out, key=lambda p: (p.latency, p.label))


def pareto_chart(points: Sequence[Point], *, title: str, xlabel: str) -> str | None:
    """Every point (labelled) and the front as a line; None without any complete point."""
    known = [p for p in points if p.throughput is not None and p.latency is not None]
    if not known:
        return None
    xs = [float(p.latency or 0.0) for p in known]
    ys = [float(p.throughput or 0.0) for p in known]
    frame = make_frame(xs, ys)
    body = axes(frame, xlabel, "completion tokens / s")
    best = front(known)
    if len(best) > 1:
        coords = [(frame.x(p.latency or 0), frame.y(p.throughput or 0)) for p in best]
        path = "".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords)
        )
        body.append(
            f'<path class="data" d="{path}" fill="none" stroke="{PALETTE[1]}" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
    on_front = {id(p) for p in best}
    placed: dict[tuple[int, int], list[str]] = {}  # points drawn on one pixel share a label
    for p, x, y in zip(known, xs, ys, strict=True):
        color = PALETTE[1] if id(p) in on_front else PALETTE[0]
        px, py = frame.x(x), frame.y(y)
        body.append(
            f'<circle class="data" cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}">'
            f"<title>{escape(p.label)}: {y:.4g} tok/s, {x:.4g}</title></circle>"
        )
        placed.setdefault((round(px), round(py)), []).append(p.label)
    for (px, py), names in placed.items():
        # labels of points in the right half sit on their left, so none passes the edge
        anchor, dx = ("end", -6) if px > frame.width / 2 else ("start", 6)
        body.append(
            f'<text class="tick" x="{px + dx}" y="{py - 6}" '
            f'text-anchor="{anchor}">{escape(", ".join(names))}</text>'
        )
    body += legend([("point", PALETTE[0]), ("Pareto front", PALETTE[1])], frame)
    return svg(frame, body, title)
