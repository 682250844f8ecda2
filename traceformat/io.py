"""Writing and reading agentload files (Arrow IPC, zstd buffer compression).

Live writers use the IPC *stream* format and flush whole record batches, so a process killed
at any moment leaves a file whose every complete batch is readable; `read` recovers them and
reports `truncated=True`. Finished files may be compacted to the IPC *file* format, which
`polars.scan_ipc` can open lazily. `read` accepts both, and fully validates every batch it
reads: a damaged file is a CorruptFileError, never a crash inside polars. Every batch
carries a checksum (integrity.py) that every read checks (ipcread.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import polars as pl
import pyarrow as pa

from agentload.base.errors import (
    ConfigError,
    CorruptFileError,
    FormatError,
    VersionError,
    WrongKindError,
)
from agentload.traceformat.integrity import batch_metadata
from agentload.traceformat.ipcread import _oneline, read_table
from agentload.traceformat.outputs import refuse_special
from agentload.traceformat.schema import (
    META_INFO,
    META_KIND,
    META_VERSION,
    SCHEMAS,
    VERSION,
    Kind,
    parse_version,
    schema_for,
)
from agentload.traceformat.validate import (
    check_columns,
    check_required,
    check_rows,
    conform,
    upgrade,
)

__all__ = ["Loaded", "StreamWriter", "compact", "kind_of", "read", "read_table", "write_file"]

# zstd level 3 (pyarrow's default is 1): about 15% smaller traces, still fast enough to write
# live. Buffers are compressed per batch, so small batches compress worse: `compact` merges
# them into batches of up to COMPACT_BATCH_ROWS rows.
_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=3))
COMPACT_BATCH_ROWS = 8192

type Rows = Sequence[Mapping[str, object]] | pa.RecordBatch | pa.Table | pl.DataFrame


@dataclass(frozen=True)
class Loaded:
    """A file read back: its rows as polars, its kind, version and decoded metadata."""

    frame: pl.DataFrame
    kind: Kind
    version: str
    metadata: dict[str, str] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)
    truncated: bool = False


def _metadata(
    kind: Kind, info: Mapping[str, object] | None, extra: Mapping[bytes, bytes] | None
) -> pa.Schema:
    meta: dict[bytes, bytes] = {}
    if info is not None:
        meta[META_INFO] = json.dumps(dict(info), sort_keys=True, default=str).encode()
    if extra:
        meta.update(extra)
    return schema_for(kind, meta)


def _to_table(data: pa.RecordBatch | pa.Table | pl.DataFrame, kind: Kind, where: str) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        return conform(pa.Table.from_batches([data]), kind, where)
    if isinstance(data, pl.DataFrame):
        return conform(data.to_arrow(), kind, where)
    return conform(data, kind, where)


class StreamWriter:
    """Append rows of one kind to an IPC stream, flushing a batch every `flush_rows` rows or
    `flush_seconds` after the previous flush (checked on `write` and `flush_if_due`).

    `compact_on_close` rewrites the finished stream in place as an IPC file in large
    batches: several times smaller when batches were small (one call per second, say)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        kind: Kind,
        info: dict[str, object] | None = None,
        *,
        flush_rows: int = 1024,
        flush_seconds: float = 1.0,
        extra_metadata: dict[bytes, bytes] | None = None,
        compact_on_close: bool = False,
    ) -> None:
        if flush_rows < 1 or flush_seconds < 0:
            raise ValueError("flush_rows must be >= 1 and flush_seconds >= 0")
        self.path = Path(path)
        self.kind = kind
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.schema = _metadata(kind, info, extra_metadata)
        self._lock = threading.Lock()
        self._pending: list[pa.Table | list[Mapping[str, object]]] = []
        self._pending_rows = 0
        self._last_flush = time.monotonic()
        self.rows_written = 0
        self.compact_on_close = compact_on_close
        refuse_special(self.path)  # a FIFO would block, a device swallow the rows
        try:
            self._sink = pa.OSFile(str(self.path), "wb")
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._writer = pa.ipc.new_stream(self._sink, self.schema, options=_OPTIONS)
        # An empty batch forces the schema onto disk now: a writer killed before its first
        # flush still leaves a readable (empty, truncated) file.
        self._write_batch(pa.RecordBatch.from_pylist([], schema=self.schema))
        self._closed = False

    def write(self, rows: Rows) -> None:
        """Buffer rows; dicts are checked now and converted to Arrow in bulk at flush."""
        pending: pa.Table | list[Mapping[str, object]]
        if isinstance(rows, pa.RecordBatch | pa.Table | pl.DataFrame):
            pending = _to_table(rows, self.kind, str(self.path))
            count = pending.num_rows
        else:
            check_rows(rows, self.kind, str(self.path))
            pending, count = list(rows), len(rows)
        with self._lock:
            self._check_open()
            if count:
                last = self._pending[-1] if self._pending else None
                if isinstance(pending, list) and isinstance(last, list):
                    last.extend(pending)
                else:
                    self._pending.append(pending)
                self._pending_rows += count
            if self._pending_rows >= self.flush_rows or self._time_due():
                self._flush_locked()

    def flush_if_due(self) -> bool:
        """Flush when the time limit has passed; returns whether a batch was written."""
        with self._lock:
            if self._closed or not self._time_due():
                return False
            return self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._check_open()
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
                self._writer.close()  # writes the end-of-stream marker
            finally:
                self._sink.close()
                self._closed = True
            if self.compact_on_close:
                compact(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _time_due(self) -> bool:
        return bool(self._pending_rows) and (
            time.monotonic() - self._last_flush >= self.flush_seconds
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch, custom_metadata=batch_metadata(batch, self.schema))

    def _flush_locked(self) -> bool:
        self._last_flush = time.monotonic()
        if not self._pending_rows:
            return False
        schema = SCHEMAS[self.kind]
        tables = [
            pa.Table.from_pylist(part, schema=schema) if isinstance(part, list) else part
            for part in self._pending
        ]
        table = pa.concat_tables(tables).combine_chunks()
        self._pending.clear()
        self._pending_rows = 0
        for batch in table.to_batches(max_chunksize=None):
            self._write_batch(batch)
        self._sink.flush()
        self.rows_written += table.num_rows
        return True


def write_file(
    path: str | os.PathLike[str],
    kind: Kind,
    data: pl.DataFrame | pa.Table,
    info: dict[str, object] | None = None,
    extra_metadata: dict[bytes, bytes] | None = None,
) -> Path:
    """Write a finished IPC file (zstd) in one go, atomically (temp file + rename)."""
    target = Path(path)
    table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    table = conform(table, kind, str(target))
    schema = _metadata(kind, info, extra_metadata)
    _write_ipc_file(target, table.replace_schema_metadata(schema.metadata), schema)
    return target


def compact(
    stream_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    extra_metadata: dict[bytes, bytes] | None = None,
) -> Path:
    """Convert a (possibly truncated) stream to the IPC file format, merging metadata and
    re-batching into large batches (much better compression than a live stream's).

    `out_path` None replaces the stream in place (atomic rename)."""
    source = Path(stream_path)
    table, _ = read_table(source)
    meta = dict(table.schema.metadata or {})
    meta.update(extra_metadata or {})
    schema = table.schema.with_metadata(meta)
    target = Path(out_path) if out_path is not None else source
    _write_ipc_file(target, table.replace_schema_metadata(meta).combine_chunks(), schema)
    return target


def _write_ipc_file(target: Path, table: pa.Table, schema: pa.Schema) -> None:
    """Temp file + rename, with a checksum on every batch (an empty table gets one empty
    batch, so even its schema metadata is covered). The rename would replace a device,
    FIFO or directory by a regular file, so the target must be regular or new."""
    refuse_special(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{target}: cannot write: {reason}") from None
    os.close(fd)
    try:
        with (
            pa.OSFile(tmp_name, "wb") as sink,
            pa.ipc.new_file(sink, schema, options=_OPTIONS) as w,
        ):
            batches = table.to_batches(max_chunksize=COMPACT_BATCH_ROWS) or [
                pa.RecordBatch.from_pylist([], schema=schema)
            ]
            for batch in batches:
                w.write_batch(batch, custom_metadata=batch_metadata(batch, schema))
        refuse_special(target)  # again: the path may have changed while we wrote
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read(
    path: str | os.PathLike[str], kind: Kind | None = None, columns: Sequence[str] | None = None
) -> Loaded:
    """Read any agentload file (stream or file format) into polars, validating it; only
    `columns` (all when None) reach polars, which keeps a large file's frame small."""
    source = Path(path)
    table, truncated = read_table(source)
    metadata = {
        k.decode(errors="replace"): v.decode(errors="replace")
        for k, v in (table.schema.metadata or {}).items()
    }
    found_kind = _kind_of(source, metadata, kind)
    version = _check_version(source, metadata)
    where = str(source)
    table = upgrade(table, found_kind, version)
    check_columns(table.schema, found_kind, where)
    check_required(table, found_kind, where)
    info = _info_of(source, metadata)
    if columns is not None:
        table = table.select(list(columns))
    try:
        frame = pl.from_arrow(table.replace_schema_metadata(None), rechunk=columns is None)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, pa.ArrowException) as exc:
        # Belt and braces: read_table validated every batch and the schema's names, so this
        # should not happen, but a panic must not reach the user as a traceback. (A caught
        # panic still prints its message to stderr, hence the checks before.)
        raise CorruptFileError(f"{source}: corrupt file: {_oneline(exc)}") from None
    assert isinstance(frame, pl.DataFrame)
    return Loaded(frame, found_kind, version, metadata, info, truncated)


def kind_of(path: str | os.PathLike[str]) -> Kind | None:
    """The kind an agentload file declares, from its schema alone (no batch is decoded), so
    a reader can choose its columns first; None when that cannot be told (`read` says why)."""
    try:
        with pa.memory_map(str(path)) as data:
            try:
                schema = pa.ipc.open_file(data).schema
            except pa.ArrowInvalid:
                data.seek(0)
                schema = pa.ipc.open_stream(data).schema
        return Kind((schema.metadata or {})[META_KIND].decode())
    except (OSError, pa.ArrowException, KeyError, ValueError):
        return None


def _kind_of(source: Path, metadata: Mapping[str, str], expected: Kind | None) -> Kind:
    raw = metadata.get(META_KIND.decode())
    if raw is None:
        raise WrongKindError(
            f"{source}: an Arrow file but not an agentload file (no {META_KIND.decode()})"
        )
    try:
        kind = Kind(raw)
    except ValueError:
        raise WrongKindError(f"{source}: unknown agentload kind {raw!r}") from None
    if expected is not None and kind != expected:
        raise WrongKindError(f"{source}: is a {kind} file, expected a {expected} file")
    return kind


def _check_version(source: Path, metadata: Mapping[str, str]) -> str:
    raw = metadata.get(META_VERSION.decode())
    if raw is None:
        raise VersionError(f"{source}: missing {META_VERSION.decode()} metadata")
    ours = parse_version(VERSION)
    try:
        theirs: tuple[int, int] | None = parse_version(raw)
    except ValueError:
        theirs = None
    if theirs is None or theirs[0] != ours[0]:
        raise VersionError(
            f"{source}: format version {raw} is not supported (this agentload reads {ours[0]}.x)"
        )
    if theirs > ours:
        _say_newer(source, raw)
    return raw


_newer_seen: set[Path] = set()
_newer_lock = threading.Lock()  # plans and results are read from worker threads too


def _say_newer(source: Path, raw: str) -> None:
    """One line on stderr, once per file per process: a newer minor reads (its additions are
    nullable columns at the end), but what it added is not understood, and silence would
    hide that the result may be missing something."""
    key = source.resolve()
    with _newer_lock:
        if key in _newer_seen:
            return
        _newer_seen.add(key)
    print(
        f"warning: {source}: format version {raw} is newer than this agentload's {VERSION};"
        f" read as {VERSION} (what {raw} added is not understood)",
        file=sys.stderr,
    )


def _info_of(source: Path, metadata: Mapping[str, str]) -> dict[str, object]:
    raw = metadata.get(META_INFO.decode())
    if raw is None:
        return {}
    try:
        info = json.loads(raw)
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        raise FormatError(f"{source}: metadata {META_INFO.decode()} is not a JSON object")
    return info
