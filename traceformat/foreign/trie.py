"""Applied Compute `trie` JSONL <-> profile.

One trace per line: num_turns, input_prompt_length, assistant_response_length[num_turns],
tool_call_output_length[num_turns], tool_call_latency[num_turns] (seconds),
final_assistant_response_length. A trace of N tool turns is N + 1 calls:

- call 0: input = new input = input_prompt_length, think 0;
- call i >= 1: new input = assistant_response_length[i-1] + tool_call_output_length[i-1],
  think = tool_call_latency[i-1], input cumulative;
- output = assistant_response_length[i] for i < N, final_assistant_response_length last.

Sessions all arrive at 0 (the format has no arrival times) and carry no hash_ids. Fields the
profile has no column for are kept, as a JSON object, in EXTRA of call 0.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from agentload.base.errors import FormatError
from agentload.traceformat.foreign._jsonl import dumps, number, read_lines
from agentload.traceformat.limits import MAX_SECONDS, MAX_TOKENS, check_profile_frame
from agentload.traceformat.schema import (
    ARRIVAL_S,
    CALL_INDEX,
    EXTRA,
    INPUT_TOKENS,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    PROFILE_SCHEMA,
    SESSION_ID,
    THINK_S,
    WORKLOAD,
)

__all__ = ["TRIE_FIELDS", "as_profile_frame", "read_trie", "write_trie"]

NUM_TURNS = "num_turns"
INPUT_PROMPT = "input_prompt_length"
ASSISTANT = "assistant_response_length"
TOOL_OUTPUT = "tool_call_output_length"
TOOL_LATENCY = "tool_call_latency"
FINAL = "final_assistant_response_length"
TRIE_FIELDS = (NUM_TURNS, INPUT_PROMPT, ASSISTANT, TOOL_OUTPUT, TOOL_LATENCY, FINAL)


def _parse(path: str | os.PathLike[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in (*TRIE_FIELDS, EXTRA)}
    for line in read_lines(path):
        turns = line.count(NUM_TURNS)
        columns[NUM_TURNS].append(turns)
        columns[INPUT_PROMPT].append(line.count(INPUT_PROMPT, MAX_TOKENS))
        columns[ASSISTANT].append(line.counts(ASSISTANT, turns, MAX_TOKENS))
        columns[TOOL_OUTPUT].append(line.counts(TOOL_OUTPUT, turns, MAX_TOKENS))
        columns[TOOL_LATENCY].append(line.numbers(TOOL_LATENCY, turns, MAX_SECONDS))
        columns[FINAL].append(line.count(FINAL, MAX_TOKENS))
        extra = {k: v for k, v in line.record.items() if k not in TRIE_FIELDS}
        columns[EXTRA].append(json.dumps(extra, ensure_ascii=False) if extra else None)
    return columns


def read_trie(path: str | os.PathLike[str], workload: str | None = None) -> pl.DataFrame:
    """A trie JSONL file as a PROFILE-shaped frame (sessions `trie-<n>` in file order)."""
    source = Path(path)
    columns = _parse(source)
    if not columns[NUM_TURNS]:
        raise FormatError(f"{source}: no traces (expected one JSON object per line)")
    schema: pl.Schema = pl.Schema(
        {
            NUM_TURNS: pl.Int64(),
            INPUT_PROMPT: pl.Int64(),
            ASSISTANT: pl.List(pl.Int64),
            TOOL_OUTPUT: pl.List(pl.Int64),
            TOOL_LATENCY: pl.List(pl.Float64),
            FINAL: pl.Int64(),
            EXTRA: pl.String(),
        }
    )
    traces = pl.DataFrame(columns, schema=schema)
    width = len(str(traces.height))
    calls = (
        traces.with_row_index("trace")
        .select(
            (pl.lit("trie-") + pl.col("trace").cast(pl.String).str.zfill(width)).alias(SESSION_ID),
            pl.concat_list(pl.col(INPUT_PROMPT), pl.col(ASSISTANT) + pl.col(TOOL_OUTPUT)).alias(
                NEW_INPUT_TOKENS
            ),
            pl.concat_list(pl.lit(0.0), pl.col(TOOL_LATENCY)).alias(THINK_S),
            pl.concat_list(pl.col(ASSISTANT), pl.col(FINAL)).alias(OUTPUT_TOKENS),
            pl.col(EXTRA),
        )
        .explode([NEW_INPUT_TOKENS, THINK_S, OUTPUT_TOKENS])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over(SESSION_ID).alias(CALL_INDEX))
        .with_columns(
            pl.col(NEW_INPUT_TOKENS).cum_sum().over(SESSION_ID).alias(INPUT_TOKENS),
            pl.when(pl.col(CALL_INDEX) == 0).then(pl.col(EXTRA)).alias(EXTRA),
            pl.lit(workload or source.stem).alias(WORKLOAD),
            pl.lit(0.0).alias(ARRIVAL_S),
        )
    )
    frame = as_profile_frame(calls)
    # Each field is bounded, but a session's prompt grows with every turn (cumulative).
    check_profile_frame(frame, str(source))
    return frame


def as_profile_frame(calls: pl.DataFrame) -> pl.DataFrame:
    """Select PROFILE columns in schema order, nulls for the ones the source lacks."""
    empty = pl.from_arrow(PROFILE_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    return calls.select(
        pl.col(name).cast(dtype) if name in calls.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in empty.schema.items()
    )


def trie_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """One trie record per session (in order of first appearance) of a PROFILE frame.

    Tool output per turn is new input minus the previous output, floored at 0 (a captured
    session whose context shrank has no trie equivalent)."""
    n = pl.len() - 1
    sessions = (
        frame.sort(CALL_INDEX, maintain_order=True)
        .group_by(SESSION_ID, maintain_order=True)
        .agg(
            n.alias(NUM_TURNS),
            pl.col(INPUT_TOKENS).first().alias(INPUT_PROMPT),
            pl.col(OUTPUT_TOKENS).head(n).alias(ASSISTANT),
            (pl.col(NEW_INPUT_TOKENS).tail(n) - pl.col(OUTPUT_TOKENS).head(n))
            .clip(lower_bound=0)
            .alias(TOOL_OUTPUT),
            pl.col(THINK_S).tail(n).alias(TOOL_LATENCY),
            pl.col(OUTPUT_TOKENS).last().alias(FINAL),
            pl.col(EXTRA).first().alias(EXTRA),
        )
    )
    records = []
    for row in sessions.iter_rows(named=True):
        record: dict[str, Any] = {}
        if row[EXTRA]:
            record.update(json.loads(row[EXTRA]))
        record.update({name: row[name] for name in TRIE_FIELDS})
        record[TOOL_LATENCY] = [number(v) for v in row[TOOL_LATENCY]]
        records.append(record)
    return records


def write_trie(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a PROFILE frame as trie JSONL (one line per session; parents are not kept)."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        for record in trie_records(frame):
            out.write(dumps(record) + "\n")
    return target
