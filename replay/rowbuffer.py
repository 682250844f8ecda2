"""Result rows from the event loop to the part file without long pauses of the loop.

Converting rows to Arrow costs ~5 µs a row column-wise (twice that through generic row
conversion), so the loop converts what arrived every CONVERT_S (a pause well under a
millisecond at thousands of requests/s) and hands the writer one table every WRITE_S, where
schema conformance and compression run once per batch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from agentload.traceformat import schema as S
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import RESULT_SCHEMA, Kind
from agentload.traceformat.validate import rows_to_columns

CONVERT_S = 0.05
WRITE_S = 1.0


def warm_writer(directory: Path) -> None:
    """Write and discard a throwaway batch: the first conversion, conformance and zstd
    write of a process take tens of ms, which must not happen inside the schedule."""
    sample: dict[str, Any] = {f.name: None for f in RESULT_SCHEMA}
    sample.update(
        {
            S.SESSION_ID: "warm",
            S.CALL_INDEX: 0,
            S.WORKER: 0,
            S.FINAL_CALL: False,
            S.WARMUP: True,
            S.T_SCHEDULED_NS: 0,
            S.STATUS: "ok",
            S.CHUNK_OFFSETS_NS: [0],
            S.CHUNK_TOKENS: [1],
        }
    )
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        writer = StreamWriter(Path(tmp) / "warm.arrows", Kind.RESULT)
        writer.write(rows_to_columns([dict(sample) for _ in range(256)], Kind.RESULT))
        writer.close()


class RowBuffer:
    def __init__(self, writer: StreamWriter) -> None:
        self._writer = writer
        self.rows: list[dict[str, Any]] = []
        self._tables: list[pa.Table] = []
        self.emitted = 0

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.emitted += 1

    def convert(self) -> None:
        if self.rows:
            self._tables.append(rows_to_columns(self.rows, Kind.RESULT))
            self.rows = []

    def write(self) -> None:
        self.convert()
        if self._tables:
            table = pa.concat_tables(self._tables)
            self._tables = []
            self._writer.write(table)
            self._writer.flush()
