"""Side-by-side comparison of runs: one row per metric, one column per run, and for every
run after the first its delta (run - first) and ratio (run / first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentload.analysis.report.tables import Table, num, pct
from agentload.analysis.run_analysis import Json

type Getter = Callable[[Json], Any]


@dataclass(frozen=True)
class Metric:
    label: str
    get: Getter
    better: str  # "higher" | "lower" | "" (neutral)
    percent: bool = False


def _path(*keys: str) -> Getter:
    def get(summary: Json) -> Any:
        value: Any = summary
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


METRICS: tuple[Metric, ...] = (
    Metric("completion tok/s (overall)", _path("throughput", "completion_tps"), "higher"),
    Metric("completion tok/s (steady)", _path("throughput", "completion_tps_steady"), "higher"),
    Metric("completion tok/s (last 30 s)", _path("throughput", "completion_tps_last30s"), "higher"),
    Metric("total tok/s (overall)", _path("throughput", "total_tps"), "higher"),
    Metric("requests/s (overall)", _path("throughput", "requests_tps"), "higher"),
    Metric("uncached prompt tok/s (overall)", _path("throughput", "uncached_tps"), "higher"),
    Metric("TTFT p50 (ms)", _path("latency", "ttft_ms", "p50"), "lower"),
    Metric("TTFT p95 (ms)", _path("latency", "ttft_ms", "p95"), "lower"),
    Metric("TTFT p99 (ms)", _path("latency", "ttft_ms", "p99"), "lower"),
    Metric("ITL p50 (ms)", _path("latency", "itl_ms", "p50"), "lower"),
    Metric("TPOT p50 (ms)", _path("latency", "tpot_ms", "p50"), "lower"),
    Metric("TPOT p95 (ms)", _path("latency", "tpot_ms", "p95"), "lower"),
    Metric("TPOT p99 (ms)", _path("latency", "tpot_ms", "p99"), "lower"),
    Metric("session latency p50 (s)", _path("sessions", "latency_s", "p50"), "lower"),
    Metric("session latency p90 (s)", _path("sessions", "latency_s", "p90"), "lower"),
    Metric("session latency p95 (s)", _path("sessions", "latency_s", "p95"), "lower"),
    Metric("session latency p99 (s)", _path("sessions", "latency_s", "p99"), "lower"),
    Metric("TTFAT p50 (s)", _path("sessions", "ttfat_s", "p50"), "lower"),
    Metric("cache hit", _path("cache", "cache_hit_rate"), "higher", percent=True),
    Metric("eligible cache hit", _path("cache", "eligible_cache_hit_rate"), "higher", percent=True),
    Metric("sessions completed", _path("sessions", "completed"), ""),
    Metric("requests", _path("requests", "measured"), ""),
    Metric("requests failed", _path("requests", "errors"), "lower"),
    Metric("good sessions / s", _path("goodput", "good_sessions_per_s"), "higher"),
    Metric("duration (s)", _path("throughput", "duration_s"), ""),
    Metric("schedule lag p99 (ms)", _path("diagnostics", "schedule_lag_ms", "p99"), "lower"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def delta_ratio(base: Any, other: Any) -> tuple[float | None, float | None]:
    """(other - base, other / base); None where undefined (missing value, base 0)."""
    a, b = _number(base), _number(other)
    if a is None or b is None:
        return None, None
    return b - a, (b / a if a != 0 else None)


def _show(metric: Metric, value: Any) -> str:
    return pct(value) if metric.percent else num(value)


def comparison(names: Sequence[str], summaries: Sequence[Json]) -> Table:
    """The comparison table; rows where every run lacks the metric are left out."""
    headers = ["metric", names[0]]
    for name in names[1:]:
        headers += [name, "Δ", "ratio"]
    rows = []
    for metric in METRICS:
        values = [metric.get(sm) for sm in summaries]
        if all(v is None for v in values):
            continue
        row = [metric.label + _arrow(metric), _show(metric, values[0])]
        for value in values[1:]:
            delta, ratio = delta_ratio(values[0], value)
            shown = None if delta is None else (delta * 100 if metric.percent else delta)
            suffix = " pp" if metric.percent and shown is not None else ""
            row += [_show(metric, value), _signed(shown) + suffix, _ratio(ratio)]
        rows.append(row)
    return Table("Comparison (Δ and ratio against " + names[0] + ")", headers, rows)


def _arrow(metric: Metric) -> str:
    return {"higher": " ↑", "lower": " ↓"}.get(metric.better, "")


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    text = num(abs(value))
    return ("+" if value >= 0 else "−") + text


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}×"


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short unique column names: file stems, made unique with their parent folder."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
