"""Time series for charts: per-bin throughput, cache hit and concurrency.

Time is seconds from the run window start (first measured send). Bins are
[i * width, (i + 1) * width); a request's tokens land in the bin of its end time.
Concurrency is sampled at each bin start: requests in flight (sent, not yet ended) and
sessions active (first send passed, last response not yet ended).
"""

from __future__ import annotations

import math

import polars as pl

from agentload.analysis.requests import NS_PER_S, F, measured
from agentload.analysis.throughput import token_events
from agentload.traceformat import schema as s

TARGET_BINS = 40


def bin_width(duration_s: float, target_bins: int = TARGET_BINS) -> float:
    """A round bin width (1, 2, 5 x 10^k seconds, at least 0.1 s) giving about
    `target_bins` bins over `duration_s`."""
    raw = max(duration_s / max(target_bins, 1), 0.1)
    exp = math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        width = mult * 10.0**exp
        if width >= raw:
            return round(width, 6)
    return 10.0 ** (exp + 1)


def binned(frame: F, width_s: float) -> F:
    """Per bin: ``t_s`` (bin start), completion/prompt/cached/uncached tokens per second,
    successful requests per second (``requests_tps``) and
    ``cache_hit_rate`` (cached / prompt of requests that ended in the bin), ``requests``."""
    events = token_events(frame).with_columns(
        ((pl.col("t_s") / width_s).floor() * width_s).alias("bin_s")
    )
    per_s = [
        (pl.col(f"{k}_tokens").sum().cast(pl.Float64) / width_s).alias(f"{k}_tps")
        for k in ("completion", "prompt", "cached", "uncached", "requests")
    ]
    prompt = pl.col("prompt_tokens").sum().cast(pl.Float64)
    hit = pl.when(prompt > 0).then(pl.col("cached_tokens").sum() / prompt).otherwise(None)
    return (
        events.group_by("bin_s")
        .agg(*per_s, hit.alias("cache_hit_rate"), pl.len().alias("requests"))
        .rename({"bin_s": "t_s"})
        .sort("t_s")
    )


def _in_flight(starts: pl.Expr, ends: pl.Expr, grid: pl.Expr) -> pl.Expr:
    """Count of intervals [start, end) containing each grid time (same unit)."""
    started = starts.sort().search_sorted(grid, side="right")
    ended = ends.sort().search_sorted(grid, side="right")
    return (started.cast(pl.Int64) - ended.cast(pl.Int64)).alias("_n")


def concurrency(frame: F, width_s: float, duration_s: float) -> F:
    """``t_s`` grid (every `width_s`) with ``requests_in_flight``, ``requests_streaming``
    (first token received, not ended) and ``sessions_active``. Requests or sessions with no
    end count as in flight until the run window ends."""
    rows = measured(frame).filter(pl.col(s.T_SENT_NS).is_not_null())
    steps = max(math.floor(duration_s / width_s) + 1, 1)
    grid_s = [i * width_s for i in range(steps)]
    t0 = pl.col(s.T_SENT_NS).min()
    never = pl.lit(float("inf"))
    start_s = (pl.col(s.T_SENT_NS) - t0).cast(pl.Float64) / NS_PER_S
    end_s = ((pl.col(s.T_END_NS) - t0).cast(pl.Float64) / NS_PER_S).fill_null(never)
    grid = pl.lit(pl.Series("t_s", grid_s, pl.Float64))
    per_session = rows.group_by(s.SESSION_ID).agg(
        pl.col(s.T_SENT_NS).min().alias("_first"),
        pl.when(pl.col(s.T_END_NS).is_null().any())
        .then(None)
        .otherwise(pl.col(s.T_END_NS).max())
        .alias("_last"),
    )
    first_s = ((pl.col(s.T_FIRST_TOKEN_NS) - t0).cast(pl.Float64) / NS_PER_S).fill_null(never)
    streaming_end = pl.when(pl.col(s.T_FIRST_TOKEN_NS).is_null()).then(never).otherwise(end_s)
    req = rows.select(
        grid.alias("t_s"),
        _in_flight(start_s, end_s, grid).alias("requests_in_flight"),
        _in_flight(first_s, streaming_end, grid).alias("requests_streaming"),
    )
    t0s = pl.col("_first").min()
    sess = per_session.select(
        _in_flight(
            (pl.col("_first") - t0s).cast(pl.Float64) / NS_PER_S,
            ((pl.col("_last") - t0s).cast(pl.Float64) / NS_PER_S).fill_null(never),
            grid,
        ).alias("sessions_active")
    )
    return pl.concat([req, sess], how="horizontal")
