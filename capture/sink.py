"""The writer thread: parses finished calls and appends trace rows, rotating files.

The proxy loop only enqueues RawCalls. This thread owns the StreamWriter and ContentStore:
it flushes at least every `flush_seconds` (a periodic tick, even without traffic), rotates
by bytes written and by age, and survives write errors (disk full, removed directory): the error is
logged, the row counted as dropped, and a fresh file is tried after a back-off. A file
removed or replaced under it is noticed (its identity, checked every tick), its rows are
counted as lost, and a new file is written at once. No empty file is left behind.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from agentload.capture.flowdata import RawCall
from agentload.capture.process import RowBuilder
from agentload.capture.secrets import scrub_text
from agentload.traceformat import schema as S
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import Kind
from agentload.traceformat.validate import rows_to_columns

__all__ = ["Sink", "SinkStats", "row_bytes", "trace_path"]

log = logging.getLogger("agentload.capture")

_TICK_S = 0.1
_RETRY_S = 5.0
_BATCH_ROWS = 256
_MAX_BACKLOG = 10_000


def _to_arrow(rows: list[dict[str, object]]) -> pa.Table | list[dict[str, object]]:
    """The rows as one Arrow table: RowBuilder's rows fit the trace schema by construction, so
    the writer's per-value Python check of dict rows (~3x the cost of the conversion) is
    skipped. Rows that do not convert go to the writer as dicts, whose check names the bad
    column (and the batch is dropped, as any failed write)."""
    try:
        return rows_to_columns(rows, Kind.TRACE)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return rows


def row_bytes(value: object) -> int:
    """A row's uncompressed size as handed to the writer: stored content parts by their UTF-8
    size, other text by its length, 8 bytes per number. Counted per row, so where a file
    rotates depends on the rows alone, never on how the writer happened to batch them."""
    if isinstance(value, dict):
        if S.CONTENT_SIZE in value and S.CONTENT_DATA in value:  # a NEW_CONTENT part
            stored = value[S.CONTENT_SIZE] if value[S.CONTENT_DATA] is not None else 0
            return int(stored) + row_bytes(value.get(S.CONTENT_ID)) + 8
        return sum(row_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(row_bytes(v) for v in value)
    if isinstance(value, str):
        return len(value)
    return 8


def trace_path(out_dir: Path, seq: int, worker: int = -1) -> Path:
    """trace-STAMP-PID-SEQ.arrow; one of --workers' processes adds its index, wK-, before
    its pid (docs/formats.md)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    who = f"w{worker}-{os.getpid()}" if worker >= 0 else str(os.getpid())
    return out_dir / f"trace-{stamp}-{who}-{seq:04d}.arrow"


@dataclass
class SinkStats:
    rows: int = 0
    dropped: int = 0
    files: list[Path] = field(default_factory=list)
    errors: int = 0
    lost: int = 0  # recorded, then lost with a removed or replaced file (also in dropped)

    def summary(self) -> str:
        """The final line's numbers; never "0 dropped" when rows were lost."""
        text = f"{self.rows} calls recorded, {self.dropped} dropped"
        if self.lost:
            text += f" ({self.lost} lost with a removed or replaced trace file)"
        return text


