"""Incremental Server-Sent Events parsing for OpenAI and Anthropic streaming responses.

`StreamParser.feed` takes the bytes of one network read and returns how many content events
(tokens, as far as the client can tell) they completed; usage, the end marker and in-stream
errors are kept on the parser. It is pure (no I/O, no clock), so the client can stamp each
read with its own arrival time.
"""

from __future__ import annotations

import json
from typing import Any


class StreamError(Exception):
    """The stream broke the protocol (garbage, an in-stream error event)."""


_CONTENT_KEYS = (b'"text":"', b'"content":"', b'"reasoning_content":"', b'"reasoning":"')
_SLOW_MARKERS = (b'"usage":{', b'"error"', b'": ')
_BULK_SLOW = (*_SLOW_MARKERS, b"tool_calls", b"[DONE]")


def _fast_count(payload: bytes, anthropic: bool) -> int | None:
    """Content events without usage or errors, counted without a JSON parse (the hot path:
    one per token). None sends the event to the full parser. Engines emit compact JSON; a
    spaced payload takes the slow path."""
    if not (payload[:1] == b"{" and payload[-1:] == b"}"):
        return None  # let json.loads report it
    if any(marker in payload for marker in _SLOW_MARKERS):
        return None
    if anthropic:
        return 1 if b'"type":"content_block_delta"' in payload else None
    for key in _CONTENT_KEYS:
        i = payload.find(key)
        if i >= 0 and payload[i + len(key) : i + len(key) + 1] != b'"':
            return 1
    if b'"tool_calls":[' in payload:
        return 1
    return None


def _plain_prefix(complete: bytes) -> int:
    """Length of the leading run of plain OpenAI content events in `complete` (whole
    events): `data: {...}` lines without usage, errors, tool calls or spaced JSON. The
    usual read is all plain, or plain up to the usage event at the end of a stream."""
    stop = len(complete)
    for marker in _BULK_SLOW:
        at = complete.find(marker, 0, stop)
        if at >= 0:
            stop = at
    cut = len(complete) if stop == len(complete) else complete.rfind(b"\n\n", 0, stop) + 2
    plain = complete[:cut]
    n = plain.count(b"\n\n")
    if (
        not n
        or plain.count(b"\n") != 2 * n  # one line per event
        or plain.count(b"data: {") != n
        or plain.count(b"}\n\n") != n
    ):
        return 0  # other lines or fields, or a malformed event: parse one by one
    return cut


def _count_plain(plain: bytes) -> int:
    return sum(plain.count(k) - plain.count(k + b'"') for k in _CONTENT_KEYS)


class StreamParser:
    """Parse SSE events of one response. `anthropic` selects the Messages event model."""

    __slots__ = ("_buf", "anthropic", "cached", "completion", "done", "prompt")

    def __init__(self, anthropic: bool = False) -> None:
        self.anthropic = anthropic
        self._buf = b""
        self.done = False
        self.prompt: int | None = None
        self.completion: int | None = None
        self.cached: int | None = None

    def feed(self, data: bytes) -> int:
        """Consume bytes; return the number of content events completed by them."""
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n") + 2
        if end < 2:
            self._buf = buf
            return 0
        complete, self._buf = buf[:end], buf[end:]
        count = 0
        if not self.anthropic:
            cut = _plain_prefix(complete)
            if cut:
                count = _count_plain(complete[:cut])
                complete = complete[cut:]
        for event in complete.split(b"\n\n")[:-1]:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    count += self._data(line[5:].strip())
                elif line and not line.startswith((b"event:", b"id:", b"retry:", b":")):
                    raise StreamError(f"not an SSE line: {line[:80]!r}")
        return count

    def _data(self, payload: bytes) -> int:
        if payload == b"[DONE]":
            self.done = True
            return 0
        fast = _fast_count(payload, self.anthropic)
        if fast is not None:
            return fast
        try:
            obj = json.loads(payload)
        except ValueError:
            raise StreamError(f"undecodable SSE data: {payload[:80]!r}") from None
        if not isinstance(obj, dict):
            raise StreamError(f"SSE data is not an object: {payload[:80]!r}")
        if self.anthropic:
            return self._anthropic(obj)
        return self._openai(obj)

    def _openai(self, obj: dict[str, Any]) -> int:
        if "error" in obj:
            raise StreamError(f"error event: {str(obj['error'])[:200]}")
        usage = obj.get("usage")
        if usage:
            self.prompt = usage.get("prompt_tokens")
            self.completion = usage.get("completion_tokens")
            details = usage.get("prompt_tokens_details") or {}
            self.cached = details.get("cached_tokens", self.cached)
        count = 0
        for choice in obj.get("choices") or ():
            delta = choice.get("delta")
            if delta is None:
                count += bool(choice.get("text"))
            else:
                count += bool(
                    delta.get("content")
                    or delta.get("reasoning_content")
                    or delta.get("reasoning")
                    or delta.get("tool_calls")
                )
        return count

    def _anthropic(self, obj: dict[str, Any]) -> int:
        kind = obj.get("type")
        if kind == "content_block_delta":
            return 1
        if kind == "message_start":
            self._anthropic_usage((obj.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self._anthropic_usage(obj.get("usage") or {})
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise StreamError(f"error event: {str(obj.get('error'))[:200]}")
        return 0

    def _anthropic_usage(self, usage: dict[str, Any]) -> None:
        if "input_tokens" in usage:
            read = usage.get("cache_read_input_tokens") or 0
            created = usage.get("cache_creation_input_tokens") or 0
            self.prompt = usage["input_tokens"] + read + created
            self.cached = read
        if "output_tokens" in usage:
            self.completion = usage["output_tokens"]
