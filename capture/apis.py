"""Which requests are LLM calls, and what their bodies hold (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from capture.jsonspans import loads_with_spans
from capture.secrets import scrub_text, scrub_value
from traceformat.schema import Api

__all__ = ["ParsedRequest", "PartCache", "classify", "dumps", "parse_request"]

# Request body field that carries the conversation, per API; everything else is the envelope.
_CONVERSATION_FIELD: dict[Api, str] = {
    Api.OPENAI_CHAT: "messages",
    Api.OPENAI_COMPLETIONS: "prompt",
    Api.OPENAI_RESPONSES: "input",
    Api.ANTHROPIC_MESSAGES: "messages",
}


def classify(method: str, path: str) -> Api | None:
    """The API of an LLM call, or None for traffic that is passed through unrecorded."""
    if method != "POST":
        return None
    p = path.split("?", 1)[0].rstrip("/")
    if p.endswith("/chat/completions"):
        return Api.OPENAI_CHAT
    if p.endswith("/completions"):
        return Api.OPENAI_COMPLETIONS
    if p.endswith("/responses"):
        return Api.OPENAI_RESPONSES
    if p.endswith("/messages"):
        return Api.ANTHROPIC_MESSAGES
    return None


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


def _as_items(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]  # a bare string prompt/input is one part


def _role_of(item: object) -> str:
    if isinstance(item, dict):
        return str(item.get("role") or item.get("type") or "")
    return "user"


def _tool_result_ids(api: Api, items: list[object]) -> frozenset[str]:
    ids: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        if api is Api.OPENAI_CHAT and item.get("role") == "tool":
            ids.add(str(item.get("tool_call_id", "")))
        elif api is Api.OPENAI_RESPONSES and item.get("type") == "function_call_output":
            ids.add(str(item.get("call_id", "")))
        elif api is Api.ANTHROPIC_MESSAGES and isinstance(item.get("content"), list):
            for block in item["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    ids.add(str(block.get("tool_use_id", "")))
    ids.discard("")
    return frozenset(ids)


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
    field = _CONVERSATION_FIELD[api]
    if cache is None or len(body) < _CACHE_MIN_BYTES:
        decoded, spans = json.loads(body), None
    else:
        decoded, spans = loads_with_spans(body, field)
    if not isinstance(decoded, dict):
        raise ValueError("request body is not a JSON object")
    items = _as_items(decoded.get(field))
    envelope = {k: v for k, v in decoded.items() if k != field}
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
        roles=tuple(_role_of(item) for item in items),
        tool_result_ids=_tool_result_ids(api, items),
        previous_response_id=str(prev) if prev else None,
        body=decoded,
    )
