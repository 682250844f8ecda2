"""Merge the workers' part files into one result file, with the run's metadata.

EXPECTED_CACHED_TOKENS is computed here, over all workers' rows in send order, because the
ideal prefix cache is the engine's (shared by every worker), not any one worker's.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from agentload.base.errors import FormatError
from agentload.replay.plan import CallPlan, Plan, SessionPlan, salt_hash_ids, split_cycled
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.prefix_cache import expected_cached
from agentload.traceformat.schema import Kind


def read_parts(parts: list[Path]) -> pl.DataFrame:
    """All rows of the workers' part streams (a truncated part keeps its complete batches)."""
    frames = []
    for part in parts:
        try:
            frames.append(io.read(part, Kind.RESULT).frame)
        except FormatError:
            if part.exists() and part.stat().st_size > 0:
                raise
    if not frames:
        return pl.DataFrame(schema=pl.from_arrow(S.RESULT_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]
    return pl.concat(frames, how="vertical_relaxed")


def with_expected_cached(frame: pl.DataFrame, plan: Plan, block_size: int) -> pl.DataFrame:
    """Fill EXPECTED_CACHED_TOKENS from the plan's hash ids, in actual send order."""
    if not plan.has_hash_ids or frame.is_empty():
        return frame
    by_id: dict[str, SessionPlan] = {s.session_id: s for s in plan.all_sessions()}
    frame = frame.sort(S.T_SENT_NS, S.T_SCHEDULED_NS, nulls_last=True)
    calls: list[tuple[int, tuple[int, ...] | None]] = []
    for sid, index, sent in zip(
        frame[S.SESSION_ID].to_list(),
        frame[S.CALL_INDEX].to_list(),
        frame[S.T_SENT_NS].to_list(),
        strict=True,
    ):
        base, cycle = split_cycled(sid)
        session = by_id.get(base) or by_id.get(sid)
        call = None if session is None else _call(session, index)
        if call is None or call.hash_ids is None or sent is None:
            calls.append((0, None))
        else:
            calls.append((call.input_tokens, salt_hash_ids(call.hash_ids, cycle)))
    values = expected_cached(calls, block_size)
    return frame.with_columns(pl.Series(S.EXPECTED_CACHED_TOKENS, values, dtype=pl.Int64))


def _call(session: SessionPlan, index: int) -> CallPlan | None:
    for call in session.calls:
        if call.index == index:
            return call
    return None


def write_result(
    path: Path,
    frame: pl.DataFrame,
    info: dict[str, object],
    *,
    complete: bool,
    engine_metrics: list[dict[str, object]],
    diagnostics: dict[str, object],
) -> Path:
    frame = frame.sort(S.T_SCHEDULED_NS, S.SESSION_ID, S.CALL_INDEX)
    extra = {
        S.META_COMPLETE: b"true" if complete else b"false",
        S.META_ENGINE_METRICS: json.dumps(engine_metrics).encode(),
        S.META_DIAGNOSTICS: json.dumps(diagnostics).encode(),
    }
    return io.write_file(path, Kind.RESULT, frame, info=info, extra_metadata=extra)
