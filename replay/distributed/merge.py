"""Merge per-actor result rows into one table on the driver's clock.

Every actor stamps its rows with its own monotonic clock. The driver measured each actor's
offset (remote - driver) before the run, so subtracting it puts all rows on the driver's
monotonic clock; chunk offsets are relative to the send time and need no change. The
actor's schedule was the driver's epoch shifted by the same offset, so scheduled times come
back exactly on the driver's schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from traceformat import schema as S

__all__ = ["TIME_COLUMNS", "merge_parts", "to_driver_clock"]

TIME_COLUMNS = (S.T_SCHEDULED_NS, S.T_SENT_NS, S.T_FIRST_TOKEN_NS, S.T_END_NS)


def to_driver_clock(part: pl.DataFrame, offset_ns: int, worker: int, node: str) -> pl.DataFrame:
    """Rows of one actor with times shifted onto the driver clock and WORKER/NODE set."""
    return part.with_columns(
        *[(pl.col(c) - offset_ns).alias(c) for c in TIME_COLUMNS],
        pl.lit(worker, dtype=pl.Int32).alias(S.WORKER),
        pl.lit(node, dtype=pl.String).alias(S.NODE),
    )


def merge_parts(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate converted parts in schedule order (ties: session, call)."""
    if not parts:
        return pl.from_arrow(S.RESULT_SCHEMA.empty_table())  # type: ignore[return-value]
    merged = pl.concat(parts, how="vertical_relaxed")
    return merged.sort(S.T_SCHEDULED_NS, S.SESSION_ID, S.CALL_INDEX)


def empty_result() -> pa.Table:
    return S.RESULT_SCHEMA.empty_table()
