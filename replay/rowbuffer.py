"""Result rows from the event loop to the part file without long pauses of the loop.

Converting rows to Arrow costs ~3 µs a row plus ~0.2 ms a time, so the loop converts
when CONVERT_ROWS rows are waiting (checked every CONVERT_S: a pause of about 0.3 ms at
4,000 requests/s), and hands one table every WRITE_S to a writer thread, where schema
conformance, compression and the write run once per batch. The write is on a thread
because on the loop it paused it for 4-21 ms a second at 3,000 requests/s (a burst of
schedule lag every second); pyarrow's casts, zstd and IPC write release the GIL, so the
loop runs meanwhile.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from agentload.traceformat import schema as S
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import RESULT_SCHEMA, Kind
from agentload.traceformat.validate import rows_to_columns

CONVERT_S = 0.01  # small slices: a pause on a nearly busy loop leaves a backlog
CONVERT_ROWS = 32
# The writer thread's steps that hold the GIL (concatenation, conformance, serialising for
# the checksum) still stall the loop: ~2.5 ms in all for 7,500 rows, in pieces of up to
# 0.5 ms. Four writes a second make four short stalls instead of one that a loop near its
# limit carried as a 3-4 ms burst of lag once a second (issue 19).
WRITE_S = 0.25
SWITCH_S = 0.0002  # GIL switch interval while the writer thread exists


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
    """Rows of one worker: `append` on the loop, `convert` on the loop in small slices,
    `write` hands the converted rows to the writer thread, `close` waits for every write.
    A failed write raises from the next `write` or from `close`."""

    def __init__(self, writer: StreamWriter) -> None:
        self._writer = writer
        self.rows: list[dict[str, Any]] = []
        self._tables: list[pa.Table] = []
        self._writes: list[Future[None]] = []
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="agentload-rows")
        self.emitted = 0
        # The writer thread's Python steps (conformance, checksums) may hold the GIL for up
        # to the switch interval (5 ms) while the loop waits for it: hand it back sooner.
        self._switch_s = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_S)

    def warm(self, directory: Path) -> None:
        """`warm_writer` on the writer thread, before the schedule: its first write there
        took 44 ms (against 4 ms later), slowing the loop's own steps meanwhile."""
        self._thread.submit(warm_writer, directory).result()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.emitted += 1

    def convert_some(self) -> None:
        """`convert` once CONVERT_ROWS rows are waiting: each conversion has a fixed cost
        (~0.2 ms for 24 columns), which a few rows every CONVERT_S would pay many times."""
        if len(self.rows) >= CONVERT_ROWS:
            self.convert()

    def convert(self) -> None:
        if self.rows:
            self._tables.append(rows_to_columns(self.rows, Kind.RESULT))
            self.rows = []

    def write(self) -> None:
        self.convert()
        self._raise_failed(wait=False)
        if self._tables:
            tables, self._tables = self._tables, []
            self._writes.append(self._thread.submit(self._write, tables))

    def close(self) -> None:
        """Write what is left and wait for every write; the writer itself stays open."""
        try:
            self.write()
        finally:
            self._thread.shutdown(wait=True)
            sys.setswitchinterval(self._switch_s)
        self._raise_failed(wait=True)

    def _write(self, tables: list[pa.Table]) -> None:
        self._writer.write(pa.concat_tables(tables))
        self._writer.flush()

    def _raise_failed(self, wait: bool) -> None:
        """Raise the first failure among finished writes (all of them when `wait`)."""
        done = [f for f in self._writes if wait or f.done()]
        self._writes = [f for f in self._writes if f not in done]
        for future in done:
            future.result()
