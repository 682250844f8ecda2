"""Summaries of any workload file (ours or foreign), computed with polars expressions.

Used by `agentload inspect`; every figure is a plain number so it prints as a table or JSON.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from agentload.traceformat import distribution
from agentload.traceformat.foreign.mooncake import DEFAULT_BLOCK_SIZE, read_mooncake
from agentload.traceformat.foreign.trie import read_trie
from agentload.traceformat.io import read
from agentload.traceformat.prefix_cache import ideal_hit
from agentload.traceformat.schema import (
    ARRIVAL_S,
    CACHED_TOKENS,
    CALL_INDEX,
    COMPLETION_TOKENS,
    CONTENT_SIZE,
    ERROR_KIND,
    EXPECTED_INPUT_TOKENS,
    EXPECTED_OUTPUT_TOKENS,
    INPUT_TOKENS,
    META_BLOCK_SIZE,
    META_COMPLETE,
    NEW_CONTENT,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    REASONING_TOKENS,
    SESSION_ID,
    STATUS,
    T_END_NS,
    T_FIRST_TOKEN_NS,
    T_REQUEST_START_NS,
    T_RESPONSE_END_NS,
    T_SCHEDULED_NS,
    T_SENT_NS,
    THINK_S,
    WARMUP,
    Kind,
)
from agentload.traceformat.sources import SourceFormat, block_size_of, sniff

__all__ = ["Stat", "Summary", "describe", "summarize", "summarize_frame"]

_POINTS = ("count", "mean", "p50", "p90", "p95", "max", "sum")  # the fields of a Stat, in order


@dataclass(frozen=True)
class Stat:
    """Distribution of one quantity over the rows where it is not null."""

    name: str
    unit: str
    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    max: float | None
    total: float | None


@dataclass(frozen=True)
class Summary:
    path: str
    format: str  # SourceFormat value
    kind: str  # trace | profile | result (foreign files are read as profiles)
    version: str | None
    rows: int
    sessions: int
    truncated: bool = False
    # metadata (META_INFO values in full, as recorded), counts by status, ...
    facts: dict[str, object] = field(default_factory=dict)
    stats: list[Stat] = field(default_factory=list)


def describe(frame: pl.DataFrame, quantities: dict[str, tuple[str, pl.Expr]]) -> list[Stat]:
    """One Stat per named expression (name -> (unit, expr)), all in a single select."""
    if not quantities:
        return []
    aggregations = []
    for i, (_, expr) in enumerate(quantities.values()):
        x = expr.cast(pl.Float64)
        aggregations += distribution.aggregations(x, _POINTS, prefix=f"{i}.")
    row = frame.select(aggregations).row(0)
    stats = []
    for i, (name, (unit, _)) in enumerate(quantities.items()):
        count, mean, p50, p90, p95, top, total = row[i * len(_POINTS) : (i + 1) * len(_POINTS)]
        total = total if count else None
        stats.append(Stat(name, unit, int(count), mean, p50, p90, p95, top, total))
    return stats


def _calls_per_session(frame: pl.DataFrame) -> list[Stat]:
    per_session = frame.group_by(SESSION_ID).len()
    return describe(per_session, {"calls per session": ("calls", pl.col("len"))})


def _profile_stats(frame: pl.DataFrame) -> list[Stat]:
    later = pl.col(CALL_INDEX) > pl.col(CALL_INDEX).min().over(SESSION_ID)
    first = ~later
    last = pl.col(CALL_INDEX) == pl.col(CALL_INDEX).max().over(SESSION_ID)
    return describe(
        frame,
        {
            "input tokens": ("tokens", pl.col(INPUT_TOKENS)),
            "new input tokens": ("tokens", pl.col(NEW_INPUT_TOKENS)),
            "output tokens": ("tokens", pl.col(OUTPUT_TOKENS)),
            "starting prompt tokens": ("tokens", pl.col(INPUT_TOKENS).filter(first)),
            "final answer tokens": ("tokens", pl.col(OUTPUT_TOKENS).filter(last)),
            "think time (after call 0)": ("s", pl.col(THINK_S).filter(later)),
            "session arrival": ("s", pl.col(ARRIVAL_S).filter(first)),
        },
    )


def _profile_facts(frame: pl.DataFrame, block_size: int | None) -> dict[str, str]:
    reused = (pl.col(INPUT_TOKENS) - pl.col(NEW_INPUT_TOKENS)).clip(0).sum()
    share = frame.select(reused / pl.col(INPUT_TOKENS).sum()).item()
    facts = {"ideal in-session prefix reuse": _percent(share)}
    hit = ideal_hit(frame, block_size)  # the one definition, as `profile stats` prints it
    if hit is not None:
        facts["ideal prefix-cache hit (hash_ids)"] = _percent(hit)
    return facts


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _trace_stats(frame: pl.DataFrame) -> list[Stat]:
    start = pl.col(T_REQUEST_START_NS)
    previous_end = pl.col(T_RESPONSE_END_NS).shift(1).over(SESSION_ID, order_by=CALL_INDEX)
    return describe(
        frame,
        {
            "prompt tokens": ("tokens", pl.col(PROMPT_TOKENS)),
            "completion tokens": ("tokens", pl.col(COMPLETION_TOKENS)),
            "cached tokens": ("tokens", pl.col(CACHED_TOKENS)),
            "reasoning tokens": ("tokens", pl.col(REASONING_TOKENS)),
            "time to first token": ("s", (pl.col(T_FIRST_TOKEN_NS) - start) / 1e9),
            "response time": ("s", (pl.col(T_RESPONSE_END_NS) - start) / 1e9),
            "think time": ("s", (start - previous_end) / 1e9),
        },
    )


def _trace_facts(frame: pl.DataFrame) -> dict[str, object]:
    parts = frame.select(pl.col(NEW_CONTENT).explode().drop_nulls().struct.field(CONTENT_SIZE))
    return {
        "content parts stored": parts.height,
        "content bytes (before compression)": parts.to_series().sum(),
    }


def _result_stats(frame: pl.DataFrame) -> list[Stat]:
    sent = pl.col(T_SENT_NS)
    measured = ~pl.col(WARMUP)
    gen = pl.col(COMPLETION_TOKENS)
    return describe(
        frame.filter(measured),
        {
            "prompt tokens": ("tokens", pl.col(PROMPT_TOKENS)),
            "completion tokens": ("tokens", gen),
            "cached tokens": ("tokens", pl.col(CACHED_TOKENS)),
            "expected input tokens": ("tokens", pl.col(EXPECTED_INPUT_TOKENS)),
            "expected output tokens": ("tokens", pl.col(EXPECTED_OUTPUT_TOKENS)),
            "TTFT": ("ms", (pl.col(T_FIRST_TOKEN_NS) - sent) / 1e6),
            "TPOT": (
                "ms",
                ((pl.col(T_END_NS) - pl.col(T_FIRST_TOKEN_NS)) / (gen - 1) / 1e6).filter(gen > 1),
            ),
            "E2E": ("s", (pl.col(T_END_NS) - sent) / 1e9),
            "schedule lag": ("ms", (sent - pl.col(T_SCHEDULED_NS)) / 1e6),
        },
    )


def _result_facts(frame: pl.DataFrame) -> dict[str, object]:
    counts = frame.group_by(STATUS, ERROR_KIND).len().sort("len", descending=True)
    facts: dict[str, object] = {
        f"requests {status}" + (f" ({kind})" if kind else ""): n
        for status, kind, n in counts.iter_rows()
    }
    facts["warmup requests"] = frame[WARMUP].sum()
    return facts


def summarize_frame(
    frame: pl.DataFrame, kind: Kind, block_size: int | None = None
) -> tuple[dict[str, object], list[Stat]]:
    """Facts and distributions for a frame of `kind` (a profile's hash_ids blocks of
    `block_size` tokens)."""
    stats = _calls_per_session(frame)
    if kind is Kind.PROFILE:
        return dict(_profile_facts(frame, block_size)), stats + _profile_stats(frame)
    if kind is Kind.TRACE:
        return _trace_facts(frame), stats + _trace_stats(frame)
    return _result_facts(frame), stats + _result_stats(frame)


def summarize(
    path: str | os.PathLike[str],
    kind: Kind | None = None,
    mooncake_block_size: int = DEFAULT_BLOCK_SIZE,
) -> Summary:
    """Summary of an agentload file (of `kind` when given) or a trie / Mooncake JSONL file."""
    source = Path(path)
    fmt = sniff(source) if kind is None else SourceFormat.AGENTLOAD
    facts: dict[str, object] = {}
    block_size: int | None = mooncake_block_size
    if fmt is SourceFormat.AGENTLOAD:
        loaded = read(source, kind)
        frame, found, version, truncated = (
            loaded.frame,
            loaded.kind,
            loaded.version,
            loaded.truncated,
        )
        for key in (META_COMPLETE, META_BLOCK_SIZE):
            if key.decode() in loaded.metadata:
                facts[key.decode()] = loaded.metadata[key.decode()]
        facts.update({f"info.{k}": v for k, v in loaded.info.items()})
        block_size = block_size_of(loaded.metadata, source)
    else:
        reader = read_trie if fmt is SourceFormat.TRIE else read_mooncake
        frame, found, version, truncated = reader(source), Kind.PROFILE, None, False
        if fmt is SourceFormat.MOONCAKE:
            facts[META_BLOCK_SIZE.decode()] = f"{mooncake_block_size} (assumed)"
    more, stats = summarize_frame(frame, found, block_size)
    facts.update(more)
    sessions = frame[SESSION_ID].n_unique()
    return Summary(
        str(source),
        fmt.value,
        found.value,
        version,
        frame.height,
        sessions,
        truncated,
        facts,
        stats,
    )
