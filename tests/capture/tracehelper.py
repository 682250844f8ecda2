"""Reading what a capture proxy wrote, from tests."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pyarrow as pa

from agentload.base.errors import CorruptFileError
from agentload.capture.process import RowBuilder
from agentload.capture.stitch import Stitcher, group_session_id
from agentload.traceformat import schema as S
from agentload.traceformat.content import ContentStore, content_table
from agentload.traceformat.io import read, read_table

SECRET = "sk-agentload-SECRET-0123456789abcdefXYZ"  # never to be found in any output file


def session_of(header_value: str) -> str:
    """Session id of calls sent with `X-Session-ID: header_value`."""
    return group_session_id(f"x-session-id={header_value}")


def row_builder(redact: bool = False) -> RowBuilder:
    """A RowBuilder with a fresh store, no session headers or rules, workload "w"."""
    return RowBuilder(
        ContentStore(),
        Stitcher("t"),
        session_headers=(),
        rules=(),
        default_workload="w",
        redact=redact,
    )


def decoded_bytes(path: Path) -> bytes:
    """A trace file's complete batches and metadata re-serialised *uncompressed*: the bytes
    to search for text (the file itself is zstd-compressed, so grepping it proves nothing)."""
    table, _ = read_table(path)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:  # no compression
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def load(out_dir: Path) -> pl.DataFrame:
    frames = [read(p).frame for p in sorted(out_dir.glob("*.arrow")) if p.stat().st_size]
    return pl.concat(frames) if frames else pl.DataFrame(schema=pl.Schema())


def load_live(out_dir: Path) -> pl.DataFrame:
    """`load` of files a running capture may be writing: its first batch may be on disk
    only in part, which the reader rightly calls damage (no complete batch); that is
    "no rows yet" here, and the caller looks again."""
    try:
        return load(out_dir)
    except CorruptFileError:
        return pl.DataFrame(schema=pl.Schema())


def wait_rows(out_dir: Path, n: int, timeout: float = 6.0) -> pl.DataFrame:
    """All rows once at least `n` are on disk."""
    deadline = time.monotonic() + timeout
    while (frame := load_live(out_dir)).height < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {n} rows, have:\n{frame}")
        time.sleep(0.1)
    return frame


def rows_for(out_dir: Path, session_id: str, n: int, timeout: float = 6.0) -> pl.DataFrame:
    """The session's rows once `n` are on disk (rows are flushed at least every second)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = load_live(out_dir)
        if frame.height:
            rows = frame.filter(pl.col(S.SESSION_ID) == session_id).sort(S.CALL_INDEX)
            if rows.height >= n:
                return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {n} rows of {session_id}, have:\n{frame}")
        time.sleep(0.1)


def contents(out_dir: Path) -> dict[str, str | None]:
    table: dict[str, str | None] = {}
    for p in sorted(out_dir.glob("*.arrow")):
        table |= content_table(read(p).frame)
    return table
