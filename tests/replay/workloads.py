"""Synthetic profiles for replay tests, with known timing, lengths and prefix sharing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind

BLOCK = 16
SHARED_BLOCKS = 8  # every session starts with the same 128-token system prompt


@dataclass(frozen=True)
class Shape:
    sessions: int = 6
    calls: int = 4
    arrival_step_s: float = 0.1
    think_s: tuple[float, ...] = (0.05, 0.12, 0.2, 0.08)
    outputs: tuple[int, ...] = (8, 12, 16, 5)
    first_input: int = 170
    child: bool = True  # session 0, call 1 spawns a child session


def _hash_ids(session: int, n_tokens: int) -> list[int]:
    n_blocks = -(-n_tokens // BLOCK)
    own = [1_000_000 * (session + 1) + k for k in range(n_blocks)]
    return [k + 1 for k in range(SHARED_BLOCKS)] + own[SHARED_BLOCKS:]


def _session_rows(sid: str, index: int, shape: Shape, arrival: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    n_input = shape.first_input + 7 * index
    for call in range(shape.calls):
        new = (
            n_input if call == 0 else shape.outputs[(call - 1) % len(shape.outputs)] + 23 + 5 * call
        )
        if call:
            n_input += new
        rows.append(
            {
                S.SESSION_ID: sid,
                S.CALL_INDEX: call,
                S.PARENT_SESSION_ID: None,
                S.PARENT_CALL_INDEX: None,
                S.WORKLOAD: "test",
                S.ARRIVAL_S: arrival,
                S.THINK_S: 0.0 if call == 0 else shape.think_s[(call + index) % len(shape.think_s)],
                S.INPUT_TOKENS: n_input,
                S.NEW_INPUT_TOKENS: new,
                S.OUTPUT_TOKENS: shape.outputs[(call + index) % len(shape.outputs)],
                S.HASH_IDS: _hash_ids(index, n_input),
                S.EXTRA: None,
            }
        )
    return rows


def profile_frame(shape: Shape) -> pl.DataFrame:
    rows: list[dict[str, object]] = []
    for i in range(shape.sessions):
        rows += _session_rows(f"s{i:02d}", i, shape, i * shape.arrival_step_s)
    if shape.child:
        child = _session_rows("s00-child", shape.sessions, Shape(calls=2), 0.0)
        for row in child:
            row[S.PARENT_SESSION_ID] = "s00"
            row[S.PARENT_CALL_INDEX] = 1
        child[0][S.THINK_S] = 0.03
        rows += child
    return pl.DataFrame(rows, schema=pl.DataFrame(S.PROFILE_SCHEMA.empty_table()).schema)


def write_profile(path: Path, shape: Shape | None = None) -> pl.DataFrame:
    frame = profile_frame(shape or Shape())
    io.write_file(
        path, Kind.PROFILE, frame, extra_metadata={S.META_BLOCK_SIZE: str(BLOCK).encode()}
    )
    return frame
