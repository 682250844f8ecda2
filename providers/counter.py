"""Counting content events in a streamed response of any API, as it arrives (the replay
client's hot path).

`StreamParser.feed` takes the bytes of one network read and returns how many content events
(tokens, as far as the client can tell) they completed; usage, the end marker and in-stream
errors are kept on the parser. It is pure (no I/O, no clock), so the client can stamp each
read with its own arrival time.

Lines end in LF or CRLF (every engine's framing) and each `data:` line is one JSON value;
a bare-CR stream or an event split over several `data:` lines is what `providers.sse`
(capture's full parser) handles, and here it is a StreamError, never a silent miscount.
"""

from __future__ import annotations

import json
from typing import Any

from agentload.providers.api import Api
from agentload.providers.usage import Usage, parse_usage

__all__ = ["END_EVENTS", "StreamError", "StreamParser"]

# Event types that end a stream (besides OpenAI's `data: [DONE]`). A Responses stream ends
# with one of its three terminal events; response.failed carries an error.
END_EVENTS: dict[Api, frozenset[str]] = {
    Api.ANTHROPIC_MESSAGES: frozenset({"message_stop"}),
    Api.OPENAI_RESPONSES: frozenset(
        {"response.completed", "response.incomplete", "response.failed"}
    ),
}
# Responses event types that carry output (text, reasoning, tool-call arguments).
_RESPONSES_CONTENT = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
        "response.refusal.delta",
    }
)


_NO_USAGE = Usage()


class StreamError(Exception):
    """The stream broke the protocol (garbage, an in-stream error event)."""


_CONTENT_KEYS = (b'"text":"', b'"content":"', b'"reasoning_content":"', b'"reasoning":"')
# Completions choices carry only `text` (what the JSON path counts there): counting the other
# keys too cost 6 more scans of every read.
_PLAIN_KEYS = {Api.OPENAI_COMPLETIONS: _CONTENT_KEYS[:1], Api.OPENAI_CHAT: _CONTENT_KEYS}
_SLOW_MARKERS = (b'"usage":{', b'"error"', b'": ')
_BULK_SLOW = (*_SLOW_MARKERS, b"tool_calls", b"[DONE]")


def _fast_count(payload: bytes, api: Api) -> int | None:
    """Content events without usage or errors, counted without a JSON parse (the hot path:
    one per token). None sends the event to the full parser. Engines emit compact JSON; a
    spaced payload takes the slow path."""
    if not (payload[:1] == b"{" and payload[-1:] == b"}"):
        return None  # let json.loads report it
    if any(marker in payload for marker in _SLOW_MARKERS):
        return None
    if api is Api.ANTHROPIC_MESSAGES:
        return 1 if b'"type":"content_block_delta"' in payload else None
    if api is Api.OPENAI_RESPONSES:
        return 1 if b'"type":"response.output_text.delta"' in payload else None
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


def _count_plain(plain: bytes, keys: tuple[bytes, ...]) -> int:
    return sum(plain.count(k) - plain.count(k + b'"') for k in keys)


class StreamParser:
    """Parse the SSE events of one response of `api`."""

    __slots__ = ("_buf", "_usage", "api", "done")

    def __init__(self, api: Api = Api.OPENAI_CHAT) -> None:
        self.api = api
        self._buf = b""
        self.done = False
        self._usage = _NO_USAGE

    @property
    def prompt(self) -> int | None:
        return self._usage.prompt

    @property
    def completion(self) -> int | None:
        return self._usage.completion

    @property
    def cached(self) -> int | None:
        return self._usage.cached

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
        keys = _PLAIN_KEYS.get(self.api)
        if keys is not None:
            cut = _plain_prefix(complete)
            if cut:
                count = _count_plain(complete[:cut], keys)
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
        fast = _fast_count(payload, self.api)
        if fast is not None:
            return fast
        try:
            obj = json.loads(payload)
        except ValueError:
            raise StreamError(f"undecodable SSE data: {payload[:80]!r}") from None
        if not isinstance(obj, dict):
            raise StreamError(f"SSE data is not an object: {payload[:80]!r}")
        if self.api is Api.ANTHROPIC_MESSAGES:
            return self._anthropic(obj)
        if self.api is Api.OPENAI_RESPONSES:
            return self._responses(obj)
        return self._openai(obj)

    def _merge(self, block: object) -> None:
        if block:
            usage = parse_usage(self.api, block)
            # most streams report usage once: nothing to merge it with
            self._usage = usage if self._usage is _NO_USAGE else self._usage.merged(usage)

    def _openai(self, obj: dict[str, Any]) -> int:
        if "error" in obj:
            raise StreamError(f"error event: {str(obj['error'])[:200]}")
        self._merge(obj.get("usage"))
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
            self._merge((obj.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            self._merge(obj.get("usage"))
        elif kind in END_EVENTS[self.api]:
            self.done = True
        elif kind == "error":
            raise StreamError(f"error event: {str(obj.get('error'))[:200]}")
        return 0

    def _responses(self, obj: dict[str, Any]) -> int:
        kind = obj.get("type")
        if kind in _RESPONSES_CONTENT:
            return 1 if obj.get("delta") else 0
        if kind in END_EVENTS[self.api]:
            response = obj.get("response") or {}
            self._merge(response.get("usage") if isinstance(response, dict) else None)
            if kind == "response.failed":
                error = response.get("error") if isinstance(response, dict) else None
                raise StreamError(f"response.failed: {str(error)[:200]}")
            self.done = True
        elif kind == "error":
            raise StreamError(f"error event: {str(obj.get('message') or obj)[:200]}")
        return 0
