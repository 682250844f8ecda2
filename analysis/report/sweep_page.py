"""The sweep page: a table of load points (throughput, session latency, TTFAT, errors, which
Pareto fronts each is on), the comparison table, and the Pareto charts; also what `compare`
renders for several runs. Pure: summaries in, HTML out.

Throughput of a point = steady-state completion tokens/s, or the overall rate when the
steady state is undefined (too few requests).
"""

from __future__ import annotations

from collections.abc import Sequence

from agentload.analysis.report import compare, html
from agentload.analysis.report.charts import Chart
from agentload.analysis.report.pareto import Point, front, pareto_chart
from agentload.analysis.report.tables import Table, num
from agentload.analysis.run_analysis import Json


def point_throughput(summary: Json) -> float | None:
    tp = summary["throughput"]
    value = tp["completion_tps_steady"]
    return float(value) if value is not None else tp["completion_tps"]


def points_table(labels: Sequence[str], summaries: Sequence[Json]) -> Table:
    by_latency = _points(labels, summaries, "latency_s")
    by_ttfat = _points(labels, summaries, "ttfat_s")
    on_lat = {p.label for p in front(by_latency)}
    on_ttfat = {p.label for p in front(by_ttfat)}
    rows = []
    for label, sm in zip(labels, summaries, strict=True):
        sess = sm["sessions"]
        flags = [n for n, on in (("latency", label in on_lat), ("TTFAT", label in on_ttfat)) if on]
        rows.append(
            [
                label,
                num(point_throughput(sm)),
                num(sess["latency_s"]["p50"]),
                num(sess["latency_s"]["p90"]),
                num(sess["ttfat_s"]["p50"]),
                num(sm["latency"]["ttft_ms"]["p50"]),
                num(sm["requests"]["errors"]),
                ", ".join(flags) or "—",
            ]
        )
    headers = [
        "point",
        "tok/s",
        "session p50 s",
        "session p90 s",
        "TTFAT p50 s",
        "TTFT p50 ms",
        "errors",
        "Pareto front",
    ]
    return Table("Sweep points", headers, rows)


def _points(labels: Sequence[str], summaries: Sequence[Json], key: str) -> list[Point]:
    return [
        Point(label, point_throughput(sm), sm["sessions"][key]["p50"])
        for label, sm in zip(labels, summaries, strict=True)
    ]


def sweep_page(
    labels: Sequence[str],
    summaries: Sequence[Json],
    title: str,
    extra: Sequence[Table] = (),
    warnings: Sequence[str] = (),
) -> str:
    """The points table, the comparison, `extra` tables (compare's verdicts) and the
    Pareto charts, opened by `warnings`."""
    charts = []
    for key, name in (("latency_s", "session latency p50 (s)"), ("ttfat_s", "TTFAT p50 (s)")):
        chart_title = f"Pareto front: throughput vs {name}"
        svg = pareto_chart(_points(labels, summaries, key), title=chart_title, xlabel=name)
        note = "" if svg else "Not drawn: no point has both a throughput and this latency."
        charts.append(Chart(f"pareto_{key}", chart_title, svg, note))
    notes = [
        f"{label}: {n}" for label, sm in zip(labels, summaries, strict=True) for n in sm["notes"]
    ]
    return html.page(
        title=title,
        subtitle=", ".join(labels),
        notes=notes,
        tables=[points_table(labels, summaries), compare.comparison(labels, summaries), *extra],
        charts=charts,
        warnings=warnings,
    )
