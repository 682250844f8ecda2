"""Stitching again, offline, over any set of trace files (`agentload trace stitch`, and what
`profile derive` does before it derives).

Each call's evidence is read back from what the trace stores, the same values capture
had: tool results and `previous_response_id` from the request parts, emitted tool calls,
their arguments and the response id from the stored response, the group from the
recorded session id (`g-<hash of the key>`, equal in every capture process). Calls are
stitched in order of request start over all files together, so the files of several
proxy processes join up; the recorded files are left as they are.

Not recoverable offline, so different from online when they matter: redacted content
(no texts: no tool-arguments evidence, and tool results only by content ids), and a
streamed chat response's id (never chained to, so without effect).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from agentload.base.errors import FormatError
from agentload.capture.session_keys import echo_text, spawn_args
from agentload.capture.stitch import Assignment, CallKeys, Stitcher, group_of
from agentload.providers.api import Api
from agentload.providers.requests import tool_result_ids
from agentload.providers.response_summary import tool_calls
from agentload.traceformat import schema as S
from agentload.traceformat.content import content_table
from agentload.traceformat.io import read, write_file

__all__ = ["ASSIGNED", "Stitched", "merged", "restitch_frames", "stitch_files"]

# The columns stitching sets.
ASSIGNED: Final = (S.SESSION_ID, S.CALL_INDEX, S.PARENT_SESSION_ID, S.PARENT_CALL_INDEX, S.STITCH)
_ID_PREFIX: Final = "s"
_ORDER: Final = "_restitch_order"


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class _Evidence:
    """CallKeys of stored calls; each part is decoded once however many calls resend it."""

    def __init__(self, content: dict[str, str | None]) -> None:
        self.content = content
        self._answers: dict[tuple[Api | None, str], frozenset[str]] = {}

    def _answered(self, api: Api | None, cid: str) -> frozenset[str]:
        key = (api, cid)
        found = self._answers.get(key)
        if found is None:
            item = _json(self.content.get(cid)) if api is not None else None
            found = self._answers[key] = tool_result_ids(api, [item]) if api else frozenset()
        return found

    def keys(self, row: dict[str, Any]) -> CallKeys:
        try:
            api: Api | None = Api(row[S.API])
        except ValueError:  # an API this version does not know: its ids are not read
            api = None
        ids: list[str] = row[S.REQUEST_CONTENT_IDS] or []
        envelope = self.content.get(ids[0]) if ids else None
        body = _json(envelope)
        prev = body.get("previous_response_id") if isinstance(body, dict) else None
        messages = tuple(ids[1:])
        answered = frozenset().union(*(self._answered(api, cid) for cid in messages))
        response = _json(self.content.get(row[S.RESPONSE_CONTENT_ID] or ""))
        emitted = tuple(i for i, _ in tool_calls(api, response)) if api else ()
        rid = response.get("id") if isinstance(response, dict) else None
        start = row[S.T_REQUEST_START_NS]
        return CallKeys(
            t_start_ns=start,
            t_end_ns=row[S.T_RESPONSE_END_NS] or start,
            group_key=None,
            group_id=group_of(row[S.SESSION_ID]),
            message_ids=messages,
            tool_result_ids=answered,
            previous_response_id=str(prev) if prev else None,
            emitted_tool_ids=emitted,
            response_id=str(rid) if isinstance(rid, str) and rid else None,
            envelope=envelope,
            message_texts=tuple(self.content.get(cid) or "" for cid in messages),
            spawn_args=spawn_args(api, response) if api and emitted else (),
            echo=echo_text(api, response) if api else None,
        )


def restitch_frames(frames: Sequence[pl.DataFrame]) -> list[pl.DataFrame]:
    """`frames` (TRACE rows with their NEW_CONTENT, one frame per file) with the ASSIGNED
    columns stitched again over all of them together, in order of request start; each
    frame keeps its rows in their order."""
    content: dict[str, str | None] = {}
    for frame in frames:
        content.update(content_table(frame))
    evidence = _Evidence(content)
    needed = [S.API, S.REQUEST_CONTENT_IDS, S.RESPONSE_CONTENT_ID, S.SESSION_ID]
    needed += [S.T_REQUEST_START_NS, S.T_RESPONSE_END_NS]
    calls = pl.concat(
        [
            f.select(needed).with_columns(
                pl.lit(n, pl.Int64).alias("_file"), pl.int_range(pl.len()).alias("_row")
            )
            for n, f in enumerate(frames)
        ]
    ).sort(S.T_REQUEST_START_NS, S.T_RESPONSE_END_NS, "_file", "_row", nulls_last=True)
    stitcher = Stitcher(_ID_PREFIX)
    done: dict[tuple[int, int], Assignment] = {}
    for row in calls.iter_rows(named=True):
        done[(row["_file"], row["_row"])] = stitcher.assign(evidence.keys(row))
    return [_with_assignments(f, n, done) for n, f in enumerate(frames)]


def _with_assignments(
    frame: pl.DataFrame, n: int, done: dict[tuple[int, int], Assignment]
) -> pl.DataFrame:
    rows = [done[(n, i)] for i in range(frame.height)]
    return frame.with_columns(
        pl.Series(S.SESSION_ID, [a.session_id for a in rows], pl.String),
        pl.Series(S.CALL_INDEX, [a.call_index for a in rows], pl.Int32),
        pl.Series(S.PARENT_SESSION_ID, [a.parent_session_id for a in rows], pl.String),
        pl.Series(S.PARENT_CALL_INDEX, [a.parent_call_index for a in rows], pl.Int32),
        pl.Series(S.STITCH, [a.stitch for a in rows], pl.String),
    )


def merged(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The rows of all frames as one trace, in order of request start, each content part
    stored once, with the first row that uses it (one self-contained file)."""
    content: dict[str, dict[str, object]] = {}
    for frame in frames:
        for items in frame[S.NEW_CONTENT].to_list():
            for item in items or ():
                content.setdefault(item[S.CONTENT_ID], item)
    rows = pl.concat(list(frames), how="vertical_relaxed").sort(
        S.T_REQUEST_START_NS, S.T_RESPONSE_END_NS, nulls_last=True, maintain_order=True
    )
    stored: set[str] = set()
    new: list[list[dict[str, object]]] = []
    for ids, response in zip(
        rows[S.REQUEST_CONTENT_IDS].to_list(), rows[S.RESPONSE_CONTENT_ID].to_list(), strict=True
    ):
        parts = []
        for cid in [*(ids or ()), *([response] if response else [])]:
            if cid not in stored and cid in content:
                stored.add(cid)
                parts.append(content[cid])
        new.append(parts)
    return rows.with_columns(pl.Series(S.NEW_CONTENT, new, dtype=rows.schema[S.NEW_CONTENT]))


