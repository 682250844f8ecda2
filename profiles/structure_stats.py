"""What a profile's sessions look like beyond the marginals: the correlations issue 18 names,
the final context and the distance between two profiles' distributions (pure functions;
used by `profile stats A B`, the synthesis benchmark and its tests).

Correlations are Spearman's (Pearson's of average ranks). Session level: tool turns vs the
final answer and vs the mean tool output. Per tool turn: tool output vs tool latency,
assistant tokens vs tool latency, and a tool latency vs the previous one of its session.
Final context: the input tokens of each root session's last call.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from agentload.profiles.session_model import sessions_frame
from agentload.traceformat import schema as s

# The columns these functions read (a lean `profiles.load.load`).
COLUMNS: Final = (
    s.SESSION_ID,
    s.CALL_INDEX,
    s.PARENT_SESSION_ID,
    s.ARRIVAL_S,
    s.THINK_S,
    s.INPUT_TOKENS,
    s.NEW_INPUT_TOKENS,
    s.OUTPUT_TOKENS,
)
CORRELATIONS: Final = (
    "turns vs final answer",
    "turns vs mean tool output",
    "tool output vs tool latency",
    "tool latency vs the previous one",
    "assistant tokens vs tool latency",
)
# Quantities compared between two profiles: name -> how to get them from sessions_frame.
MARGINALS: Final = (
    "tool turns",
    "starting prompt",
    "assistant tokens",
    "tool output",
    "tool latency",
    "first tool latency",
    "final answer",
    "final context",
)


def _spearman(frame: pl.DataFrame, x: str, y: str) -> float | None:
    pairs = frame.select(x, y).drop_nulls()
    if pairs.height < 3:
        return None
    value = pairs.select(pl.corr(x, y, method="spearman")).item()
    return None if value is None else float(value)


def _turns(sessions: pl.DataFrame) -> pl.DataFrame:
    per_turn = sessions.select("session", "assistant", "tool_output", "latency")
    per_turn = per_turn.explode(["assistant", "tool_output", "latency"]).drop_nulls("latency")
    return per_turn.with_columns(
        t=pl.int_range(pl.len()).over("session"),
        prev_latency=pl.col("latency").shift(1).over("session"),
    )


def correlations(profile: pl.DataFrame) -> dict[str, float | None]:
    return session_correlations(sessions_frame(profile))


def session_correlations(sessions: pl.DataFrame) -> dict[str, float | None]:
    """`correlations` of a `session_model.sessions_frame`-shaped frame."""
    level = sessions.filter(pl.col("turns") > 0).with_columns(
        mean_tool=pl.col("tool_output").list.mean()
    )
    turns = _turns(sessions)
    return dict(
        zip(
            CORRELATIONS,
            (
                _spearman(sessions, "turns", "final"),
                _spearman(level, "turns", "mean_tool"),
                _spearman(turns, "tool_output", "latency"),
                _spearman(turns, "prev_latency", "latency"),
                _spearman(turns, "assistant", "latency"),
            ),
            strict=True,
        )
    )


def marginals(profile: pl.DataFrame) -> dict[str, pl.Series]:
    sessions = sessions_frame(profile)
    turns = _turns(sessions)
    final_context = sessions.select(
        pl.col("start") + pl.col("assistant").list.sum() + pl.col("tool_output").list.sum()
    ).to_series()
    return {
        "tool turns": sessions["turns"].cast(pl.Float64),
        "starting prompt": sessions["start"].cast(pl.Float64),
        "assistant tokens": turns["assistant"],
        "tool output": turns["tool_output"],
        "tool latency": turns["latency"],
        "first tool latency": turns.filter(pl.col("t") == 0)["latency"],
        "final answer": sessions["final"].cast(pl.Float64),
        "final context": final_context.cast(pl.Float64),
    }


def ks_distance(a: pl.Series, b: pl.Series) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the two ECDFs."""
    xa, xb = sorted(a.drop_nulls().to_list()), sorted(b.drop_nulls().to_list())
    if not xa or not xb:
        return 1.0
    i = j = 0
    gap = 0.0
    while i < len(xa) and j < len(xb):
        value = min(xa[i], xb[j])
        while i < len(xa) and xa[i] <= value:
            i += 1
        while j < len(xb) and xb[j] <= value:
            j += 1
        gap = max(gap, abs(i / len(xa) - j / len(xb)))
    return gap


def quantile(series: pl.Series, p: float) -> float:
    value = series.quantile(p, "linear")
    return float("nan") if value is None else float(value)
