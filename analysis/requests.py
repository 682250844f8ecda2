"""Per-request metrics as polars expressions over the RESULT schema.

Every expression is aliased with its unit (``ttft_ms``, ``e2e_s`` ...). Latency expressions
are null for error rows (status != "ok") so that any aggregation over them excludes
failures without a separate filter; schedule lag is a client figure and covers every sent
request. Warmup rows are removed with `measured` before anything is aggregated.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from agentload.traceformat import schema as s

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)

NS_PER_S = 1e9
NS_PER_MS = 1e6
OK = "ok"


def is_ok() -> pl.Expr:
    """True for a request that succeeded."""
    return pl.col(s.STATUS) == OK


def measured[F: (pl.DataFrame, pl.LazyFrame)](frame: F) -> F:
    """Rows that count: warmup rows are dropped (errors stay, they are counted)."""
    return frame.filter(~pl.col(s.WARMUP))


def _ok_only(expr: pl.Expr) -> pl.Expr:
    return pl.when(is_ok()).then(expr).otherwise(None)


def _ns(a: str, b: str) -> pl.Expr:
    """b - a in ns (float), null when either is null."""
    return (pl.col(b) - pl.col(a)).cast(pl.Float64)


def ttft_ms() -> pl.Expr:
    """Time to first token = first content token - send (ms); null for errors."""
    return _ok_only(_ns(s.T_SENT_NS, s.T_FIRST_TOKEN_NS) / NS_PER_MS).alias("ttft_ms")


def ttft_s() -> pl.Expr:
    return _ok_only(_ns(s.T_SENT_NS, s.T_FIRST_TOKEN_NS) / NS_PER_S).alias("ttft_s")


def e2e_ms() -> pl.Expr:
    """End to end = response end - send (ms); null for errors."""
    return _ok_only(_ns(s.T_SENT_NS, s.T_END_NS) / NS_PER_MS).alias("e2e_ms")


def e2e_s() -> pl.Expr:
    return _ok_only(_ns(s.T_SENT_NS, s.T_END_NS) / NS_PER_S).alias("e2e_s")


def tpot_ms() -> pl.Expr:
    """Time per output token = (end - first token) / (completion tokens - 1) (ms).

    Null for errors and for responses of fewer than two tokens (no gap to divide).
    """
    n = pl.col(s.COMPLETION_TOKENS)
    value = _ns(s.T_FIRST_TOKEN_NS, s.T_END_NS) / (n - 1).cast(pl.Float64) / NS_PER_MS
    return pl.when(is_ok() & (n > 1)).then(value).otherwise(None).alias("tpot_ms")


def schedule_lag_ms() -> pl.Expr:
    """Schedule lag = actual send - scheduled send (ms); null when never sent."""
    return (_ns(s.T_SCHEDULED_NS, s.T_SENT_NS) / NS_PER_MS).alias("schedule_lag_ms")


def chunk_tokens() -> pl.Expr:
    """CHUNK_TOKENS with null meaning one token per chunk, one entry per chunk offset.

    A CHUNK_TOKENS list whose length differs from CHUNK_OFFSETS_NS is ignored (treated as
    null) rather than pairing counts with the wrong chunks.
    """
    offsets, tokens = pl.col(s.CHUNK_OFFSETS_NS), pl.col(s.CHUNK_TOKENS)
    ones = offsets.list.eval((pl.element() * 0 + 1).cast(pl.Int64))
    matching = tokens.list.len() == offsets.list.len()
    return pl.when(matching).then(tokens.cast(pl.List(pl.Int64))).otherwise(ones)


def itl_mean_ms() -> pl.Expr:
    """Mean inter-token latency of one request (ms).

    Chunks carrying zero tokens are ignored. Chunk j >= 1 of k_j tokens arriving d after
    chunk j-1 contributes k_j gaps of d / k_j, so the mean is
    (last chunk offset - first chunk offset) / (sum k_j - k_0). Null for errors and when
    there are fewer than two token-carrying chunks.
    """
    k = chunk_tokens()
    keep = k.list.eval(pl.element().gt(0).arg_true())
    offsets = pl.col(s.CHUNK_OFFSETS_NS).list.gather(keep)
    kept = k.list.gather(keep)
    span = (offsets.list.last() - offsets.list.first()).cast(pl.Float64)
    gaps = (kept.list.sum() - kept.list.first()).cast(pl.Float64)
    value = pl.when(gaps > 0).then(span / gaps / NS_PER_MS).otherwise(None)
    return _ok_only(value).alias("itl_mean_ms")


def request_metrics[F: (pl.DataFrame, pl.LazyFrame)](frame: F) -> F:
    """The measured rows with every per-request metric as an extra column."""
    return measured(frame).with_columns(
        ttft_ms(),
        ttft_s(),
        tpot_ms(),
        itl_mean_ms(),
        e2e_ms(),
        e2e_s(),
        schedule_lag_ms(),
    )


def itl_samples[F: (pl.DataFrame, pl.LazyFrame)](frame: F) -> F:
    """One row per inter-token gap (column ``itl_ms``) over measured, successful requests.

    A chunk of k tokens that arrives d after the previous token-carrying chunk yields k
    rows of d / k; the first chunk yields none (its wait is the TTFT).
    """
    rows = (
        measured(frame)
        .filter(is_ok() & pl.col(s.CHUNK_OFFSETS_NS).is_not_null())
        .select(
            pl.col(s.SESSION_ID),
            pl.col(s.CALL_INDEX),
            pl.col(s.CHUNK_OFFSETS_NS).alias("_off"),
            chunk_tokens().alias("_k"),
        )
        .with_row_index("_req")
        .explode(["_off", "_k"])
        .filter(pl.col("_k") > 0)
        .with_columns(_gap=pl.col("_off").diff().over("_req"))
        .filter(pl.col("_gap").is_not_null())
    )
    per_token = (pl.col("_gap").cast(pl.Float64) / pl.col("_k") / NS_PER_MS).alias("itl_ms")
    return (
        rows.select(pl.col(s.SESSION_ID), pl.col(s.CALL_INDEX), per_token.repeat_by(pl.col("_k")))
        .explode("itl_ms")
        .select(pl.col(s.SESSION_ID), pl.col(s.CALL_INDEX), pl.col("itl_ms"))
    )
