"""`agentload sweep`: replay one source at several load points, then compare them and draw
the Pareto fronts (throughput vs session latency p50, and vs TTFAT p50).

Throughput of a point = steady-state completion tokens/s, or the overall rate when the
steady state is undefined (too few requests).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from replay.analysis.goodput import Slo
from replay.analysis.run import Json, RunAnalysis, analyze_path
from replay.config import ReplayConfig
from replay.report import compare, html
from replay.report.charts import Chart
from replay.report.pareto import Point, front, pareto_chart
from replay.report.run_report import rich_table
from replay.report.tables import Table, num
from traceformat.errors import ConfigError

type Runner = Callable[[ReplayConfig], Path]


@dataclass(frozen=True)
class SweepConfig:
    """`base` holds every replay option; each point overrides the load and the output."""

    base: ReplayConfig
    out_dir: Path
    concurrencies: tuple[int, ...] = ()
    session_rates: tuple[float, ...] = ()
    html: Path | None = None
    slo: Slo | None = None
    # concurrency points admit ceil(c x this) sessions (None: base.max_sessions)
    sessions_per_slot: float | None = None
    title: str = "agentload sweep"

    def __post_init__(self) -> None:
        if bool(self.concurrencies) == bool(self.session_rates):
            raise ConfigError("sweep: give exactly one of --concurrency or --session-rates")
        for c in self.concurrencies:
            if c < 1:
                raise ConfigError(f"--concurrency: every value must be >= 1, got {c}")
        for r in self.session_rates:
            if not r > 0:
                raise ConfigError(f"--session-rates: every value must be > 0, got {r}")
        if self.sessions_per_slot is not None and not self.sessions_per_slot > 0:
            raise ConfigError(f"--sessions-per-slot: must be > 0, got {self.sessions_per_slot}")

    def points(self) -> list[tuple[str, ReplayConfig]]:
        out = []
        for c in self.concurrencies:
            label = f"c{c}"
            sessions = self.base.max_sessions
            if self.sessions_per_slot is not None:
                sessions = math.ceil(c * self.sessions_per_slot)
            cfg = dataclasses.replace(
                self.base,
                concurrency=c,
                session_rate=None,
                max_sessions=sessions,
                out=self.out_dir / f"{label}.arrow",
            )
            out.append((label, cfg))
        for r in self.session_rates:
            label = f"r{r:g}"
            cfg = dataclasses.replace(
                self.base, session_rate=r, concurrency=None, out=self.out_dir / f"{label}.arrow"
            )
            out.append((label, cfg))
        return out


def parse_list[T](text: str, kind: Callable[[str], T], option: str) -> tuple[T, ...]:
    """'8,16,32' -> (8, 16, 32); ConfigError naming the option on bad items."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"{option}: expected a comma-separated list, got {text!r}")
    try:
        return tuple(kind(x) for x in items)
    except ValueError:
        raise ConfigError(f"{option}: not a list of numbers: {text!r}") from None


@dataclass(frozen=True)
class SweepResult:
    labels: list[str]
    analyses: list[RunAnalysis]
    html: Path | None


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


def sweep_page(labels: Sequence[str], summaries: Sequence[Json], title: str) -> str:
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
        tables=[points_table(labels, summaries), compare.comparison(labels, summaries)],
        charts=charts,
    )


def run_sweep(
    config: SweepConfig, runner: Runner | None = None, console: Console | None = None
) -> SweepResult:
    """Run every point in order (each writes its result file), then compare them."""
    if runner is None:
        from replay.run import run_replay

        runner = run_replay
    console = console or Console()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    labels, analyses = [], []
    points = config.points()
    for i, (label, cfg) in enumerate(points, 1):
        with console.status(f"sweep point {label} ({i}/{len(points)}) -> {cfg.out}"):
            path = runner(cfg)
        analyses.append(analyze_path(path, slo=config.slo))
        labels.append(label)
        console.print(f"point {label}: {path}")
    summaries = [a.summary for a in analyses]
    console.print(rich_table(points_table(labels, summaries)))
    console.print(rich_table(compare.comparison(labels, summaries)))
    if config.html is not None:
        html.write(config.html, sweep_page(labels, summaries, config.title))
        console.print(f"HTML: {config.html}")
    return SweepResult(labels, analyses, config.html)
