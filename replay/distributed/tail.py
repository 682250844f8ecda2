"""Move an actor's growing IPC stream file to the driver as raw bytes, decoded there.

The actor only reads the bytes appended to its part file since the last read (no Arrow
work, so the replayer thread it shares the GIL with is not held up); the driver feeds them
to a `StreamDecoder`, which returns the record batches that are complete and keeps a batch
cut short for the next feed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

__all__ = ["FileTail", "StreamDecoder"]


class FileTail:
    """The bytes appended to a file since the previous `read_new`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> bytes:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return b""
        self.offset += len(data)
        return data


class StreamDecoder:
    """Incremental decoder of one Arrow IPC stream delivered in arbitrary byte chunks."""

    def __init__(self) -> None:
        self.rows = 0  # rows decoded so far
        self.bytes_fed = 0
        self._pending = b""
        self._schema: pa.Schema | None = None

    @property
    def schema(self) -> pa.Schema | None:
        return self._schema

    def feed(self, data: bytes) -> pa.Table | None:
        """The rows of batches completed by `data` (None when there are none)."""
        self.bytes_fed += len(data)
        buffer = self._pending + data
        reader = pa.BufferReader(pa.py_buffer(buffer))
        batches: list[pa.RecordBatch] = []
        consumed = 0
        while True:
            try:
                message = pa.ipc.read_message(reader)
            except (EOFError, OSError, pa.ArrowInvalid):
                break  # end of the data so far, or a message cut short: wait for the rest
            consumed = reader.tell()
            if message.type == "schema":
                self._schema = pa.ipc.read_schema(message)
            elif self._schema is not None and message.type == "record batch":
                batches.append(pa.ipc.read_record_batch(message, self._schema))
        self._pending = buffer[consumed:]
        batches = [b for b in batches if b.num_rows]
        if not batches or self._schema is None:
            return None
        self.rows += sum(b.num_rows for b in batches)
        return pa.Table.from_batches(batches, schema=self._schema)
