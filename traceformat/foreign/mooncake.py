"""Mooncake JSONL (as AIPerf reads it) <-> profile.

One request per line: `timestamp` (arrival, ms), `input_length`, `output_length` (tokens),
`hash_ids` (ids of the prompt's fixed-size token blocks, 512 tokens by default). AIPerf's
multi-turn extension adds `session_id` (rows sharing it are the turns of one session, in
file order) and `delay` (ms to wait before sending the turn, after the previous turn).

Mapping: a row without session_id is a session of one call (`mooncake-<line>`); a session
arrives at its first row's timestamp; a later turn's think time is its delay, or, when it
has only a timestamp, the gap between its timestamp and the previous turn's (an upper
bound: the response time is inside it). New input is the growth of input_length over the
previous turn (the whole prompt when it shrank).

Export writes `timestamp` on a session's first row, `delay` on the others, and `session_id`
for sessions of several calls. Whatever the original row had beyond that (other fields,
other timing fields, a session id on a single row) is kept in EXTRA on import, under the
row's own field names plus the key `agentload:mooncake` for known fields whose original
value differs from the default export ({"set": {...}, "unset": [...]}), so that import -> export
reproduces every line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from agentload.base.errors import FormatError
from agentload.traceformat.foreign._jsonl import Line, dumps, number, read_lines
from agentload.traceformat.foreign.trie import as_profile_frame
from agentload.traceformat.limits import MAX_BLOCK_SIZE, MAX_SECONDS, MAX_TOKENS, check_count
from agentload.traceformat.schema import (
    ARRIVAL_S,
    CALL_INDEX,
    EXTRA,
    HASH_IDS,
    INPUT_TOKENS,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    SESSION_ID,
    THINK_S,
    WORKLOAD,
)

__all__ = ["DEFAULT_BLOCK_SIZE", "mooncake_records", "read_mooncake", "write_mooncake"]

DEFAULT_BLOCK_SIZE = 512
TIMESTAMP = "timestamp"
INPUT_LENGTH = "input_length"
OUTPUT_LENGTH = "output_length"
HASH_IDS_FIELD = "hash_ids"
SESSION = "session_id"
DELAY = "delay"
KNOWN = (TIMESTAMP, INPUT_LENGTH, OUTPUT_LENGTH, HASH_IDS_FIELD, SESSION, DELAY)
_MAX_MS = MAX_SECONDS * 1000  # timestamps and delays are in ms
OVERRIDES = "agentload:mooncake"  # EXTRA key: known fields the default export gets wrong


def _parse_row(line: Line) -> dict[str, Any]:
    record = line.record
    session = record.get(SESSION)
    if session is not None and (not isinstance(session, str | int) or isinstance(session, bool)):
        raise line.fail(SESSION, "a string")
    hash_ids = record.get(HASH_IDS_FIELD)
    if hash_ids is not None:
        hash_ids = line.counts(HASH_IDS_FIELD)
    return {
        "line": line.where.rsplit(":", 1)[1],
        SESSION: None if session is None else str(session),
        TIMESTAMP: line.optional_number(TIMESTAMP, _MAX_MS),
        DELAY: line.optional_number(DELAY, _MAX_MS),
        INPUT_LENGTH: line.count(INPUT_LENGTH, MAX_TOKENS),
        OUTPUT_LENGTH: line.count(OUTPUT_LENGTH, MAX_TOKENS),
        HASH_IDS_FIELD: hash_ids,
    }


def read_mooncake(
    path: str | os.PathLike[str],
    block_size: int = DEFAULT_BLOCK_SIZE,
    workload: str | None = None,
) -> pl.DataFrame:
    """A Mooncake JSONL file as a PROFILE-shaped frame (hash_ids kept as they are).

    `block_size` is the token count of one hash block; it is not stored in the file, so
    callers pass it on to replay (see `traceformat.sources.load_profile_frame`)."""
    source = Path(path)
    check_count("mooncake block size", block_size, 1, MAX_BLOCK_SIZE)
    originals: list[dict[str, Any]] = []
    parsed: list[dict[str, Any]] = []
    for line in read_lines(source):
        parsed.append(_parse_row(line))
        originals.append(line.record)
    if not parsed:
        raise FormatError(f"{source}: no requests (expected one JSON object per line)")
    frame = _calls(pl.DataFrame(parsed, schema=_ROW_SCHEMA), workload or source.stem)
    defaults = mooncake_records(frame)
    extras = [_extra(o, d) for o, d in zip(originals, defaults, strict=True)]
    return frame.with_columns(pl.Series(EXTRA, extras, dtype=pl.String))


_ROW_SCHEMA: pl.Schema = pl.Schema(
    {
        "line": pl.String(),
        SESSION: pl.String(),
        TIMESTAMP: pl.Float64(),
        DELAY: pl.Float64(),
        INPUT_LENGTH: pl.Int64(),
        OUTPUT_LENGTH: pl.Int64(),
        HASH_IDS_FIELD: pl.List(pl.Int64),
    }
)


def _calls(rows: pl.DataFrame, workload: str) -> pl.DataFrame:
    """Rows (file order) -> PROFILE calls; the mapping is the module docstring's."""
    session = pl.col(SESSION_ID)
    previous_input = pl.col(INPUT_TOKENS).shift(1).over(session)
    calls = rows.with_columns(
        pl.coalesce(pl.col(SESSION), pl.lit("mooncake-") + pl.col("line")).alias(SESSION_ID),
        pl.col(INPUT_LENGTH).alias(INPUT_TOKENS),
        pl.col(OUTPUT_LENGTH).alias(OUTPUT_TOKENS),
        pl.col(HASH_IDS_FIELD).alias(HASH_IDS),
    ).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over(session).alias(CALL_INDEX),
        (pl.col(TIMESTAMP).first().over(session).fill_null(0.0) / 1000).alias(ARRIVAL_S),
        pl.when(previous_input.is_null())
        .then(0.0)
        .otherwise(
            pl.coalesce(
                pl.col(DELAY),
                (pl.col(TIMESTAMP) - pl.col(TIMESTAMP).shift(1).over(session)).clip(0.0),
                pl.lit(0.0),
            )
            / 1000
        )
        .alias(THINK_S),
        pl.when(previous_input.is_null() | (pl.col(INPUT_TOKENS) < previous_input))
        .then(pl.col(INPUT_TOKENS))
        .otherwise(pl.col(INPUT_TOKENS) - previous_input)
        .alias(NEW_INPUT_TOKENS),
        pl.lit(workload).alias(WORKLOAD),
        pl.lit(None, pl.String).alias(EXTRA),
    )
    return as_profile_frame(calls)