@dataclass(frozen=True)
class Stitched:
    path: Path
    files: int
    calls: int
    sessions: int  # after stitching again
    recorded_sessions: int  # as the files recorded them (ids are per capture process)
    children: int  # sessions with a parent


def stitch_files(
    traces: Sequence[Path], out: Path, note: Callable[[str], None] = lambda _: None
) -> Stitched:
    """Stitch the calls of `traces` again and write them as one trace file `out`.
    0-byte files are skipped (with a note), as `profile derive` skips them."""
    frames, used = [], []
    for path in traces:
        if path.is_file() and path.stat().st_size == 0:
            note(f"{path}: empty file (0 bytes), skipped")
            continue
        frames.append(read(path, S.Kind.TRACE).frame)
        used.append(path)
    if not frames:
        raise FormatError(f"{traces[0]}: every trace file given is empty (0 bytes)")
    recorded = sum(f[S.SESSION_ID].n_unique() for f in frames)
    trace = merged(restitch_frames(frames))
    info: dict[str, object] = {
        "source": "agentload trace stitch",
        "trace_files": [p.name for p in used],
    }
    write_file(out, S.Kind.TRACE, trace, info=info)
    firsts = trace.filter(pl.col(S.CALL_INDEX) == 0)
    return Stitched(
        out,
        len(used),
        trace.height,
        trace[S.SESSION_ID].n_unique(),
        recorded,
        firsts.filter(pl.col(S.PARENT_SESSION_ID).is_not_null()).height,
    )
