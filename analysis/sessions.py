"""Per-session and cache metrics.

A session *completed* when its final call (FINAL_CALL) succeeded, none of its calls failed
and none fell inside the warmup window: only completed sessions get a latency and a TTFAT.
Session start = the send time of the session's first call (its first send); session
latency ends at the last token of the final call (ARCHITECTURE.md), not at its stream end.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from agentload.analysis.requests import NS_PER_S, F, e2e_ms, is_ok, measured, tpot_ms, ttft_ms
from agentload.traceformat import schema as s
from agentload.traceformat.distribution import point

ELIGIBLE = "eligible_tokens"


def eligible_tokens() -> pl.Expr:
    """Tokens an ideal prefix cache would hold for each call of a session.

    eligible_0 = 0 and eligible_i = prompt_{i-1} + completion_{i-1} (calls ordered by call
    index inside the session, warmup and failed calls included since they were sent).
    Null when the previous call reported no prompt or completion count.
    """
    prev = pl.col(s.PROMPT_TOKENS).shift(1) + pl.col(s.COMPLETION_TOKENS).shift(1)
    first = pl.col(s.CALL_INDEX) == pl.col(s.CALL_INDEX).min()
    value = pl.when(first).then(pl.lit(0, pl.Int64)).otherwise(prev)
    return value.over(s.SESSION_ID, order_by=s.CALL_INDEX).alias(ELIGIBLE)


def with_eligible(frame: F) -> F:
    """Adds ``eligible_tokens``; run it on the whole frame before dropping warmup rows."""
    return frame.with_columns(eligible_tokens())


def _cache_rows() -> pl.Expr:
    """Rows that enter the cache sums: measured, successful, with both counts known."""
    return (
        ~pl.col(s.WARMUP)
        & is_ok()
        & pl.col(s.PROMPT_TOKENS).is_not_null()
        & pl.col(s.CACHED_TOKENS).is_not_null()
    )


def cache_hit_rate() -> pl.Expr:
    """Sum of cached / sum of prompt tokens over measured successful calls (aggregation)."""
    rows = _cache_rows()
    cached = pl.col(s.CACHED_TOKENS).filter(rows).sum().cast(pl.Float64)
    prompt = pl.col(s.PROMPT_TOKENS).filter(rows).sum().cast(pl.Float64)
    return pl.when(prompt > 0).then(cached / prompt).otherwise(None).alias("cache_hit_rate")


def eligible_cache_hit_rate() -> pl.Expr:
    """Sum cached_i / sum eligible_i over measured successful calls with eligible known.

    Needs the ``eligible_tokens`` column (see `with_eligible`). Can exceed 1 when calls hit
    prefixes cached by other sessions (a shared system prompt on call 0).
    """
    rows = _cache_rows() & pl.col(ELIGIBLE).is_not_null()
    cached = pl.col(s.CACHED_TOKENS).filter(rows).sum().cast(pl.Float64)
    eligible = pl.col(ELIGIBLE).filter(rows).sum().cast(pl.Float64)
    rate = pl.when(eligible > 0).then(cached / eligible).otherwise(None)
    return rate.alias("eligible_cache_hit_rate")


def theoretical_cache_hit_rate() -> pl.Expr:
    """Sum EXPECTED_CACHED_TOKENS / sum EXPECTED_INPUT_TOKENS (the source's ideal
    prefix-cache hit) over the rows the observed rate uses (`_cache_rows`: measured,
    successful, counts reported), so the two compare like with like; over the measured
    successful rows when the server reports no cached counts at all. Null when the source
    has no hash_ids."""
    reported = pl.col(s.CACHED_TOKENS).is_not_null() & pl.col(s.PROMPT_TOKENS).is_not_null()
    rows = (
        ~pl.col(s.WARMUP)
        & is_ok()
        & (reported | ~reported.any())
        & pl.col(s.EXPECTED_CACHED_TOKENS).is_not_null()
        & pl.col(s.EXPECTED_INPUT_TOKENS).is_not_null()
    )
    cached = pl.col(s.EXPECTED_CACHED_TOKENS).filter(rows).sum().cast(pl.Float64)
    total = pl.col(s.EXPECTED_INPUT_TOKENS).filter(rows).sum().cast(pl.Float64)
    rate = pl.when(total > 0).then(cached / total).otherwise(None)
    return rate.alias("theoretical_cache_hit_rate")


def _final_ok(column: str | pl.Expr) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.filter(pl.col(s.FINAL_CALL) & is_ok()).first()


def last_token_ns() -> pl.Expr:
    """When a call's last content token arrived: T_SENT_NS + the last chunk offset for a
    streamed call (CHUNK_OFFSETS_NS holds token-carrying chunks only), else T_END_NS (a
    non-streamed call, or one without chunk offsets). The stream's end (T_END_NS) may come
    later: a usage event and the end marker follow the last token."""
    last = pl.col(s.T_SENT_NS) + pl.col(s.CHUNK_OFFSETS_NS).list.last()
    return pl.coalesce(last, pl.col(s.T_END_NS)).alias("last_token_ns")


def session_metrics(frame: F) -> F:
    """One row per session (all rows, warmup included, are needed to judge completeness).

    Columns: calls, errors, warmup_calls, completed, first_send_ns, latency_s (first send ->
    last token of the final call, see `last_token_ns`), ttfat_s (first send -> first token
    of the final call), max_ttft_ms, max_tpot_ms, prompt/completion/cached token sums,
    cache_hit_rate, eligible_cache_hit_rate.
    """
    first_send = pl.col(s.T_SENT_NS).min()
    completed = (
        pl.col(s.FINAL_CALL).any()
        & (pl.col(s.STATUS) != "ok").sum().eq(0)
        & ~pl.col(s.WARMUP).any()
        & _final_ok(s.T_END_NS).is_not_null()
    )
    latency = (_final_ok(last_token_ns()) - first_send).cast(pl.Float64) / NS_PER_S
    ttfat = (_final_ok(s.T_FIRST_TOKEN_NS) - first_send).cast(pl.Float64) / NS_PER_S
    ok_rows = is_ok() & ~pl.col(s.WARMUP)
    grouped = (
        with_eligible(frame)
        .with_columns(ttft_ms(), tpot_ms())
        .group_by(s.SESSION_ID)
        .agg(
            pl.len().alias("calls"),
            (pl.col(s.STATUS) != "ok").sum().alias("errors"),
            pl.col(s.WARMUP).sum().alias("warmup_calls"),
            completed.alias("completed"),
            first_send.alias("first_send_ns"),
            pl.col(s.T_END_NS).max().alias("last_end_ns"),
            latency.alias("latency_s"),
            ttfat.alias("ttfat_s"),
            pl.col("ttft_ms").max().alias("max_ttft_ms"),
            pl.col("tpot_ms").max().alias("max_tpot_ms"),
            pl.col(s.PROMPT_TOKENS).filter(ok_rows).sum().alias("prompt_tokens"),
            pl.col(s.COMPLETION_TOKENS).filter(ok_rows).sum().alias("completion_tokens"),
            pl.col(s.CACHED_TOKENS).filter(ok_rows).sum().alias("cached_tokens"),
            cache_hit_rate(),
            eligible_cache_hit_rate(),
        )
    )
    not_done = ~pl.col("completed")
    return grouped.with_columns(
        pl.when(not_done).then(None).otherwise(pl.col("latency_s")).alias("latency_s"),
        pl.when(not_done).then(None).otherwise(pl.col("ttfat_s")).alias("ttfat_s"),
    ).sort("first_send_ns", s.SESSION_ID, nulls_last=True)


def turn_metrics(frame: F) -> F:
    """Per call index (turn): request count, errors and TTFT / TPOT / E2E percentiles."""
    rows = measured(frame).with_columns(ttft_ms(), tpot_ms(), e2e_ms())
    aggs: list[pl.Expr] = [
        pl.len().alias("requests"),
        (pl.col(s.STATUS) != "ok").sum().alias("errors"),
    ]
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
        base = name.removesuffix("_ms")
        aggs.append(pl.col(name).mean().alias(f"{base}_mean_ms"))
        for p in ("p50", "p90", "p95", "p99"):
            aggs.append(point(pl.col(name), p).alias(f"{base}_{p}_ms"))
    return rows.group_by(s.CALL_INDEX).agg(aggs).sort(s.CALL_INDEX)


CACHE_EXCESS_MARGIN = 0.02  # two points: block rounding and a shared prompt's first send


def cache_summary(frame: pl.DataFrame) -> dict[str, Any]:
    """Observed, eligible and theoretical hit rates of a result frame (warmup rows in)."""
    return (
        with_eligible(frame)
        .select(cache_hit_rate(), eligible_cache_hit_rate(), theoretical_cache_hit_rate())
        .row(0, named=True)
    )


def cache_excess_warning(cache: dict[str, Any], margin: float = CACHE_EXCESS_MARGIN) -> str | None:
    """A warning when the observed prefix-cache hit passes the theoretical one (the ideal,
    unbounded cache of this run's own prompts) by more than `margin`: the engine held
    prefixes from before the run, another run's or sweep point's."""
    observed = cache.get("cache_hit_rate")
    ideal = cache.get("theoretical_cache_hit_rate")
    if observed is None or ideal is None or observed <= ideal + margin:
        return None
    return (
        f"observed cache hit {100 * observed:.1f}% exceeds the theoretical {100 * ideal:.1f}%: "
        "the engine served prefixes cached before this run (another run's); give each run "
        "its own --cache-salt or use --reset-cache"
    )
