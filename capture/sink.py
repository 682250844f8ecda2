"""The writer thread: parses finished calls and appends trace rows, rotating files.

The proxy loop only enqueues RawCalls. This thread owns the StreamWriter and ContentStore:
it flushes at least every `flush_seconds` (a periodic tick, even without traffic), rotates
by size and age, and survives write errors (disk full, removed directory): the error is
logged, the row counted as dropped, and a fresh file is tried after a back-off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capture.flowdata import RawCall
from capture.process import RowBuilder
from traceformat.io import StreamWriter
from traceformat.schema import Kind

__all__ = ["Sink", "SinkStats", "trace_path"]

log = logging.getLogger("agentload.capture")

_TICK_S = 0.25
_RETRY_S = 5.0
_STOP = object()


def trace_path(out_dir: Path, seq: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return out_dir / f"trace-{stamp}-{os.getpid()}-{seq:04d}.arrow"


@dataclass
class SinkStats:
    rows: int = 0
    dropped: int = 0
    files: list[Path] = field(default_factory=list)
    errors: int = 0


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
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer: StreamWriter | None = None
        self._opened_at = 0.0
        self._retry_at = 0.0
        self._retry_s = retry_seconds
        self._thread = threading.Thread(target=self._run, name="agentload-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, raw: RawCall) -> None:
        """Called on the proxy loop: O(1), never blocks."""
        self._queue.put(raw)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_TICK_S)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._close_writer()
                return
            if isinstance(item, RawCall):
                self._handle(item)
            self._tick()

    def _handle(self, raw: RawCall) -> None:
        # Open (or rotate to) the file first: a new file resets the content store, and the
        # row must carry every part that file has not stored yet.
        writer = self._ensure_writer()
        try:
            row = self.builder.build(raw)
        except Exception:  # fail open: one bad call must not stop recording
            log.exception("capture: could not parse call %s", raw.path)
            self.stats.errors += 1
            return
        if writer is None:
            self.stats.dropped += 1
            return
        try:
            writer.write([row])
            self.stats.rows += 1
        except Exception as exc:
            self._write_failed(exc)
            self.stats.dropped += 1

    def _tick(self) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            writer.flush_if_due()
            too_old = time.monotonic() - self._opened_at >= self.rotate_seconds
            path = self.stats.files[-1]
            too_big = path.exists() and path.stat().st_size >= self.rotate_bytes
            if too_old or too_big:
                self._close_writer()
        except Exception as exc:
            self._write_failed(exc)

    def _ensure_writer(self) -> StreamWriter | None:
        if self._writer is not None:
            return self._writer
        if time.monotonic() < self._retry_at:
            return None
        path = self.path_for(self.out_dir, len(self.stats.files))
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._writer = StreamWriter(
                path, Kind.TRACE, self.info, flush_seconds=self.flush_seconds
            )
        except Exception as exc:
            self._write_failed(exc)
            return None
        # Every file must be readable on its own, so content is stored anew per file.
        self.builder.store.reset()
        self._opened_at = time.monotonic()
        self.stats.files.append(path)
        log.info("capture: writing %s", path)
        return self._writer

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
        except Exception as exc:
            self._write_failed(exc)

    def _write_failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        log.error(
            "capture: trace write failed (%s); traffic continues, retrying in %.1f s",
            exc,
            self._retry_s,
        )
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        self._retry_at = time.monotonic() + self._retry_s
