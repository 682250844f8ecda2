"""Metrics over result files as polars expressions (definitions in docs/analysis.md)."""

from agentload.analysis.goodput import Slo, goodput, meets_slo, parse_slo
from agentload.analysis.requests import (
    e2e_ms,
    e2e_s,
    is_ok,
    itl_mean_ms,
    itl_samples,
    measured,
    request_metrics,
    schedule_lag_ms,
    tpot_ms,
    ttft_ms,
    ttft_s,
)
from agentload.analysis.run_analysis import RunAnalysis, RunData, analyze, analyze_path, load
from agentload.analysis.sessions import (
    cache_hit_rate,
    eligible_cache_hit_rate,
    eligible_tokens,
    last_token_ns,
    session_metrics,
    theoretical_cache_hit_rate,
    turn_metrics,
    with_eligible,
)
from agentload.analysis.throughput import cumulative_completion, throughput
from agentload.analysis.window import Window, run_window

__all__ = [
    "RunAnalysis",
    "RunData",
    "Slo",
    "Window",
    "analyze",
    "analyze_path",
    "cache_hit_rate",
    "cumulative_completion",
    "e2e_ms",
    "e2e_s",
    "eligible_cache_hit_rate",
    "eligible_tokens",
    "goodput",
    "is_ok",
    "itl_mean_ms",
    "itl_samples",
    "last_token_ns",
    "load",
    "measured",
    "meets_slo",
    "parse_slo",
    "request_metrics",
    "run_window",
    "schedule_lag_ms",
    "session_metrics",
    "theoretical_cache_hit_rate",
    "throughput",
    "tpot_ms",
    "ttft_ms",
    "ttft_s",
    "turn_metrics",
    "with_eligible",
]
