"""Server-side timing log: one Arrow row per request, for fidelity tests.

An Arrow IPC *file* (zstd) written in batches (every `flush_rows` rows or `flush_seconds`) and
finished (footer written) on close, i.e. on SIGTERM/SIGINT. Readable with
`pyarrow.ipc.open_file` or `polars.read_ipc`. Schema: `SCHEMA` below; times are
`time.monotonic_ns()` of the sim process (`*_ns`) and wall-clock `time.time_ns()` (`*_wall_ns`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

import pyarrow as pa

REQUEST_ID: Final = "request_id"
ENDPOINT: Final = "endpoint"
SESSION_ID: Final = "session_id"  # X-Session-ID request header, null if absent
STATUS: Final = "status"  # HTTP status sent (0 if the client left before headers)
ARRIVAL_NS: Final = "arrival_ns"
FIRST_TOKEN_NS: Final = "first_token_ns"  # null if no token was produced
END_NS: Final = "end_ns"
ARRIVAL_WALL_NS: Final = "arrival_wall_ns"
FIRST_TOKEN_WALL_NS: Final = "first_token_wall_ns"
END_WALL_NS: Final = "end_wall_ns"
PROMPT_TOKENS: Final = "prompt_tokens"
CACHED_TOKENS: Final = "cached_tokens"
COMPLETION_TOKENS: Final = "completion_tokens"  # tokens actually produced
STREAM: Final = "stream"
FAULT: Final = "fault"  # X-Sim-Fault honoured, null if none
# The kernel's time from the finished TCP handshake to the sim's accept, on the first request
# of a connection (null on later requests of a keep-alive connection, and off Linux)
ACCEPT_DELAY_NS: Final = "accept_delay_ns"

SCHEMA: Final = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string(), nullable=False),
        pa.field(ENDPOINT, pa.string(), nullable=False),
        pa.field(SESSION_ID, pa.string()),
        pa.field(STATUS, pa.int32(), nullable=False),
        pa.field(ARRIVAL_NS, pa.int64(), nullable=False),
        pa.field(FIRST_TOKEN_NS, pa.int64()),
        pa.field(END_NS, pa.int64(), nullable=False),
        pa.field(ARRIVAL_WALL_NS, pa.int64(), nullable=False),
        pa.field(FIRST_TOKEN_WALL_NS, pa.int64()),
        pa.field(END_WALL_NS, pa.int64(), nullable=False),
        pa.field(PROMPT_TOKENS, pa.int64(), nullable=False),
        pa.field(CACHED_TOKENS, pa.int64(), nullable=False),
        pa.field(COMPLETION_TOKENS, pa.int64(), nullable=False),
        pa.field(STREAM, pa.bool_(), nullable=False),
        pa.field(FAULT, pa.string()),
        pa.field(ACCEPT_DELAY_NS, pa.int64()),
    ],
    metadata={b"agentload.kind": b"sim-timing", b"agentload.version": b"1.1"},
)


class TimingLog:
    """Buffers rows (tuples in SCHEMA order) and appends them as record batches."""

    def __init__(self, path: Path, flush_rows: int = 4096, flush_seconds: float = 1.0) -> None:
        self.path = path
        self._rows: list[tuple[object, ...]] = []
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._last = time.monotonic()
        self._sink = pa.OSFile(str(path), "wb")
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        self._writer = pa.ipc.new_file(self._sink, SCHEMA, options=options)
        self.rows_written = 0

    def add(self, row: tuple[object, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._flush_rows:
            self.flush()

    def flush_if_due(self) -> None:
        if self._rows and time.monotonic() - self._last >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        batch = pa.record_batch(
            [pa.array(col, type=SCHEMA.field(i).type) for i, col in enumerate(columns)],
            schema=SCHEMA,
        )
        self._writer.write_batch(batch)
        self.rows_written += len(self._rows)
        self._rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()
        self._sink.close()


__all__ = ["SCHEMA", "TimingLog"]
