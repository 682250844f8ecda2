"""Resolve a profile argument (built-in name or file) and load it with its block size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from agentload.base.errors import ConfigError
from agentload.profiles import builtin
from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from agentload.traceformat.sources import (
    SourceFormat,
    block_size_of,
    load_profile_frame,
    sniff,
)


@dataclass(frozen=True)
class LoadedProfile:
    path: Path
    frame: pl.DataFrame
    block_size: int | None
    info: dict[str, object] = field(default_factory=dict)


def resolve(name_or_path: str) -> Path:
    """A built-in profile's file, or an existing path; ConfigError (one line) otherwise."""
    if name_or_path in builtin.names():
        return builtin.path(name_or_path)
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(
            f"{name_or_path}: no such file and no built-in profile of that name "
            f"(built-ins: {', '.join(builtin.names())})"
        )
    return path


def load(name_or_path: str, columns: Sequence[str] | None = None) -> LoadedProfile:
    """An agentload profile (file or built-in name); trie/Mooncake JSONL are accepted too.
    With `columns`, an agentload file's frame holds only those (a lean read)."""
    path = resolve(name_or_path)
    if sniff(path) is not SourceFormat.AGENTLOAD:
        frame, block = load_profile_frame(path)
        return LoadedProfile(path, frame, block, {"source": str(path.name)})
    loaded = read(path, s.Kind.PROFILE, columns)
    return LoadedProfile(
        path, loaded.frame, block_size_of(loaded.metadata, path), dict(loaded.info)
    )
