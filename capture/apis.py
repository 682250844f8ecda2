"""Which requests are LLM calls, and what their bodies hold (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from capture.secrets import scrub_text, scrub_value
from traceformat.schema import Api

__all__ = ["ParsedRequest", "classify", "dumps", "parse_request"]

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


def parse_request(api: Api, body: bytes) -> ParsedRequest:
    """Split a decoded JSON request body into envelope and messages; ValueError if not JSON."""
    decoded = json.loads(body)
    if not isinstance(decoded, dict):
        raise ValueError("request body is not a JSON object")
    field = _CONVERSATION_FIELD[api]
    items = _as_items(decoded.get(field))
    envelope = {k: v for k, v in decoded.items() if k != field}
    model = decoded.get("model")
    prev = decoded.get("previous_response_id")
    return ParsedRequest(
        api=api,
        model=str(model) if model is not None else None,
        stream=bool(decoded.get("stream", False)),
        envelope=dumps(scrub_value(envelope)),
        messages=tuple(dumps(scrub_value(item)) for item in items),
        roles=tuple(_role_of(item) for item in items),
        tool_result_ids=_tool_result_ids(api, items),
        previous_response_id=str(prev) if prev else None,
        body=decoded,
    )
