"""Wall-clock (UTC) times for rows that carry the monotonic clock only, so a run lines up
with engine dashboards. replay records both clocks at one instant (META_INFO
``start_wall_ns`` and ``start_monotonic_ns``); a row's wall time is
``t + start_wall_ns - start_monotonic_ns``. Files written before the monotonic reading was
recorded have ``start_wall_ns`` only: it is then taken as the first scheduled send, which
is later than the truth by the time replay spent between writing its info and sending
(the preflight, well under a second on a local engine)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from agentload.traceformat import schema as s

WALL = "start_wall_ns"
MONOTONIC = "start_monotonic_ns"
UTC_COLUMNS = {s.T_SENT_NS: "sent_utc", s.T_END_NS: "end_utc"}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def offset_ns(info: dict[str, object], frame: pl.DataFrame) -> int | None:
    """wall ns - monotonic ns for this run; None when no wall time was recorded."""
    wall, mono = _int(info.get(WALL)), _int(info.get(MONOTONIC))
    if wall is None:
        return None
    if mono is not None:
        return wall - mono
    first = frame.select(pl.col(s.T_SCHEDULED_NS).min()).item() if frame.height else None
    return None if first is None else wall - int(first)


def iso(ns: int | None) -> str | None:
    """ns since the epoch as ISO 8601 UTC with milliseconds, e.g. 2026-12-02T11:33:56.120Z."""
    if ns is None:
        return None
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_columns(offset: int | None) -> list[pl.Expr]:
    """``sent_utc`` and ``end_utc`` (Datetime ns, UTC) from the monotonic columns; null
    without an offset."""
    return [
        (pl.col(mono) + offset).cast(pl.Datetime("ns", "UTC")).alias(name)
        if offset is not None
        else pl.lit(None, pl.Datetime("ns", "UTC")).alias(name)
        for mono, name in UTC_COLUMNS.items()
    ]
