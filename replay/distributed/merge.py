"""Merge per-actor result rows into one table on the driver's clock.

Every actor stamps its rows with its own monotonic clock. The driver measured each actor's
offset (remote - driver) before the run, so subtracting it puts all rows on the driver's
monotonic clock; chunk offsets are relative to the send time and need no change. The
actor's schedule was the driver's epoch shifted by the same offset, so scheduled times come
back exactly on the driver's schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from agentload.replay.distributed.clock import ClockOffset, drift_slope
from agentload.traceformat import schema as S

__all__ = [
    "TIME_COLUMNS",
    "add_ray_diagnostics",
    "apply_drift",
    "to_driver_clock",
]

TIME_COLUMNS = (S.T_SCHEDULED_NS, S.T_SENT_NS, S.T_FIRST_TOKEN_NS, S.T_END_NS)


def to_driver_clock(part: pl.DataFrame, offset_ns: int, worker: int, node: str) -> pl.DataFrame:
    """Rows of one actor with times shifted onto the driver clock and WORKER/NODE set."""
    return part.with_columns(
        *[(pl.col(c) - offset_ns).alias(c) for c in TIME_COLUMNS],
        pl.lit(worker, dtype=pl.Int32).alias(S.WORKER),
        pl.lit(node, dtype=pl.String).alias(S.NODE),
    )


def apply_drift(
    frame: pl.DataFrame, worker: int, before: ClockOffset | None, after: ClockOffset | None
) -> pl.DataFrame:
    """Correct one worker's rows (already shifted by `before`) for clock drift measured
    between `before` and `after`: the offset is taken to change linearly in between."""
    if before is None or after is None:
        return frame
    slope = drift_slope(before, after)
    if slope == 0.0:
        return frame
    # A time t' converted with the first offset is t + slope * (t - at); invert exactly.
    factor = slope / (1.0 + slope)
    mine = pl.col(S.WORKER) == worker
    return frame.with_columns(
        pl.when(mine)
        .then(pl.col(c) - ((pl.col(c) - before.at_ns) * factor).round().cast(pl.Int64))
        .otherwise(pl.col(c))
        .alias(c)
        for c in TIME_COLUMNS
    )


def add_ray_diagnostics(
    diagnostics: dict[str, Any], actors: Sequence[Mapping[str, Any]], epoch_lead_s: float
) -> bool:
    """Add the per-actor record (node, clock offset, status) and one warning per failed
    actor to `diagnostics`; returns whether the run is complete (no actor failed)."""
    warnings: list[str] = diagnostics.setdefault("warnings", [])
    failed = [a for a in actors if a["status"] != "done"]
    for actor in failed:
        warnings.append(
            f"ray actor {actor['worker']} on {actor['hostname'] or 'an unknown node'} "
            f"{actor['status']}: {actor['error']}; {actor['rows']} of its rows kept, "
            "the rest of its sessions are missing"
        )
    diagnostics["ray"] = {
        "clock": "driver monotonic (actor times shifted by their measured offsets)",
        "epoch_lead_s": epoch_lead_s,
        "actors": [dict(a) for a in actors],
        "failed_actors": [a["worker"] for a in failed],
    }
    return not failed
