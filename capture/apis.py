"""Request bodies as capture stores them: scrubbed, canonical parts, cached by their raw
text (pure functions; the wire format itself is `providers`'s)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentload.capture.jsonspans import loads_with_spans
from agentload.capture.secrets import scrub_text, scrub_value
from agentload.providers.api import CONVERSATION_FIELD, Api
from agentload.providers.requests import item_role, split, tool_result_ids

__all__ = ["ParsedRequest", "PartCache", "dumps", "parse_request"]


def dumps(value: object) -> str:
    """Canonical JSON text of one content part (sorted keys, so equal parts hash equally)."""
    return scrub_text(json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")))


@dataclass(frozen=True)
class ParsedRequest:
    api: Api
    model: str | None
    stream: bool
    envelope: str  # canonical JSON of the body without its conversation field
    messages: tuple[str, ...]  # canonical JSON of each conversation item
    roles: tuple[str, ...]  # role (or item type) of each message, "" when unknown
    tool_result_ids: frozenset[str]  # tool calls this request answers
    previous_response_id: str | None  # Responses API chaining
    body: dict[str, Any]  # the decoded body (for session keys); never written as is


# Below this size a body is parsed by json.loads alone: walking it for spans costs more than
# serialising its few parts again.
_CACHE_MIN_BYTES = 2048


class PartCache:
    """Stored text of request parts by the raw JSON text they came from (a part's stored
    text depends on nothing else), so a history resent every turn is not re-serialised and
    re-scrubbed each time. Bounded by characters held; emptied when full."""

    def __init__(self, max_chars: int = 32 << 20) -> None:
        self._parts: dict[object, str] = {}
        self._chars = 0
        self.max_chars = max_chars

    def lookup(self, key: object) -> str | None:
        return self._parts.get(key)

    def put(self, key: object, text: str, key_size: int) -> str:
        if self._chars + key_size + len(text) > self.max_chars:
            self._parts.clear()
            self._chars = 0
        self._parts[key] = text
        self._chars += key_size + len(text)
        return text


def _cached_items(items: list[object], raws: list[str] | None, cache: PartCache) -> tuple[str, ...]:
    if raws is None:  # the field is not an array: a bare string prompt, say
        return tuple(dumps(scrub_value(item)) for item in items)
    out = []
    for raw, item in zip(raws, items, strict=True):
        text = cache.lookup(raw)
        out.append(text if text is not None else cache.put(raw, dumps(scrub_value(item)), len(raw)))
    return tuple(out)


def parse_request(api: Api, body: bytes, cache: PartCache | None = None) -> ParsedRequest:
    """Split a decoded JSON request body into envelope and messages; ValueError if not JSON."""
    field = CONVERSATION_FIELD[api]
    if cache is None or len(body) < _CACHE_MIN_BYTES:
        decoded, spans = json.loads(body), None
    else:
        decoded, spans = loads_with_spans(body, field)
    if not isinstance(decoded, dict):
        raise ValueError("request body is not a JSON object")
    envelope, items = split(api, decoded)
    model = decoded.get("model")
    prev = decoded.get("previous_response_id")
    if cache is None or spans is None:
        envelope_text = dumps(scrub_value(envelope))
        messages = tuple(dumps(scrub_value(item)) for item in items)
    else:
        key = tuple(sorted((k, v) for k, v in spans.members.items() if k != field))
        envelope_text = cache.lookup(key) or cache.put(
            key, dumps(scrub_value(envelope)), sum(len(k) + len(v) for k, v in key)
        )
        messages = _cached_items(items, spans.elements, cache)
    return ParsedRequest(
        api=api,
        model=str(model) if model is not None else None,
        stream=bool(decoded.get("stream", False)),
        envelope=envelope_text,
        messages=messages,
        roles=tuple(item_role(item) for item in items),
        tool_result_ids=tool_result_ids(api, items),
        previous_response_id=str(prev) if prev else None,
        body=decoded,
    )
