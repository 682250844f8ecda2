"""The reference-table quantities of a PROFILE frame, computed directly with polars.

Independent of `profiles.stats` (which the CLI uses), so tests can check its figures."""

from __future__ import annotations

import polars as pl

from agentload.traceformat import schema as s


def measure(frame: pl.DataFrame) -> dict[str, pl.Series]:
    """Quantity name (as in ARCHITECTURE.md's table) -> its values, for root sessions."""
    calls = frame.sort(s.SESSION_ID, s.CALL_INDEX).with_columns(
        n=pl.len().over(s.SESSION_ID),
        prev_out=pl.col(s.OUTPUT_TOKENS).shift(1).over(s.SESSION_ID),
    )
    last = pl.col(s.CALL_INDEX) == pl.col("n") - 1
    first = calls.filter(pl.col(s.CALL_INDEX) == 0)
    later = calls.filter(pl.col(s.CALL_INDEX) > 0)
    return {
        "tool turns": first["n"] - 1,
        "starting prompt tokens": first[s.INPUT_TOKENS],
        "assistant tokens per tool turn": calls.filter(~last)[s.OUTPUT_TOKENS],
        "tool output tokens per turn": later[s.NEW_INPUT_TOKENS] - later["prev_out"],
        "tool latency per turn (s)": later[s.THINK_S],
        "final answer tokens": calls.filter(last)[s.OUTPUT_TOKENS],
    }


def points(series: pl.Series) -> dict[str, float]:
    """mean, p10, p50, p90, p99 and max (linear-interpolated percentiles)."""
    v = pl.col("v")
    row = (
        series.cast(pl.Float64)
        .to_frame("v")
        .select(
            mean=v.mean(),
            p10=v.quantile(0.10, "linear"),
            p50=v.quantile(0.50, "linear"),
            p90=v.quantile(0.90, "linear"),
            p99=v.quantile(0.99, "linear"),
            max=v.max(),
        )
        .row(0, named=True)
    )
    return {k: float(x) for k, x in row.items()}
