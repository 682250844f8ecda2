"""Per-run token throughput: overall, last 30 s and steady state.

Definitions (shared with docs/analysis.md):
- Run window: from the first send to the last response end over measured rows (warmup
  excluded, failed requests included); duration D = end - start.
- A successful request's tokens count at its end time (T_END_NS); failed requests count 0.
- Token kinds: completion, prompt, cached, uncached = prompt - cached (null cached = 0),
  total = prompt + completion; and requests: 1 per successful request (req/s).
- overall = sum of tokens / D.
- last 30 s = tokens of requests that ended in (end - 30 s, end] / min(30 s, D).
- steady state: over the fitting window [a, b] (`analysis.window`: the admission window,
  start to ``--duration`` or to the last session admission, never the drain; the whole run
  [start, end] when there is none), drop its first 20% (requests ending before
  a + 0.2 (b - a)) and those ending after b; sort the remaining successful requests by end
  time t_i (seconds) and let C_i be the running sum of their tokens; the rate is the
  ordinary least-squares slope cov(t, C) / var(t). Null with fewer than two distinct end
  times in the window.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from agentload.analysis.requests import NS_PER_S, F, is_ok, measured
from agentload.analysis.window import Window
from agentload.traceformat import schema as s

LAST_WINDOW_S = 30.0
WARM_FRACTION = 0.2
KINDS = ("completion", "prompt", "cached", "uncached", "total", "requests")

_T0 = "_t0_ns"
_T1 = "_t1_ns"


def token_columns() -> list[pl.Expr]:
    """A request's counts per kind as ``<kind>_tokens`` (0 for failed requests; the
    ``requests`` kind is 1 per successful request, so its rates are requests/s)."""
    prompt = pl.col(s.PROMPT_TOKENS).fill_null(0)
    cached = pl.col(s.CACHED_TOKENS).fill_null(0)
    completion = pl.col(s.COMPLETION_TOKENS).fill_null(0)
    values = {
        "completion": completion,
        "prompt": prompt,
        "cached": cached,
        "uncached": (prompt - cached).clip(lower_bound=0),
        "total": prompt + completion,
        "requests": pl.lit(1),
    }
    return [
        pl.when(is_ok()).then(v).otherwise(0).cast(pl.Int64).alias(f"{k}_tokens")
        for k, v in values.items()
    ]


def token_events(frame: F, by: str | None = None) -> F:
    """Measured rows with the run window (``_t0_ns``, ``_t1_ns``), the request end in
    seconds from the window start (``t_s``) and the token counts; only ended requests.
    `by`: a column grouping several runs in one frame (the bootstrap's replicates), each
    with its own window."""
    t0 = pl.col(s.T_SENT_NS).min()
    t1 = pl.max_horizontal(pl.col(s.T_END_NS).max(), pl.col(s.T_SENT_NS).max())
    if by is not None:
        t0, t1 = t0.over(by), t1.over(by)
    return (
        measured(frame)
        .with_columns(t0.alias(_T0), t1.alias(_T1), *token_columns())
        .filter(pl.col(s.T_END_NS).is_not_null())
        .with_columns(t_s=(pl.col(s.T_END_NS) - pl.col(_T0)).cast(pl.Float64) / NS_PER_S)
    )


def _slope(t: pl.Expr, y: pl.Expr) -> pl.Expr:
    var = t.var()
    return pl.when(var > 0).then(pl.cov(t, y) / var).otherwise(None)


def _seconds_from_t0(ns: int) -> pl.Expr:
    return (pl.lit(ns, pl.Int64) - pl.col(_T0)).cast(pl.Float64).first() / NS_PER_S


def throughput_aggregations(
    window: Window | None = None, kinds: Sequence[str] = KINDS
) -> list[pl.Expr]:
    """The aggregations of `throughput` over `token_events` rows (one run, or one group of
    a `group_by`): duration_s, steady_from_s, steady_to_s and the rates of `kinds`."""
    duration = ((pl.col(_T1) - pl.col(_T0)).cast(pl.Float64) / NS_PER_S).first()
    if window is None:
        lo, hi = pl.lit(0.0), duration
    else:
        lo, hi = _seconds_from_t0(window.start_ns), _seconds_from_t0(window.end_ns)
    cut_s = lo + (hi - lo) * WARM_FRACTION
    last_from = duration - LAST_WINDOW_S
    in_last = pl.col("t_s") > last_from
    in_steady = (pl.col("t_s") >= cut_s) & (pl.col("t_s") <= hi) & is_ok()
    t_steady = pl.col("t_s").filter(in_steady)
    order = pl.col("t_s").filter(in_steady).rank("ordinal")
    aggs: list[pl.Expr] = [
        duration.alias("duration_s"),
        cut_s.alias("steady_from_s"),
        hi.alias("steady_to_s"),
    ]
    for kind in kinds:
        col = pl.col(f"{kind}_tokens")
        total = col.sum().cast(pl.Float64)
        aggs.append(pl.when(duration > 0).then(total / duration).alias(f"{kind}_tps"))
        last = col.filter(in_last).sum().cast(pl.Float64)
        span = pl.min_horizontal(duration, pl.lit(LAST_WINDOW_S))
        aggs.append(pl.when(span > 0).then(last / span).alias(f"{kind}_tps_last30s"))
        cum = col.filter(in_steady).sort_by(order).cum_sum().cast(pl.Float64)
        aggs.append(_slope(t_steady.sort(), cum).alias(f"{kind}_tps_steady"))
    return aggs


def throughput(frame: F, window: Window | None = None) -> F:
    """One row: duration_s, the span the steady state is fitted over (``steady_from_s``,
    ``steady_to_s``: seconds from the first measured send) and, for each kind,
    ``<kind>_tps``, ``<kind>_tps_last30s`` and ``<kind>_tps_steady`` (tokens per second,
    definitions in the module docstring); the steady state over `window` (None: the whole
    run)."""
    return token_events(frame).select(throughput_aggregations(window))


def cumulative_completion(frame: F) -> F:
    """Cumulative completion tokens over time (``t_s``, ``cum_completion``) for charts."""
    events = token_events(frame).filter(is_ok()).sort("t_s")
    return events.select(
        pl.col("t_s"), pl.col("completion_tokens").cum_sum().alias("cum_completion")
    )
