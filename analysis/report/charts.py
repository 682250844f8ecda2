"""The report's charts, each built from a RunAnalysis; a chart without data becomes a note.

Every builder returns a `Chart` whose ``svg`` is None when there is nothing to draw, with
a ``note`` saying why, so the report never shows an empty plot.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import polars as pl

from agentload.analysis.report.svg.cdf import cdf_chart
from agentload.analysis.report.svg.lanes import Bar, lanes_chart
from agentload.analysis.report.svg.line import Series, line_chart
from agentload.analysis.requests import NS_PER_S, is_ok, measured
from agentload.analysis.run_analysis import RunAnalysis
from agentload.traceformat import schema as s

LANE_SESSIONS = 12
MAX_ENGINE_CHARTS = 8


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str | None
    note: str = ""


def _chart(key: str, title: str, svg: str | None, why: str) -> Chart:
    return Chart(key, title, svg, "" if svg is not None else f"Not drawn: {why}.")


def cumulative(a: RunAnalysis) -> Chart:
    title = "Cumulative completion tokens and steady-state fit"
    cum = a.cumulative
    series = [Series("completion tokens", cum["t_s"].to_list(), cum["cum_completion"].to_list())]
    tp = a.summary["throughput"]
    slope, lo, hi = tp["completion_tps_steady"], tp["steady_from_s"], tp["steady_to_s"]
    if slope is not None and cum.height and lo is not None and hi is not None:
        # the fit line passes through the mean point of the retained (t, C) pairs, over the
        # fitted span only (the admission window's last 80%: the drain is not fitted)
        kept = cum.filter(pl.col("t_s").is_between(lo, hi))
        tm, cm = kept["t_s"].mean(), kept["cum_completion"].mean()
        if isinstance(tm, float) and isinstance(cm, int | float):
            xs = [lo, hi]
            ys = [cm + slope * (x - tm) for x in xs]
            series.append(Series(f"steady state {slope:.4g} tok/s", xs, ys, dashed=True))
    svg = line_chart(series, title=title, xlabel="time (s)", ylabel="completion tokens")
    return _chart("cumulative", title, svg, "no successful request")


def throughput(a: RunAnalysis) -> list[Chart]:
    """Throughput over time, one panel per unit: completion tokens/s, prompt tokens/s
    (uncached and cached: their scale is tens of times the completions'), requests/s."""
    b = a.bins
    x = b["t_s"].to_list()
    panels = (
        ("throughput", "Completion tokens/s", "tokens / s", ("completion",)),
        ("throughput_prompt", "Prompt tokens/s", "tokens / s", ("uncached", "cached")),
        ("throughput_requests", "Requests/s (successful)", "requests / s", ("requests",)),
    )
    out = []
    for key, name, unit, kinds in panels:
        title = f"{name} over time ({a.bin_width_s:g} s bins)"
        label = {"uncached": "uncached prompt", "cached": "cached prompt"}
        series = [
            Series(f"{label.get(k, k)} {unit}", x, b[f"{k}_tps"].to_list(), step=True)
            for k in kinds
        ]
        produced = b.height and any(b[f"{k}_tps"].sum() for k in kinds)
        svg = line_chart(series, title=title, xlabel="time (s)", ylabel=unit)
        out.append(_chart(key, title, svg if produced else None, "no request produced any"))
    return out


def concurrency(a: RunAnalysis) -> Chart:
    """Sessions and requests by state over time: the aggregate view of the swim lanes,
    readable however many sessions ran."""
    title = "Concurrency over time: sessions and requests by state"
    c = a.concurrency
    x = c["t_s"].to_list()
    waiting = c["requests_in_flight"] - c["requests_streaming"]
    between = (c["sessions_active"] - c["requests_in_flight"]).clip(lower_bound=0)
    series = [
        Series("sessions active", x, c["sessions_active"].to_list(), step=True),
        Series("waiting for first token", x, waiting.to_list(), step=True),
        Series("streaming", x, c["requests_streaming"].to_list(), step=True),
        Series("between calls (tool wait)", x, between.to_list(), step=True, dashed=True),
    ]
    sent = a.requests[s.T_SENT_NS].is_not_null().any()
    svg = line_chart(series, title=title, xlabel="time (s)", ylabel="count") if sent else None
    return _chart("concurrency", title, svg, "no request was sent")


def distributions(a: RunAnalysis) -> list[Chart]:
    """CDFs on a log axis of TTFT, ITL, TPOT, E2E (per request) and session latency."""
    out = []
    for key, label, unit, values, why in (
        ("ttft", "TTFT", "ms", a.requests["ttft_ms"], "streamed tokens needed"),
        ("itl", "ITL", "ms", a.itl["itl_ms"], "streamed tokens needed"),
        ("tpot", "TPOT", "ms", a.requests["tpot_ms"], "two tokens or more needed"),
        ("e2e", "E2E request latency", "ms", a.requests["e2e_ms"], "no successful request"),
        ("session", "Session latency", "s", a.sessions["latency_s"], "no session completed"),
    ):
        title = f"{label} distribution (CDF)"
        svg = cdf_chart({label: values.drop_nulls().to_list()}, title=title, xlabel=f"{unit}")
        out.append(_chart(key, title, svg, f"no value ({why})"))
    return out


def ttft_by_turn(a: RunAnalysis) -> Chart:
    title = "TTFT by turn index"
    t = a.turns.filter(pl.col("ttft_p50_ms").is_not_null())
    x = t[s.CALL_INDEX].cast(pl.Float64).to_list()
    series = [
        Series(f"TTFT {p}", x, t[f"ttft_{p}_ms"].to_list(), markers=True)
        for p in ("p50", "p90", "p99")
    ]
    svg = line_chart(series, title=title, xlabel="turn (call index)", ylabel="TTFT (ms)")
    return _chart("ttft_turn", title, svg, "no successful request with a TTFT")


def cache_hit(a: RunAnalysis) -> Chart:
    title = "Prefix-cache hit over time"
    b = a.bins.filter(pl.col("cache_hit_rate").is_not_null())
    series = [
        Series("cached / prompt", b["t_s"].to_list(), b["cache_hit_rate"].to_list(), step=True)
    ]
    theory = a.summary["cache"]["theoretical_cache_hit_rate"]
    if theory is not None and b.height:
        ts = b["t_s"].to_list()
        xs = [float(ts[0]), float(ts[-1]) + a.bin_width_s]
        series.append(Series("theoretical (profile)", xs, [theory, theory], dashed=True))
    svg = line_chart(series, title=title, xlabel="time (s)", ylabel="hit rate")
    return _chart("cache", title, svg, "the server reported no prompt / cached token counts")


COUNTER_SUFFIXES = ("_total", "_count", "_sum")  # Prometheus: cumulative, drawn as rates
SKIPPED_SUFFIXES = ("_info", "_created")  # constant labels / creation timestamps


def _rate(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """A counter's per-second rate between consecutive samples, at the later one; a drop
    (the engine restarted its counter) yields no point."""
    pts = [
        (x1, (y1 - y0) / (x1 - x0))
        for x0, y0, x1, y1 in zip(xs, ys, xs[1:], ys[1:], strict=False)
        if x1 > x0 and y1 >= y0
    ]
    return [x for x, _ in pts], [y for _, y in pts]


def engine_metrics(a: RunAnalysis) -> list[Chart]:
    """One chart per scraped engine metric name (series per label set): gauges as
    scraped, counters (``*_total``, ``*_count``, ``*_sum``) as rates per second; info
    series (``*_info``, ``*_created``) are constant and left out."""
    samples = a.data.engine_metrics
    if not samples:
        return []
    t0 = measured(a.data.frame)[s.T_SENT_NS].min()
    base = float(t0) if isinstance(t0, int | float) else min(float(x["t_ns"]) for x in samples)
    by_name: dict[str, dict[str, tuple[list[float], list[float]]]] = defaultdict(dict)
    for sample in samples:
        name = str(sample.get("name", "?"))
        if name.endswith(SKIPPED_SUFFIXES):
            continue
        labels = sample.get("labels") or {}
        key = ",".join(f"{k}={v}" for k, v in sorted(dict(labels).items())) or "value"
        xs, ys = by_name[name].setdefault(key, ([], []))
        xs.append((float(sample["t_ns"]) - base) / NS_PER_S)
        ys.append(float(sample["value"]))
    out = []
    for name in sorted(by_name, key=_engine_priority)[:MAX_ENGINE_CHARTS]:
        counter = name.endswith(COUNTER_SUFFIXES)
        title = f"Engine: {name}" + (" (rate per second)" if counter else "")
        series = [
            Series(k, *(_rate(xs, ys) if counter else (xs, ys)))
            for k, (xs, ys) in sorted(by_name[name].items())
        ]
        ylabel = "per second" if counter else "value"
        svg = line_chart(series, title=title, xlabel="time (s)", ylabel=ylabel)
        out.append(_chart(f"engine_{name}", title, svg, "no finite samples"))
    return out


ENGINE_FIRST = ("kv_cache_usage", "num_requests_waiting", "num_requests_running", "prefix_cache")


def _engine_priority(name: str) -> tuple[int, str]:
    """KV usage and queue metrics first."""
    for rank, part in enumerate(ENGINE_FIRST):
        if part in name:
            return rank, name
    return len(ENGINE_FIRST), name


def swim_lanes(a: RunAnalysis) -> Chart:
    shown = min(LANE_SESSIONS, a.sessions.height)
    of = f"first {shown} of {a.sessions.height} sessions; all of them: Concurrency above"
    title = f"Swim lanes ({of if a.sessions.height > shown else f'{shown} sessions'})"
    rows = measured(a.data.frame).filter(pl.col(s.T_SENT_NS).is_not_null())
    t0 = rows[s.T_SENT_NS].min()
    sessions = a.sessions[s.SESSION_ID].head(LANE_SESSIONS).to_list()
    pick = rows.filter(pl.col(s.SESSION_ID).is_in(sessions))
    pick = pick.with_columns(
        ((pl.col(c) - t0) / NS_PER_S).alias(c) for c in (s.T_SENT_NS, s.T_FIRST_TOKEN_NS)
    ).with_columns(
        ((pl.coalesce(s.T_END_NS, s.T_FIRST_TOKEN_NS) - t0) / NS_PER_S).alias("end"),
        is_ok().alias("ok"),
    )
    bars = [
        Bar(
            lane=r[s.SESSION_ID],
            sent_s=r[s.T_SENT_NS],
            first_s=r[s.T_FIRST_TOKEN_NS],
            end_s=r["end"],
            ok=r["ok"],
            label=f"{r[s.SESSION_ID]} call {r[s.CALL_INDEX]} ({r[s.STATUS]})",
        )
        for r in pick.iter_rows(named=True)
        if r["end"] is not None
    ]
    svg = lanes_chart(bars, title=title)
    return _chart("lanes", title, svg, "no request finished")


def all_charts(a: RunAnalysis) -> list[Chart]:
    return [
        cumulative(a),
        *throughput(a),
        concurrency(a),
        *distributions(a),
        ttft_by_turn(a),
        cache_hit(a),
        *engine_metrics(a),
        swim_lanes(a),
    ]
