"""Per-batch checksums (format 1.2): every record batch carries, in its IPC custom metadata,
a CRC-32 of its decoded contents and one of the schema's names and metadata.

Why the *decoded* contents and not the compressed bytes on disk: pyarrow exposes a batch's
custom metadata only beside the decoded batch (`read_next_batch_with_custom_metadata`,
`get_batch_with_custom_metadata`), not its raw body, and the writer must know the value
before the body is compressed. Any damage that changes a value, a length or a null count
changes the checksum; damage that still decodes to identical data (padding) is harmless.

The checksum covers the buffers exactly as an IPC reader returns them: the writer computes
it on a batch serialized and decoded once (slices rebased, buffers trimmed), so writer and
reader hash the same bytes. Cost: one CRC pass over the uncompressed data (zlib, ~2 GB/s).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from agentload.base.errors import CorruptFileError
from agentload.traceformat.schema import parse_version

__all__ = ["BATCH_CRC", "CHECKSUMS_SINCE", "SCHEMA_CRC", "batch_metadata", "verify_batch"]

BATCH_CRC = b"agentload.crc32"  # CRC-32 of the batch's decoded buffers, decimal
SCHEMA_CRC = b"agentload.schema_crc32"  # CRC-32 of the schema's names and metadata, decimal
CHECKSUMS_SINCE = (1, 2)  # files of this version or later must carry both on every batch

_SIZE = struct.Struct("<q")


def batch_crc(batch: pa.RecordBatch) -> int:
    """CRC-32 of a batch as decoded from IPC: row count, then per column its length, null
    count and every buffer (children included) with its size, so a changed length or a
    missing buffer changes the value even when the bytes do not."""
    crc = zlib.crc32(_SIZE.pack(batch.num_rows))
    for column in batch.columns:
        crc = zlib.crc32(_SIZE.pack(len(column)) + _SIZE.pack(column.null_count), crc)
        for buf in column.buffers():
            crc = zlib.crc32(_SIZE.pack(-1 if buf is None else buf.size), crc)
            if buf is not None:
                crc = zlib.crc32(buf, crc)
    return crc


def schema_crc(schema: pa.Schema) -> int:
    """CRC-32 of the column names and the schema metadata (sorted). Types are not hashed:
    their encoding is pyarrow's to change, and `check_columns` already refuses a wrong one."""
    crc = 0
    for name in schema.names:
        crc = zlib.crc32(name.encode() + b"\0", crc)
    for key, value in sorted((schema.metadata or {}).items()):
        crc = zlib.crc32(_SIZE.pack(len(key)) + key + _SIZE.pack(len(value)) + value, crc)
    return crc


def batch_metadata(batch: pa.RecordBatch, schema: pa.Schema) -> dict[bytes, bytes]:
    """The custom metadata to write with `batch` in a file whose schema is `schema`."""
    decoded = pa.ipc.read_record_batch(batch.serialize(), batch.schema)
    return {
        BATCH_CRC: str(batch_crc(decoded)).encode(),
        SCHEMA_CRC: str(schema_crc(schema)).encode(),
    }


def required(schema: pa.Schema) -> bool:
    """Whether the file's version promises checksums (older files have none)."""
    raw = (schema.metadata or {}).get(b"agentload.version", b"")
    try:
        version = parse_version(raw.decode(errors="replace"))
        # another major is refused by the version check, with a clearer message
        return version[0] == CHECKSUMS_SINCE[0] and version >= CHECKSUMS_SINCE
    except ValueError:
        return False  # the version check reports it


def verify_batch(
    source: Path,
    index: int,
    batch: pa.RecordBatch,
    custom: Mapping[bytes, bytes] | None,
    schema: pa.Schema,
    *,
    must: bool,
) -> None:
    """CorruptFileError naming the file and batch when a checksum is absent (and `must`)
    or does not match. Checksums present in any file are checked."""
    meta = dict(custom or {})
    for key in (BATCH_CRC, SCHEMA_CRC):
        raw = meta.get(key)
        what = "schema" if key == SCHEMA_CRC else "data"
        if raw is None:
            if must:
                raise CorruptFileError(
                    f"{source}: corrupt file: record batch {index} has no {what} checksum"
                    f" ({key.decode()})"
                )
            continue
        value = schema_crc(schema) if key == SCHEMA_CRC else batch_crc(batch)
        if raw != str(value).encode():
            raise CorruptFileError(
                f"{source}: corrupt file: record batch {index}: {what} checksum mismatch"
                f" ({key.decode()})"
            )
