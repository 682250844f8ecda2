"""Content-addressed storage of trace content: each distinct part is stored once per file.

A call's request is split into parts (part 0: the envelope, the body without its messages;
then one part per message) and each part is identified by the BLAKE2b-128 hex digest of its
UTF-8 text. The writer of a call row attaches, in NEW_CONTENT, only the parts the file has
not stored yet, so a session's history costs its size once rather than once per turn.
Serialise parts with `canonical_json` so that the same message (for instance an assistant
response and the same message echoed in the next request) always gets the same id.
"""

from __future__ import annotations

import hashlib
import json
import threading

import polars as pl

from agentload.traceformat.schema import (
    CONTENT_DATA,
    CONTENT_ID,
    CONTENT_SIZE,
    NEW_CONTENT,
    REQUEST_CONTENT_IDS,
)

__all__ = [
    "ContentStore",
    "canonical_json",
    "content_frame",
    "content_id",
    "content_table",
    "request_parts",
]


def content_id(data: str) -> str:
    """Hex BLAKE2b-128 digest of the UTF-8 encoding of `data`."""
    return hashlib.blake2b(data.encode(), digest_size=16).hexdigest()


def canonical_json(value: object) -> str:
    """Deterministic compact JSON text of a part: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ContentStore:
    """Remembers which parts a file holds and hands out the ones first seen since `take_new`.

    Content seen first redacted stays redacted in this file (its size is kept)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._new: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def add(self, data: str, *, redact: bool = False) -> str:
        """Register a part; returns its id. The data is queued if this file lacks it."""
        encoded = data.encode()
        cid = hashlib.blake2b(encoded, digest_size=16).hexdigest()
        with self._lock:
            if cid not in self._seen:
                self._seen.add(cid)
                self._new.append(
                    {
                        CONTENT_ID: cid,
                        CONTENT_SIZE: len(encoded),
                        CONTENT_DATA: None if redact else data,
                    }
                )
        return cid

    def take_new(self) -> list[dict[str, object]]:
        """The NEW_CONTENT structs added since the previous call (emptied by this call)."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def reset(self) -> None:
        """Forget everything (a new file starts: it must store its parts again)."""
        with self._lock:
            self._seen.clear()
            self._new.clear()

    def __contains__(self, cid: object) -> bool:
        return cid in self._seen

    def __len__(self) -> int:
        return len(self._seen)


def content_frame(trace_frame: pl.DataFrame) -> pl.DataFrame:
    """All parts stored in a trace frame: columns id, size, data (one row per part)."""
    return (
        trace_frame.select(pl.col(NEW_CONTENT).explode())
        .drop_nulls(NEW_CONTENT)
        .unnest(NEW_CONTENT)
        .unique(CONTENT_ID, keep="first", maintain_order=True)
    )


def content_table(trace_frame: pl.DataFrame) -> dict[str, str | None]:
    """Map content id -> part text (None when redacted) over every row of a trace."""
    parts = content_frame(trace_frame)
    return dict(zip(parts[CONTENT_ID].to_list(), parts[CONTENT_DATA].to_list(), strict=True))


def request_parts(
    trace_frame: pl.DataFrame, content: dict[str, str | None]
) -> list[list[str | None]]:
    """Per row, the texts of its request parts in order (None where redacted or missing)."""
    ids = trace_frame.get_column(REQUEST_CONTENT_IDS)
    lookup = pl.DataFrame(
        {CONTENT_ID: list(content), CONTENT_DATA: list(content.values())},
        schema={CONTENT_ID: pl.String, CONTENT_DATA: pl.String},
    )
    rows = ids.to_frame().with_row_index("row")
    grouped = (
        rows.explode(REQUEST_CONTENT_IDS)
        .drop_nulls(REQUEST_CONTENT_IDS)  # null or empty lists: no parts
        .with_row_index("pos")
        .join(lookup, left_on=REQUEST_CONTENT_IDS, right_on=CONTENT_ID, how="left")
        .sort("pos")
        .group_by("row", maintain_order=True)
        .agg(pl.col(CONTENT_DATA))
    )
    no_parts = pl.lit([], dtype=pl.List(pl.String))
    grouped = (
        rows.select("row")
        .join(grouped, on="row", how="left")
        .sort("row")
        .select(pl.col(CONTENT_DATA).fill_null(no_parts))
    )
    result: list[list[str | None]] = grouped[CONTENT_DATA].to_list()
    return result
