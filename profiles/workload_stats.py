"""Workload statistics of a PROFILE frame, in the terms of the reference table.

A root session of n calls has n - 1 tool turns (the Applied Compute model). Per session:
starting prompt = input tokens of call 0; final answer = output tokens of the last call.
Per tool turn i (calls 0..n-2 -> the tool call after them): assistant tokens = output of
call i; tool output = new input of call i+1 minus the output of call i; tool latency =
think time before call i+1. Child sessions (subagents) are left out of these figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from agentload.profiles import reference as ref
from agentload.traceformat import schema as s
from agentload.traceformat.distribution import summarize
from agentload.traceformat.prefix_cache import ideal_hit


@dataclass(frozen=True)
class ProfileStats:
    sessions: int
    calls: int
    child_sessions: int
    values: dict[str, dict[str, float | None]]  # quantity -> point -> value
    first_tool_latency_mean_s: float | None
    history_cache_hit: float | None  # Σ(input - new input) / Σ input
    hash_cache_hit: float | None  # traceformat.prefix_cache.ideal_hit (from hash_ids)


def _summary(series: pl.Series) -> dict[str, float | None]:
    values = summarize(series.cast(pl.Float64).to_frame("v"), "v", ref.POINTS)
    return {k: (None if v is None else float(v)) for k, v in values.items()}


# The columns `compute` reads: `profiles.load.load(..., columns=COLUMNS)` reads only these.
COLUMNS = (
    s.SESSION_ID,
    s.CALL_INDEX,
    s.PARENT_SESSION_ID,
    s.WORKLOAD,
    s.ARRIVAL_S,
    s.THINK_S,
    s.INPUT_TOKENS,
    s.NEW_INPUT_TOKENS,
    s.OUTPUT_TOKENS,
    s.HASH_IDS,
)


def turn_frame(profile: pl.DataFrame) -> pl.DataFrame:
    """Root-session calls with per-call derived columns: n_calls, last, tool_output.

    Sessions are numbered in order of first appearance and sorted by that number: cheaper
    than sorting a large profile by its string ids (the 8k built-in: 174k rows)."""
    narrow = profile.select(
        s.SESSION_ID, s.CALL_INDEX, s.PARENT_SESSION_ID, s.THINK_S, s.INPUT_TOKENS,
        s.NEW_INPUT_TOKENS, s.OUTPUT_TOKENS,
    )  # fmt: skip
    roots = narrow.filter(pl.col(s.PARENT_SESSION_ID).is_null()).with_row_index("session")
    roots = roots.with_columns(pl.col("session").min().over(s.SESSION_ID))
    roots = roots.drop(s.SESSION_ID, s.PARENT_SESSION_ID).sort("session", s.CALL_INDEX)
    return roots.with_columns(
        n_calls=pl.len().over("session"),
        prev_output=pl.col(s.OUTPUT_TOKENS).shift(1).over("session"),
    ).with_columns(
        last=pl.col(s.CALL_INDEX) == pl.col(s.CALL_INDEX).max().over("session"),
        tool_output=(pl.col(s.NEW_INPUT_TOKENS) - pl.col("prev_output")).clip(lower_bound=0),
    )


def compute(profile: pl.DataFrame, block_size: int | None = None) -> ProfileStats:
    turns = turn_frame(profile)
    firsts = turns.filter(pl.col(s.CALL_INDEX) == 0)
    lasts = turns.filter(pl.col("last"))
    tool_turns = turns.filter(~pl.col("last"))
    after = turns.filter(pl.col(s.CALL_INDEX) > 0)
    values = {
        ref.TOOL_TURNS: _summary(firsts["n_calls"] - 1),
        ref.START_PROMPT: _summary(firsts[s.INPUT_TOKENS]),
        ref.ASSISTANT_TOKENS: _summary(tool_turns[s.OUTPUT_TOKENS]),
        ref.TOOL_OUTPUT: _summary(after["tool_output"]),
        ref.TOOL_LATENCY: _summary(after[s.THINK_S]),
        ref.FINAL_ANSWER: _summary(lasts[s.OUTPUT_TOKENS]),
    }
    first_lat = after.filter(pl.col(s.CALL_INDEX) == 1)[s.THINK_S].mean()
    inputs = int(profile[s.INPUT_TOKENS].sum())
    reused = int((profile[s.INPUT_TOKENS] - profile[s.NEW_INPUT_TOKENS]).clip(lower_bound=0).sum())
    return ProfileStats(
        sessions=int(profile.select(pl.col(s.SESSION_ID).n_unique()).item()),
        calls=profile.height,
        child_sessions=profile.filter(pl.col(s.PARENT_SESSION_ID).is_not_null())[
            s.SESSION_ID
        ].n_unique(),
        values=values,
        first_tool_latency_mean_s=None if first_lat is None else float(first_lat),  # type: ignore[arg-type]
        history_cache_hit=reused / inputs if inputs else None,
        hash_cache_hit=ideal_hit(profile, block_size),
    )
