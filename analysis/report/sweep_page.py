"""The sweep page: a table of load points (throughput, session latency, TTFAT, errors, which
Pareto fronts each is on), the comparison table, and the Pareto charts; also what `compare`
renders for several runs. Pure: summaries in, HTML out.

Throughput of a point = steady-state completion tokens/s, or the overall rate when the
steady state is undefined (too few requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


# (summary path, label, unit) of every latency a sweep is plotted against
LATENCIES = (
    (("latency", "ttft_ms", "p50"), "TTFT p50", "ms"),
    (("latency", "ttft_ms", "p99"), "TTFT p99", "ms"),
    (("latency", "itl_ms", "p50"), "ITL p50", "ms"),
    (("latency", "tpot_ms", "p50"), "TPOT p50", "ms"),
    (("latency", "tpot_ms", "p99"), "TPOT p99", "ms"),
    (("latency", "e2e_ms", "p50"), "E2E p50", "ms"),
    (("latency", "e2e_ms", "p99"), "E2E p99", "ms"),
    (("sessions", "latency_s", "p50"), "session latency p50", "s"),
    (("sessions", "latency_s", "p99"), "session latency p99", "s"),
    (("sessions", "ttfat_s", "p50"), "TTFAT p50", "s"),
)


def _latency(summary: Json, path: tuple[str, str, str]) -> float | None:
    group, metric, stat = path
    value = summary[group][metric].get(stat)
    return float(value) if isinstance(value, int | float) else None


def curves(labels: Sequence[str], summaries: Sequence[Json]) -> list[Chart]:
    """Throughput against every latency metric, the Pareto front marked."""
    charts = []
    for path, name, unit in LATENCIES:
        points = [
            Point(label, point_throughput(sm), _latency(sm, path))
            for label, sm in zip(labels, summaries, strict=True)
        ]
        title = f"Throughput vs {name}"
        svg = pareto_chart(points, title=title, xlabel=f"{name} ({unit})")
        note = "Not drawn: no point has both a throughput and this latency."
        key = "pareto_" + "_".join(path[1:])
        charts.append(Chart(key, title, svg, "" if svg else note))
    return charts


def sweep_page(
    labels: Sequence[str],
    summaries: Sequence[Json],
    title: str,
    extra: Sequence[Table] = (),
    warnings: Sequence[str] = (),
    reports: Mapping[str, str] | None = None,
) -> str:
    """The points table, the comparison, `extra` tables (compare's verdicts) and the
    throughput-latency charts, opened by `warnings`; `reports`: label -> the point's own
    report (a relative link)."""
    notes = [
        f"{label}: {n}" for label, sm in zip(labels, summaries, strict=True) for n in sm["notes"]
    ]
    return html.page(
        title=title,
        subtitle=", ".join(labels),
        notes=notes,
        tables=[points_table(labels, summaries), compare.comparison(labels, summaries), *extra],
        charts=curves(labels, summaries),
        warnings=warnings,
        links=[(f"report of {label}", href) for label, href in (reports or {}).items()],
    )
