"""Bad input through the real CLI: one line on stderr naming the file and field or line,
a non-zero exit status, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from agentload.base.errors import WrongKindError
from agentload.traceformat.integrity import batch_metadata
from agentload.traceformat.io import read, write_file
from agentload.traceformat.schema import (
    ARRIVAL_S,
    CALL_INDEX,
    INPUT_TOKENS,
    META_VERSION,
    NEW_INPUT_TOKENS,
    OUTPUT_TOKENS,
    PROFILE_SCHEMA,
    SESSION_ID,
    THINK_S,
    WORKLOAD,
    Kind,
    schema_for,
)
from tests.traceformat.test_corrupt import damage_item_name, write_bad_offsets, write_samples

ROW = {
    SESSION_ID: "s",
    CALL_INDEX: 0,
    WORKLOAD: "w",
    ARRIVAL_S: 0.0,
    THINK_S: 0.0,
    INPUT_TOKENS: 10,
    NEW_INPUT_TOKENS: 10,
    OUTPUT_TOKENS: 2,
}


def agentload() -> str:
    beside = Path(sys.executable).parent / "agentload"
    found = str(beside) if beside.exists() else shutil.which("agentload")
    assert found, "the agentload console script is not installed (make venv)"
    return found


def run_fails(*args: str, status: int | None = None) -> str:
    """Run the CLI, check it failed cleanly (with `status` if given), and return its single
    stderr line."""
    proc = subprocess.run(
        [agentload(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode != 0, proc.stdout
    assert status is None or proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def raw_arrow(path: Path, schema: pa.Schema) -> Path:
    """A one-row file of `schema`, with checksums as our writers put them."""
    batch = pa.RecordBatch.from_pylist([ROW], schema=schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(batch, custom_metadata=batch_metadata(batch, schema))
    return path


def profile(path: Path) -> Path:
    return write_file(path, Kind.PROFILE, pl.DataFrame([ROW]))


def test_corrupt_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.arrow"
    garbage.write_bytes(b"\x00\x01 this is not arrow at all" * 10)
    line = run_fails("inspect", str(garbage))
    assert str(garbage) in line and "not an agentload Arrow file" in line
    # A real file cut inside its schema message.
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(profile(tmp_path / "whole.arrow").read_bytes()[:40])
    line = run_fails("inspect", str(cut))
    assert str(cut) in line


def test_damaged_batch(tmp_path: Path) -> None:
    """Offsets that go backwards decode fine and used to segfault the CLI inside polars."""
    path = write_bad_offsets(tmp_path / "bad.arrow")
    line = run_fails("inspect", str(path), status=2)
    assert line.startswith(f"error: {path}: corrupt file: record batch 0 is damaged"), line
    assert "non-monotonic offset" in line


def test_damaged_field_name_is_not_a_panic(tmp_path: Path) -> None:
    """A list item name that is not UTF-8 used to make polars panic: a Rust backtrace on
    stderr and a traceback."""
    path = damage_item_name(write_samples(tmp_path)[0])
    line = run_fails("inspect", str(path), status=2)
    assert (
        line
        == f"error: {path}: corrupt file: a field name or field metadata in the schema is not UTF-8"
    )


def test_wrong_kind(tmp_path: Path) -> None:
    path = profile(tmp_path / "p.arrow")
    line = run_fails("inspect", "--kind", "result", str(path))
    assert str(path) in line and "is a profile file, expected a result file" in line
    with pytest.raises(WrongKindError, match="expected a trace file"):
        read(path, kind=Kind.TRACE)


def test_future_major_version(tmp_path: Path) -> None:
    path = raw_arrow(tmp_path / "future.arrow", schema_for(Kind.PROFILE, {META_VERSION: b"2.0"}))
    line = run_fails("inspect", str(path))
    assert str(path) in line and "format version 2.0 is not supported" in line


def test_missing_and_mistyped_columns(tmp_path: Path) -> None:
    meta = schema_for(Kind.PROFILE).metadata
    no_think = PROFILE_SCHEMA.remove(PROFILE_SCHEMA.get_field_index(THINK_S))
    path = raw_arrow(tmp_path / "nothink.arrow", no_think.with_metadata(meta))
    line = run_fails("inspect", str(path))
    assert str(path) in line and "'think_s'" in line
    index = PROFILE_SCHEMA.get_field_index(CALL_INDEX)
    mistyped = PROFILE_SCHEMA.set(index, pa.field(CALL_INDEX, pa.int64())).with_metadata(meta)
    path = raw_arrow(tmp_path / "mistyped.arrow", mistyped)
    line = run_fails("inspect", str(path))
    assert str(path) in line and "'call_index' has type int64, expected int32" in line


def test_malformed_jsonl_lines(tmp_path: Path) -> None:
    good = {
        "num_turns": 1,
        "input_prompt_length": 100,
        "assistant_response_length": [5],
        "tool_call_output_length": [7],
        "tool_call_latency": [0.5],
        "final_assistant_response_length": 9,
    }
    trie = tmp_path / "trie.jsonl"
    bad = {**good, "tool_call_latency": ["slow"]}
    trie.write_text("\n".join(json.dumps(r) for r in (good, good, bad)) + "\n")
    line = run_fails("inspect", str(trie))
    assert f"{trie}:3: field 'tool_call_latency'" in line

    mooncake = tmp_path / "mooncake.jsonl"
    mooncake.write_text('{"timestamp": 0, "input_length": 5, "output_length": 1}\n{"timest\n')
    line = run_fails("inspect", str(mooncake))
    assert f"{mooncake}:2: expected a JSON object" in line

    mooncake.write_text('{"timestamp": 0, "input_length": 5, "output_length": -1}\n')
    line = run_fails("inspect", str(mooncake))
    assert f"{mooncake}:1: field 'output_length'" in line


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.arrow"
    line = run_fails("inspect", str(path))
    # inspect takes built-in names too, so it says so, as replay does
    assert str(path) in line and "no such file and no built-in profile" in line
