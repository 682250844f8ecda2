"""Explicit session identifiers sent by agents, and the content evidence stitching reads
(system prompts, tool arguments a child may show, reply quotes); pure functions.

Headers are tried first, in order, then body fields. Defaults cover what common agents send:
Claude Code (X-Claude-Code-Session-Id header; metadata.user_id in the body, either a JSON
string with "session_id" or the legacy "..._session_<uuid>" form), Codex (session-id /
session_id and conversation_id headers, prompt_cache_key in the body), generic gateways
(X-Session-ID, X-Session-Affinity) and the Responses API `conversation`. The OpenAI `user`
field is not a default: it names an end user, not a conversation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from agentload.providers.api import Api
from agentload.providers.response_summary import output_text, tool_calls

__all__ = [
    "DEFAULT_SESSION_HEADERS",
    "WORKLOAD_HEADER",
    "echo_text",
    "group_key",
    "identity",
    "instructions",
    "new_spawns",
    "spawn_args",
]

DEFAULT_SESSION_HEADERS: Final = (
    "x-session-id",
    "x-claude-code-session-id",
    "session-id",
    "session_id",
    "conversation_id",
    "x-session-affinity",
    "x-opencode-session",
)
WORKLOAD_HEADER: Final = "x-agentload-workload"

_LEGACY_CLAUDE = re.compile(r"_session_([0-9A-Za-z\-]+)$")


def _claude_user_id(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and decoded.get("session_id"):
            return str(decoded["session_id"])
    match = _LEGACY_CLAUDE.search(value)
    return match.group(1) if match else None


def _body_key(body: Mapping[str, Any]) -> str | None:
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        sid = _claude_user_id(metadata.get("user_id"))
        if sid:
            return f"metadata.user_id={sid}"
    for name in ("prompt_cache_key", "conversation_id"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return f"{name}={value}"
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if isinstance(conversation, str) and conversation:
        return f"conversation={conversation}"
    return None


def group_key(
    headers: Mapping[str, str], body: Mapping[str, Any], header_names: Sequence[str]
) -> str | None:
    """The first explicit session identifier found; `headers` has lower-case names."""
    for name in header_names:
        value = headers.get(name)
        if value:
            return f"{name}={value}"
    return _body_key(body)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def spawn_args(api: Api, content: object) -> tuple[str, ...]:
    """The string arguments of the tool calls in a response's stored content, as they read
    inside a request's stored JSON (escaped, UTF-8 kept): a subagent's task or a side call's
    input shows up verbatim in the first request it causes (Claude Code's Agent `prompt`,
    an openai-agents agent-as-tool's `input`)."""
    return tuple(
        json.dumps(text, ensure_ascii=False)[1:-1]
        for _, args in tool_calls(api, content)
        for text in _strings(args)
    )


_ECHO_CHARS = 48


def echo_text(api: Api, content: object) -> str | None:
    """A piece of what the response generated as the next request's stored JSON will quote
    it (the client sends the reply back in its history): the start of its longest line.
    None when too short to tell two replies apart."""
    piece = max(output_text(api, content).split("\n"), key=len)
    if len(piece) < 12:
        return None
    return json.dumps(piece[:_ECHO_CHARS], ensure_ascii=False)[1:-1]


_MIN_SPAWN_CHARS = 16  # shorter tool arguments ("ls", a path) say nothing about a child
_DECODER = json.JSONDecoder()


def instructions(envelope: str | None) -> str | None:
    """The JSON text of an envelope's system prompt (Messages `system`, Responses
    `instructions`), read from the stored text without parsing the rest: the envelope is
    canonical JSON (sorted keys, no spaces), so the top-level keys are walked in order and
    the walk stops before `tools` (tens of KB), which sorts after both."""
    if not envelope or envelope[0] != "{":
        return None
    at = 1
    try:
        while envelope[at] != "}":
            key, at = _DECODER.raw_decode(envelope, at)
            if not isinstance(key, str) or key > "system":
                return None
            value, end = _DECODER.raw_decode(envelope, at + 1)  # after the ":"
            if key in ("system", "instructions") and value:
                return envelope[at + 1 : end]
            at = end + 1 if envelope[end] == "," else end
    except (ValueError, IndexError):
        return None
    return None


def identity(envelope: str | None, message_ids: tuple[str, ...]) -> str | None:
    """What a conversation starts with: its system prompt when the envelope has one, else
    its first message."""
    text = instructions(envelope)
    if text is not None:
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return message_ids[0] if message_ids else None


def new_spawns(spawn_args: Iterable[str], seed: Iterable[str]) -> frozenset[str]:
    """Tool arguments long enough to identify a child and not copied from the session's
    seed, the texts its first request started with (a command the instructions quote would
    match the next run of the same agent, which starts with the same instructions)."""
    seed = tuple(seed)
    return frozenset(
        a for a in spawn_args if len(a) >= _MIN_SPAWN_CHARS and not any(a in t for t in seed)
    )
