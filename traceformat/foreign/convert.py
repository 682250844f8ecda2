"""Import and export of foreign workload formats (Applied Compute trie, Mooncake): the one
home of file-level conversion (the formats' readers and writers are trie.py and
mooncake.py beside it; resolving a built-in profile name is the caller's).

trie export writes each record's keys in the order the imported file used (recorded in the
profile's info as `trie_key_order`; otherwise traceformat's order) and tool latencies as
JSON floats, as trie's own Python writer does, so an imported file exports byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import polars as pl

from agentload.base.errors import ConfigError
from agentload.traceformat import schema as s
from agentload.traceformat.foreign.mooncake import read_mooncake, write_mooncake
from agentload.traceformat.foreign.trie import read_trie, trie_records

FORMATS: Final = ("trie", "mooncake")
KEY_ORDER: Final = "trie_key_order"
_LATENCY: Final = "tool_call_latency"


def first_record_keys(source: Path) -> list[str]:
    with source.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    return []
                return [str(k) for k in record] if isinstance(record, dict) else []
    return []


def import_file(fmt: str, source: Path, out: Path, block_size: int = 512) -> Path:
    """A trie or Mooncake JSONL file as an agentload profile file."""
    from agentload.traceformat.io import write_file

    info: dict[str, object] = {"source": "import", "format": fmt, "file": source.name}
    extra: dict[bytes, bytes] = {}
    if fmt == "trie":
        frame = read_trie(source)
        info[KEY_ORDER] = first_record_keys(source)
    elif fmt == "mooncake":
        frame = read_mooncake(source, block_size)
        extra[s.META_BLOCK_SIZE] = str(block_size).encode()
    else:
        raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return write_file(out, s.Kind.PROFILE, frame, info=info, extra_metadata=extra)


def _ordered(record: dict[str, Any], order: list[str]) -> dict[str, Any]:
    head = {k: record[k] for k in order if k in record}
    return head | {k: v for k, v in record.items() if k not in head}


def export_file(fmt: str, frame: pl.DataFrame, info: Mapping[str, object], out: Path) -> Path:
    """A profile's frame (and the info it was written with) as trie or Mooncake JSONL."""
    if fmt == "mooncake":
        return write_mooncake(frame, out)
    if fmt != "trie":
        raise ConfigError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    raw_order = info.get(KEY_ORDER)
    order = [str(k) for k in raw_order] if isinstance(raw_order, list) else []
    with out.open("w", encoding="utf-8") as f:
        for record in trie_records(frame):
            record[_LATENCY] = [float(v) for v in record[_LATENCY]]
            line = json.dumps(_ordered(record, order), separators=(", ", ": "), ensure_ascii=False)
            f.write(line + "\n")
    return out
