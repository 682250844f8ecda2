"""Request bodies of every API: split into envelope and conversation, and put back together.

A recorded request is stored as its envelope (the body without the conversation field) and
one part per conversation item; `rebuild` is the inverse of `split`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentload.providers.api import CONVERSATION_FIELD, Api

__all__ = [
    "LIMIT_FIELDS",
    "OUTPUT_LIMIT_FIELDS",
    "VLLM_STYLE",
    "RequestStyle",
    "force_output_length",
    "item_role",
    "rebuild",
    "restyle",
    "split",
    "stream_usage",
    "synthetic_body",
    "tool_result_ids",
]

# Fields that cap the output length, newest first: a body that already uses one keeps it.
OUTPUT_LIMIT_FIELDS: dict[Api, tuple[str, ...]] = {
    Api.OPENAI_CHAT: ("max_completion_tokens", "max_tokens"),
    Api.OPENAI_COMPLETIONS: ("max_tokens",),
    Api.OPENAI_RESPONSES: ("max_output_tokens",),
    Api.ANTHROPIC_MESSAGES: ("max_tokens",),
}
# Every output-cap field of any API.
LIMIT_FIELDS: frozenset[str] = frozenset(f for fs in OUTPUT_LIMIT_FIELDS.values() for f in fs)
# vLLM's sampling extensions that force an exact output length; hosted APIs reject them.
LENGTH_EXTENSIONS: tuple[str, ...] = ("min_tokens", "ignore_eos")
# APIs whose bodies take vLLM's `cache_salt` (its OpenAI-compatible endpoints).
SALTABLE: frozenset[Api] = frozenset({Api.OPENAI_CHAT, Api.OPENAI_COMPLETIONS})


@dataclass(frozen=True)
class RequestStyle:
    """How a target wants the length and cache fields of a request spelled (replay chooses
    one per target kind; see docs/engines.md).

    `extensions`: send vLLM's `min_tokens` and `ignore_eos` (vLLM, SGLang, llama-server, the
    sim; hosted APIs answer them with 400). `chat_limit`: the Chat Completions cap field
    (`max_tokens`, or `max_completion_tokens`, which newer OpenAI models require).
    `cache_salt`: vLLM's request field that keys the prefix cache (chat and completions)."""

    extensions: bool = True
    chat_limit: str = "max_tokens"
    cache_salt: str | None = None


VLLM_STYLE = RequestStyle()


def _as_items(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]  # a bare string prompt/input is one item


def split(api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], list[object]]:
    """(envelope, conversation items) of a decoded request body."""
    field = CONVERSATION_FIELD[api]
    envelope = {k: v for k, v in body.items() if k != field}
    return envelope, _as_items(body.get(field))


def rebuild(api: Api, envelope: dict[str, Any], items: list[object]) -> dict[str, Any]:
    """The body `split` came from (a one-item prompt or input goes back as the bare value
    when that is how it was sent: a string)."""
    field = CONVERSATION_FIELD[api]
    body = dict(envelope)
    if len(items) == 1 and isinstance(items[0], str) and api is not Api.OPENAI_CHAT:
        body[field] = items[0]
    elif items or field not in body:
        body[field] = items
    return body


def item_role(item: object) -> str:
    """The role (or, for Responses items without one, the item type) of a conversation item."""
    if isinstance(item, dict):
        return str(item.get("role") or item.get("type") or "")
    return "user"


def tool_result_ids(api: Api, items: list[object]) -> frozenset[str]:
    """Ids of the tool calls whose results these conversation items carry."""
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


def force_output_length(api: Api, body: dict[str, Any], n: int, extensions: bool) -> None:
    """Make `body` ask for exactly `n` output tokens: the API's own cap (the field the body
    already uses, else the API's usual one) and, with `extensions`, vLLM's `min_tokens` and
    `ignore_eos`, which engines of that family honour and hosted APIs reject."""
    fields = OUTPUT_LIMIT_FIELDS[api]
    used = [f for f in fields if f in body]
    for f in used or [fields[-1]]:
        body[f] = n
    if extensions:
        body["min_tokens"] = n
        body["ignore_eos"] = True


def stream_usage(api: Api, body: dict[str, Any]) -> None:
    """Ask for streaming, with usage in the stream where the API needs to be asked."""
    body["stream"] = True
    if api in (Api.OPENAI_CHAT, Api.OPENAI_COMPLETIONS):
        body["stream_options"] = {"include_usage": True}


def restyle(api: Api, body: dict[str, Any], style: RequestStyle) -> None:
    """Respell a request body built for vLLM (`force_output_length` with extensions) the way
    `style` asks: drop the extensions, rename the chat cap, add the cache salt."""
    if not style.extensions:
        for name in LENGTH_EXTENSIONS:
            body.pop(name, None)
    if api is Api.OPENAI_CHAT:
        caps = [body.pop(f) for f in OUTPUT_LIMIT_FIELDS[api] if f in body]
        if caps:
            body[style.chat_limit] = caps[0]
    if style.cache_salt is not None and api in SALTABLE:
        body["cache_salt"] = style.cache_salt


def synthetic_body(
    api: Api, model_json: str, prompt_json: str, n_out: int, style: RequestStyle = VLLM_STYLE
) -> bytes:
    """A streamed request of `api` with one user prompt and exactly `n_out` output tokens
    (the API's cap plus, per `style`, vLLM's `min_tokens` and `ignore_eos`), usage in the
    stream.

    Built as text: it is the replay client's per-request path. `model_json` and
    `prompt_json` are JSON already: the prompt is a token-id list for Completions and a
    string for the others."""
    force = f'"min_tokens":{n_out},"ignore_eos":true,' if style.extensions else ""
    force += '"stream":true'
    usage = ',"stream_options":{"include_usage":true}'
    if style.cache_salt is not None and api in SALTABLE:
        usage += ',"cache_salt":' + json.dumps(style.cache_salt)
    if api is Api.OPENAI_COMPLETIONS:
        fields = f'"prompt":{prompt_json},"max_tokens":{n_out},{force}{usage}'
    elif api is Api.OPENAI_RESPONSES:
        fields = f'"input":{prompt_json},"max_output_tokens":{n_out},{force}'
    else:
        messages = f'[{{"role":"user","content":{prompt_json}}}]'
        extra = usage if api is Api.OPENAI_CHAT else ""
        cap = style.chat_limit if api is Api.OPENAI_CHAT else "max_tokens"
        fields = f'"messages":{messages},"{cap}":{n_out},{force}{extra}'
    return f'{{"model":{model_json},{fields}}}'.encode()
