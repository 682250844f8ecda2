"""Recognise a workload source by its content and load it as a PROFILE-shaped frame."""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from agentload.base.errors import CorruptFileError, FormatError
from agentload.traceformat.foreign.mooncake import DEFAULT_BLOCK_SIZE, read_mooncake
from agentload.traceformat.foreign.trie import read_trie
from agentload.traceformat.io import read
from agentload.traceformat.limits import check_block_size
from agentload.traceformat.outputs import check_input
from agentload.traceformat.schema import META_BLOCK_SIZE, Kind

__all__ = ["SourceFormat", "block_size_of", "load_profile_frame", "sniff"]

_ARROW_FILE_MAGIC = b"ARROW1"
_ARROW_STREAM_CONTINUATION = b"\xff\xff\xff\xff"


class SourceFormat(enum.StrEnum):
    AGENTLOAD = "agentload"  # an Arrow file of ours (any kind)
    TRIE = "trie"
    MOONCAKE = "mooncake"


def sniff(path: str | os.PathLike[str]) -> SourceFormat:
    """Which format `path` holds: Arrow by magic bytes, JSONL by its first record's fields."""
    source = check_input(path)  # a FIFO would block the open forever
    try:
        with source.open("rb") as handle:
            head = handle.read(8)
            handle.seek(0)
            if head.startswith((_ARROW_FILE_MAGIC, _ARROW_STREAM_CONTINUATION)):
                return SourceFormat.AGENTLOAD
            if b"\x00" in handle.read(4096):
                raise CorruptFileError(
                    f"{source}: not an agentload Arrow file (no Arrow header) nor JSONL text"
                )
            handle.seek(0)
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    return _sniff_record(f"{source}:{number}", raw)
    except OSError as exc:
        raise FormatError(f"{source}: cannot read: {exc.strerror or exc}") from None
    raise FormatError(f"{source}: empty file (expected an agentload file or JSONL)")


def _sniff_record(where: str, raw: bytes) -> SourceFormat:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FormatError(
            f"{where}: neither an agentload Arrow file nor JSONL (expected a JSON object)"
        ) from None
    if isinstance(record, dict) and "num_turns" in record:
        return SourceFormat.TRIE
    if isinstance(record, dict) and "input_length" in record:
        return SourceFormat.MOONCAKE
    raise FormatError(
        f"{where}: unknown JSONL format (expected trie 'num_turns' or Mooncake 'input_length')"
    )


def load_profile_frame(
    path: str | os.PathLike[str], mooncake_block_size: int = DEFAULT_BLOCK_SIZE
) -> tuple[pl.DataFrame, int | None]:
    """A PROFILE-shaped frame from an agentload profile, trie JSONL or Mooncake JSONL, and
    the block size of its hash_ids (None when it has none)."""
    source = Path(path)
    fmt = sniff(source)
    if fmt is SourceFormat.TRIE:
        return read_trie(source), None
    if fmt is SourceFormat.MOONCAKE:
        return read_mooncake(source, mooncake_block_size), mooncake_block_size
    loaded = read(source, Kind.PROFILE)
    return loaded.frame, block_size_of(loaded.metadata, source)


def block_size_of(metadata: Mapping[str, str], path: Path) -> int | None:
    """The block size of a profile's hash_ids from its metadata (None: it has none)."""
    raw = metadata.get(META_BLOCK_SIZE.decode())
    if raw is None:
        return None
    where = f"{path}: metadata {META_BLOCK_SIZE.decode()}"
    try:
        value = int(raw)
    except ValueError:
        raise FormatError(f"{where}: not an integer") from None
    check_block_size(value, where)
    return value