def _extra(original: dict[str, Any], default: dict[str, Any]) -> str | None:
    """EXTRA for one row: unknown fields, plus known ones the default export gets wrong."""
    extra: dict[str, Any] = {k: v for k, v in original.items() if k not in KNOWN}
    wrong = [
        name
        for name in KNOWN
        if (name in original) != (name in default) or original.get(name) != default.get(name)
    ]
    if wrong:
        overrides: dict[str, Any] = {}
        if any(name in original for name in wrong):
            overrides["set"] = {name: original[name] for name in wrong if name in original}
        if any(name not in original for name in wrong):
            overrides["unset"] = [name for name in wrong if name not in original]
        extra[OVERRIDES] = overrides
    return json.dumps(extra, ensure_ascii=False) if extra else None


def mooncake_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """One Mooncake record per PROFILE row, in frame order (sessions keep their rows)."""
    session = pl.col(SESSION_ID)
    timing = frame.select(
        session,
        pl.len().over(session).alias("calls"),
        (pl.col(CALL_INDEX) == pl.col(CALL_INDEX).min().over(session)).alias("first"),
        (pl.col(ARRIVAL_S) * 1000).round(6).alias(TIMESTAMP),
        (pl.col(THINK_S) * 1000).round(6).alias(DELAY),
        pl.col(INPUT_TOKENS),
        pl.col(OUTPUT_TOKENS),
        pl.col(HASH_IDS),
        pl.col(EXTRA),
    )
    records = []
    for row in timing.iter_rows(named=True):
        record: dict[str, Any] = {}
        if row["first"]:
            record[TIMESTAMP] = number(row[TIMESTAMP])
        if row["calls"] > 1:
            record[SESSION] = row[SESSION_ID]
            if not row["first"]:
                record[DELAY] = number(row[DELAY])
        record[INPUT_LENGTH] = row[INPUT_TOKENS]
        record[OUTPUT_LENGTH] = row[OUTPUT_TOKENS]
        if row[HASH_IDS] is not None:
            record[HASH_IDS_FIELD] = row[HASH_IDS]
        if row[EXTRA]:
            _apply_extra(record, json.loads(row[EXTRA]))
        records.append(record)
    return records


def _apply_extra(record: dict[str, Any], extra: dict[str, Any]) -> None:
    overrides = extra.pop(OVERRIDES, None) or {}
    record.update(extra)
    record.update(overrides.get("set", {}))
    for name in overrides.get("unset", []):
        record.pop(name, None)


def write_mooncake(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a PROFILE frame as Mooncake JSONL, one line per call, in frame order."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        for record in mooncake_records(frame):
            out.write(dumps(record) + "\n")
    return target
