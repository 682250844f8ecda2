"""The metrics `compare` can judge, as polars aggregations, and their bootstrap replicates.

A metric is an aggregation over one of three frames of a run (docs/analysis.md, "compare"):

- ``requests``: `request_metrics` rows (one per measured request); resampled by request.
- ``sessions``: `session_metrics` rows (one per session); resampled by session.
- ``run``: `token_events` rows aggregated by `throughput_aggregations` (rates per second
  over the run's own span and admission window); resampled by whole session, since the
  requests of one session are not independent of each other.

The noise of a metric is the spread of its value over B bootstrap replicates: each draws
as many units as the run has, uniformly with replacement (`random.Random(seed)`), and
evaluates the same aggregation. Replicates are built in chunks of at most
``MAX_CHUNK_ROWS`` rows so memory stays bounded on long runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from agentload.analysis.requests import request_metrics
from agentload.analysis.sessions import session_metrics
from agentload.analysis.throughput import throughput_aggregations, token_events
from agentload.analysis.window import Window
from agentload.traceformat import schema as s
from agentload.traceformat.distribution import point

REQUESTS, SESSIONS, RUN = "requests", "sessions", "run"
REPLICATE = "_b"
MAX_CHUNK_ROWS = 1_000_000
STATS = ("mean", "p50", "p90", "p95", "p99")


@dataclass(frozen=True)
class Metric:
    name: str  # as --fail-on spells it, e.g. ttft_p99
    label: str
    frame: str  # REQUESTS, SESSIONS or RUN
    expr: pl.Expr  # an aggregation over that frame, aliased `name`
    better: str  # "lower" or "higher"
    unit: str  # of the value, for absolute thresholds and display


def _distributions() -> list[Metric]:
    sources = (
        ("ttft", "TTFT", REQUESTS, "ttft_ms", "ms"),
        ("tpot", "TPOT", REQUESTS, "tpot_ms", "ms"),
        ("itl", "ITL (mean per request)", REQUESTS, "itl_mean_ms", "ms"),
        ("e2e", "E2E request", REQUESTS, "e2e_ms", "ms"),
        ("session", "session latency", SESSIONS, "latency_s", "s"),
        ("ttfat", "TTFAT", SESSIONS, "ttfat_s", "s"),
    )
    return [
        Metric(
            f"{key}_{stat}",
            f"{label} {stat} ({unit})",
            frame,
            point(pl.col(column).drop_nulls(), stat).cast(pl.Float64).alias(f"{key}_{stat}"),
            "lower",
            unit,
        )
        for key, label, frame, column, unit in sources
        for stat in STATS
    ]


def _rates() -> list[Metric]:
    kinds = (
        ("tok_s", "completion tok/s", "completion"),
        ("total_tok_s", "total tok/s", "total"),
        ("req_s", "requests/s", "requests"),
    )
    spans = (("", "overall", "tps"), ("_steady", "steady", "tps_steady"))
    return [
        Metric(
            f"{key}{suffix}",
            f"{label} ({span})",
            RUN,
            pl.col(f"{kind}_{column}").alias(f"{key}{suffix}"),
            "higher",
            "/s",
        )
        for key, label, kind in kinds
        for suffix, span, column in spans
    ]


def _error_rate() -> Metric:
    failed = (pl.col(s.STATUS) != "ok").cast(pl.Float64).mean()
    return Metric(
        "error_rate", "requests failed (share)", REQUESTS, failed.alias("error_rate"), "lower", ""
    )


CATALOGUE: dict[str, Metric] = {m.name: m for m in (*_distributions(), *_rates(), _error_rate())}

# What compare judges when --fail-on names nothing else.
DEFAULT = (
    "tok_s",
    "tok_s_steady",
    "req_s",
    "total_tok_s",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "tpot_p50",
    "tpot_p99",
    "e2e_p99",
    "session_p50",
    "session_p99",
    "ttfat_p50",
    "error_rate",
)


@dataclass(frozen=True)
class RunFrames:
    """The three frames of one run that metrics aggregate over."""

    requests: pl.DataFrame
    sessions: pl.DataFrame
    rows: pl.DataFrame  # the result rows, only the columns throughput needs
    window: Window | None

    @classmethod
    def of(cls, frame: pl.DataFrame, window: Window | None) -> RunFrames:
        keep = [
            s.SESSION_ID,
            s.WARMUP,
            s.STATUS,
            s.T_SENT_NS,
            s.T_END_NS,
            s.PROMPT_TOKENS,
            s.COMPLETION_TOKENS,
            s.CACHED_TOKENS,
        ]
        return cls(request_metrics(frame), session_metrics(frame), frame.select(keep), window)


def _exprs(metrics: list[Metric], frame: str) -> list[pl.Expr]:
    return [m.expr for m in metrics if m.frame == frame]


def values(run: RunFrames, metrics: list[Metric]) -> dict[str, float | None]:
    """Each metric's value on the run as recorded."""
    out: dict[str, float | None] = {}
    for frame, table in ((REQUESTS, run.requests), (SESSIONS, run.sessions)):
        if exprs := _exprs(metrics, frame):
            out |= table.select(exprs).row(0, named=True)
    if exprs := _exprs(metrics, RUN):
        rates = token_events(run.rows).select(throughput_aggregations(run.window))
        out |= rates.select(exprs).row(0, named=True)
    return out