class Sink:
    def __init__(
        self,
        builder: RowBuilder,
        out_dir: Path,
        info: dict[str, object],
        *,
        rotate_bytes: int,
        rotate_seconds: float,
        flush_seconds: float = 1.0,
        path_for: Callable[[Path, int], Path] = trace_path,
        retry_seconds: float = _RETRY_S,
    ) -> None:
        self.builder = builder
        self.out_dir = out_dir
        self.info = info | {"host": socket.gethostname()}
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self.path_for = path_for
        self.stats = SinkStats()
        # A deque, not a queue: appending never wakes the writer thread, which instead
        # drains in bursts every _TICK_S, so a busy proxy pays no thread switch per call.
        self._queue: collections.deque[RawCall] = collections.deque()
        self._stop = threading.Event()
        self._writer: StreamWriter | None = None
        self._opened_at = 0.0
        self._retry_at = 0.0
        self._retry_s = retry_seconds
        self._pending: list[dict[str, object]] = []
        self._pending_since = 0.0
        self._last_check = 0.0
        self._seq = 0  # every attempt gets a new name: a retry never reuses a failed one
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._file_rows = 0  # rows written to the open file
        self._file_bytes = 0  # row_bytes of the rows handed to the open file
        self._thread = threading.Thread(target=self._run, name="agentload-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, raw: RawCall) -> None:
        """Called on the proxy loop: O(1), never blocks, never wakes a thread. If the writer
        falls far behind (a stalled disk), calls are dropped rather than memory growing."""
        if len(self._queue) >= _MAX_BACKLOG:
            self.stats.dropped += 1
            if self.stats.dropped % 1000 == 1:
                log.warning("capture: writer backlog full; %d calls dropped", self.stats.dropped)
            return
        self._queue.append(raw)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    # -- thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(_TICK_S)
            while self._queue:
                self._handle(self._queue.popleft())
                self._tick()
            self._tick()
            if stopping:
                self._close_writer()
                return

    def _handle(self, raw: RawCall) -> None:
        # Open (or rotate to) the file first: a new file resets the content store, and the
        # row must carry every part that file has not stored yet.
        writer = self._ensure_writer()
        try:
            row = self.builder.build(raw)
        except Exception as exc:  # fail open: one bad call must not stop recording
            # the type only: an exception's text may quote content
            log.error("capture: could not parse call %s: %s", scrub_text(raw.path), type(exc))
            self.stats.errors += 1
            return
        if writer is None:
            self.stats.dropped += 1
            return
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(row)
        self._file_bytes += row_bytes(row)
        if len(self._pending) >= _BATCH_ROWS:
            self._write_pending()
        if self._file_bytes >= self.rotate_bytes:
            # By the bytes of the rows, not the file's size on disk: that grows only when a
            # batch is flushed (every 0.5 s) and zstd's ratio depends on the batching, so a
            # size check would split the same traffic differently from run to run.
            self._close_writer()

    def _write_pending(self) -> None:
        """Rows are converted to Arrow in batches (per-row conversion costs ~20x more) and
        flushed to disk as one record batch."""
        rows, self._pending = self._pending, []
        writer = self._writer
        if not rows or writer is None:
            self.stats.dropped += len(rows)
            return
        try:
            writer.write(_to_arrow(rows))
            writer.flush()
            self.stats.rows += len(rows)
            self._file_rows += len(rows)
        except Exception as exc:
            self.stats.dropped += len(rows)
            self._write_failed(exc)

    def _tick(self) -> None:
        if self._writer is None:
            return
        now = time.monotonic()
        if self._pending and now - self._pending_since >= self.flush_seconds / 2:
            self._write_pending()
        if now - self._last_check < _TICK_S:
            return
        self._last_check = now
        try:
            if self._current_size() is None:
                self._file_lost()
            elif now - self._opened_at >= self.rotate_seconds:
                self._close_writer()
        except Exception as exc:
            self._write_failed(exc)

    def _current_size(self) -> int | None:
        """Size of the open file, None when its path no longer names it (removed, replaced:
        the writer would go on appending to an unlinked file and nobody would know)."""
        try:
            st = os.stat(self.stats.files[-1])
        except FileNotFoundError:
            return None
        return st.st_size if (st.st_dev, st.st_ino) == self._identity else None

    def _file_lost(self) -> None:
        path = self.stats.files.pop()
        lost = self._file_rows + len(self._pending)  # pending rows refer to its content
        self._pending = []
        self.stats.rows -= self._file_rows
        self.stats.dropped += lost
        self.stats.lost += lost
        self.stats.errors += 1
        log.error(
            "capture: %s was removed or replaced; %d recorded calls lost with it; "
            "writing a new file",
            path,
            lost,
        )
        self._abandon(ours=False)
        self._retry_at = 0.0

    def _ensure_writer(self) -> StreamWriter | None:
        if self._writer is not None:
            return self._writer
        if time.monotonic() < self._retry_at:
            return None
        path = self.path_for(self.out_dir, self._seq)
        self._seq += 1
        existed = path.exists()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            writer = self._open(path)
        except Exception as exc:
            if not existed:  # a file created before the error (disk full) holds no row
                _remove_if_regular(path)
            self._write_failed(exc)
            return None
        self._writer = writer
        self._file_rows = 0
        self._file_bytes = 0
        # Every file must be readable on its own, so content is stored anew per file.
        self.builder.store.reset()
        self._opened_at = time.monotonic()
        self.stats.files.append(path)
        log.info("capture: writing %s", path)
        return self._writer

    def _open(self, path: Path) -> StreamWriter:
        # A finished file (rotation, clean stop) is compacted into large batches: live
        # one-call batches cost ~3.9x the content; compacted ~1.2x (docs/formats.md).
        writer = StreamWriter(
            path, Kind.TRACE, self.info, flush_seconds=self.flush_seconds, compact_on_close=True
        )
        try:
            st = os.stat(path)
        except OSError:
            writer.compact_on_close = False
            with contextlib.suppress(Exception):
                writer.close()
            raise
        self._identity = (st.st_dev, st.st_ino)
        return writer

    def _close_writer(self) -> None:
        if self._writer is None:
            self.stats.dropped += len(self._pending)
            self._pending = []
            return
        if self._current_size() is None:
            self._file_lost()
            return
        self._write_pending()
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._file_rows == 0:  # no row reached it: leave no empty file behind
            self._writer = writer
            self._abandon(ours=True)
            return
        try:
            writer.close()
        except Exception as exc:
            self._write_failed(exc)

    def _abandon(self, *, ours: bool) -> None:
        """Close without compaction (its path may name another file by now); remove the file
        when it is still `ours` and holds no row."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.compact_on_close = False
        with contextlib.suppress(Exception):
            writer.close()
        if ours and self._file_rows == 0:
            _remove_if_regular(self.stats.files.pop())

    def _write_failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        log.error(
            "capture: trace write failed (%s); traffic continues, retrying in %.1f s",
            exc,
            self._retry_s,
        )
        if self._writer is not None:
            self._abandon(ours=self._current_size() is not None)
        self._retry_at = time.monotonic() + self._retry_s


def _remove_if_regular(path: Path) -> None:
    """Remove a file the sink created (never a device such as /dev/full)."""
    with contextlib.suppress(OSError):
        if stat.S_ISREG(os.lstat(path).st_mode):
            path.unlink()
