"""Incremental Server-Sent Events framing (bytes in, events out).

Only framing happens here (no JSON): the recorder feeds network chunks with their arrival
times and gets back the events each chunk completed, so an event is stamped with the arrival
time of the chunk that carried its last byte.
"""

from __future__ import annotations

import bisect
import itertools
from typing import NamedTuple

__all__ = ["SseEvent", "SseParser", "parse_recorded"]


class SseEvent(NamedTuple):  # a tuple: several times cheaper to make than a dataclass
    event: str  # the `event:` field, "message" when absent
    data: str  # `data:` lines joined by newlines
    t_ns: int  # arrival time of the chunk that completed the event


class SseParser:
    """Split a byte stream into SSE events; tolerant of CRLF and chunk boundaries anywhere."""

    __slots__ = ("_buf", "malformed")

    def __init__(self) -> None:
        self._buf = b""
        self.malformed = 0  # blocks without any data/event/comment field (garbage)

    def feed(self, data: bytes, t_ns: int) -> list[SseEvent]:
        buf = self._buf + data
        if b"\r" in buf:
            # A CR at the very end may be the first half of a CRLF split across chunks.
            keep_cr = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n")
            buf = buf[:-1].replace(b"\r", b"\n") + b"\r" if keep_cr else buf.replace(b"\r", b"\n")
        blocks = buf.split(b"\n\n")
        self._buf = blocks.pop()
        events: list[SseEvent] = []
        for block in blocks:
            event = self._parse_block(block, t_ns)
            if event is not None:
                events.append(event)
        return events

    def close(self, t_ns: int) -> tuple[list[SseEvent], bool]:
        """Flush a final event not followed by a blank line; second value: bytes were left
        over that did not form a complete event (the stream was cut mid-event)."""
        rest = self._buf.rstrip(b"\r\n")
        self._buf = b""
        if not rest:
            return [], False
        event = self._parse_block(rest, t_ns)
        return ([event] if event is not None else []), True

    def _parse_block(self, block: bytes, t_ns: int) -> SseEvent | None:
        if block.startswith(b"data: ") and b"\n" not in block:  # the usual one-line event
            return SseEvent("message", block[6:].decode("utf-8", "replace"), t_ns)
        name = "message"
        data: list[str] = []
        known = False
        for raw in block.split(b"\n"):
            if not raw:
                continue
            line = raw.decode("utf-8", "replace")
            field, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
                known = True
            elif field == "event":
                name = value
                known = True
            elif field in ("", "id", "retry"):
                known = True
        if not known:
            self.malformed += 1
            return None
        if not data:
            return None
        return SseEvent(name, "\n".join(data), t_ns)


def parse_recorded(
    chunks: list[bytes], times: list[int], end_ns: int
) -> tuple[list[SseEvent], bool, int]:
    """All events of a recorded stream at once: (events, cut mid-event, malformed blocks).

    One join and one scan instead of a parser call per chunk; each event is stamped with the
    arrival time of the chunk holding its terminating blank line."""
    parser = SseParser()
    data = b"".join(chunks)
    if b"\r" in data:  # CR line endings: the incremental parser normalises them
        events = [e for c, t in zip(chunks, times, strict=False) for e in parser.feed(c, t)]
        tail, cut = parser.close(end_ns)
        return events + tail, cut, parser.malformed
    ends = list(itertools.accumulate(len(c) for c in chunks))
    if data.isascii():
        return _parse_ascii(parser, data.decode("ascii"), ends, times, end_ns)
    events = []
    pos = 0
    while (i := data.find(b"\n\n", pos)) >= 0:
        k = bisect.bisect_right(ends, i + 1)
        event = parser._parse_block(data[pos:i], times[k] if k < len(times) else end_ns)
        if event is not None:
            events.append(event)
        pos = i + 2
    rest = data[pos:].strip(b"\n")
    cut = bool(rest)
    if cut:
        event = parser._parse_block(rest, end_ns)
        if event is not None:
            events.append(event)
    return events, cut, parser.malformed


def _parse_ascii(
    parser: SseParser, text: str, ends: list[int], times: list[int], end_ns: int
) -> tuple[list[SseEvent], bool, int]:
    """parse_recorded for an ASCII stream (most are: JSON escapes non-ASCII by default):
    one decode and one split for the whole stream; character offsets are byte offsets."""
    blocks = text.split("\n\n")
    rest = blocks.pop()
    events: list[SseEvent] = []
    append = events.append
    n_times = len(times)
    pos = 0
    for block in blocks:
        end = pos + len(block)  # the blank line starts here
        k = bisect.bisect_right(ends, end + 1)
        t_ns = times[k] if k < n_times else end_ns
        if block.startswith("data: ") and "\n" not in block:
            append(SseEvent("message", block[6:], t_ns))
        elif (event := parser._parse_block(block.encode(), t_ns)) is not None:
            append(event)
        pos = end + 2
    rest = rest.strip("\n")
    if rest and (event := parser._parse_block(rest.encode(), end_ns)) is not None:
        events.append(event)
    return events, bool(rest), parser.malformed