def replicates(
    run: RunFrames, metrics: list[Metric], resamples: int, seed: int
) -> dict[str, list[float | None]]:
    """Each metric's value in `resamples` bootstrap replicates of the run (in order)."""
    out: dict[str, list[float | None]] = {m.name: [] for m in metrics}
    for frame in (REQUESTS, SESSIONS, RUN):
        exprs = _exprs(metrics, frame)
        if not exprs:
            continue
        rng = random.Random(f"{seed}:{frame}")  # one stream per frame: order-independent
        for ids, chunk in _chunks(run, frame, exprs, resamples, rng):
            got = _aggregate(chunk, frame, exprs, run.window)
            # a replicate with no rows left (nothing ended) has no row: null, not skipped
            got = ids.join(got, on=REPLICATE, how="left", maintain_order="left")
            for name in got.columns:
                if name != REPLICATE:
                    out[name].extend(got[name].to_list())
    return out


def _chunks(
    run: RunFrames, frame: str, exprs: list[pl.Expr], resamples: int, rng: random.Random
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(replicate ids, their rows) per chunk of replicates."""
    table = run.requests if frame == REQUESTS else run.sessions
    # only the columns the aggregations read: the rows also hold list columns (chunks)
    columns = sorted({c for e in exprs for c in e.meta.root_names()})
    ids = run.rows[s.SESSION_ID].unique().sort()
    if frame == RUN:
        size, per_unit = ids.len(), max(1, run.rows.height // max(1, ids.len()))
    else:
        size, per_unit = table.height, 1
    step = max(1, MAX_CHUNK_ROWS // max(1, size * per_unit))
    for first in range(0, resamples, step):
        count = min(step, resamples - first)
        picks = pl.Series("_i", rng.choices(range(size), k=size * count), dtype=pl.Int64)
        numbers = range(first, first + count)
        replicate = pl.Series(REPLICATE, [b for b in numbers for _ in range(size)], dtype=pl.Int64)
        wanted = pl.DataFrame({REPLICATE: list(numbers)}, schema={REPLICATE: pl.Int64})
        if frame == RUN:
            chosen = pl.DataFrame([replicate, ids.gather(picks)])
            rows = chosen.join(run.rows, on=s.SESSION_ID, how="inner", maintain_order="left")
        else:
            rows = table.select(pl.col(columns).gather(picks)).with_columns(replicate)
        yield wanted, rows


def _kinds(exprs: list[pl.Expr]) -> list[str]:
    """The token kinds rate expressions read (``completion_tps_steady`` -> completion)."""
    names = {c for e in exprs for c in e.meta.root_names()}
    return sorted({n.split("_tps")[0] for n in names})


def _aggregate(
    chunk: pl.DataFrame, frame: str, exprs: list[pl.Expr], window: Window | None
) -> pl.DataFrame:
    if frame == RUN:
        events = token_events(chunk, by=REPLICATE)
        rates = events.group_by(REPLICATE).agg(throughput_aggregations(window, _kinds(exprs)))
        return rates.select(REPLICATE, *exprs).sort(REPLICATE)
    return chunk.group_by(REPLICATE).agg(exprs).sort(REPLICATE)
