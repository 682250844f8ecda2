"""Import and export of foreign workload formats (Applied Compute trie, Mooncake)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from profiles.load import load
from traceformat import schema as s
from traceformat.errors import ConfigError
from traceformat.foreign.mooncake import read_mooncake, write_mooncake
from traceformat.foreign.trie import read_trie, write_trie
from traceformat.io import write_file

FORMATS: Final = ("trie", "mooncake")


def import_file(fmt: str, source: Path, out: Path, block_size: int = 512) -> Path:
    """A trie or Mooncake JSONL file as an agentload profile file."""
    if fmt == "trie":
        frame, block = read_trie(source), None
    elif fmt == "mooncake":
        frame, block = read_mooncake(source, block_size), block_size
    else:
        raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    extra = {} if block is None else {s.META_BLOCK_SIZE: str(block).encode()}
    info: dict[str, object] = {"source": "import", "format": fmt, "file": source.name}
    return write_file(out, s.Kind.PROFILE, frame, info=info, extra_metadata=extra)


def export_file(fmt: str, profile: str, out: Path) -> Path:
    """A profile (file or built-in name) written as trie or Mooncake JSONL."""
    frame = load(profile).frame
    if fmt == "trie":
        return write_trie(frame, out)
    if fmt == "mooncake":
        return write_mooncake(frame, out)
    raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
