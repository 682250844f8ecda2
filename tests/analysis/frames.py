"""Builders for small RESULT frames with hand-picked values."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from agentload.traceformat import schema as s

MS = 1_000_000
SEC = 1_000_000_000


def row(session: str, call: int, **values: Any) -> dict[str, Any]:
    """One result row: ok, not warmup, worker 0, scheduled = sent unless given."""
    base: dict[str, Any] = {
        s.SESSION_ID: session,
        s.CALL_INDEX: call,
        s.WORKER: 0,
        s.FINAL_CALL: False,
        s.WARMUP: False,
        s.STATUS: "ok",
    }
    base.update(values)
    base.setdefault(s.T_SCHEDULED_NS, base.get(s.T_SENT_NS, 0))
    return base


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    table = pa.Table.from_pylist(rows, schema=s.RESULT_SCHEMA)
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def request(
    session: str,
    call: int,
    sent_s: float,
    first_s: float | None,
    end_s: float | None,
    completion: int | None = 10,
    prompt: int | None = 100,
    cached: int | None = 0,
    **values: Any,
) -> dict[str, Any]:
    """A request with times in seconds (converted to ns); no usage (None) for a failure."""

    def ns(x: float | None) -> int | None:
        return None if x is None else round(x * SEC)

    return row(
        session,
        call,
        **{
            s.T_SENT_NS: ns(sent_s),
            s.T_FIRST_TOKEN_NS: ns(first_s),
            s.T_END_NS: ns(end_s),
            s.COMPLETION_TOKENS: completion,
            s.PROMPT_TOKENS: prompt,
            s.CACHED_TOKENS: cached,
            **values,
        },
    )
