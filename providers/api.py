"""The four provider APIs: their names, endpoints and the request fields that tell them apart.

Everything that knows a provider's wire format lives in this package (`providers`);
capture, replay and the sim import it and never each other.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "CONVERSATION_FIELD",
    "ENDPOINTS",
    "Api",
    "classify",
    "request_headers",
]


class Api(enum.StrEnum):
    """A provider API, as stored in the trace's `api` column."""

    OPENAI_CHAT = "openai-chat"
    OPENAI_COMPLETIONS = "openai-completions"
    OPENAI_RESPONSES = "openai-responses"
    ANTHROPIC_MESSAGES = "anthropic-messages"


# The path each API is served at under a base URL ending in /v1.
ENDPOINTS: Final[dict[Api, str]] = {
    Api.OPENAI_CHAT: "/v1/chat/completions",
    Api.OPENAI_COMPLETIONS: "/v1/completions",
    Api.OPENAI_RESPONSES: "/v1/responses",
    Api.ANTHROPIC_MESSAGES: "/v1/messages",
}

# Request body field that carries the conversation, per API; everything else is the envelope.
CONVERSATION_FIELD: Final[dict[Api, str]] = {
    Api.OPENAI_CHAT: "messages",
    Api.OPENAI_COMPLETIONS: "prompt",
    Api.OPENAI_RESPONSES: "input",
    Api.ANTHROPIC_MESSAGES: "messages",
}

# Prefix of the tool-call ids each provider issues (the sim mints ids of the same shape).
TOOL_CALL_ID_PREFIX: Final[dict[Api, str]] = {
    Api.OPENAI_CHAT: "call_",
    Api.OPENAI_COMPLETIONS: "call_",
    Api.OPENAI_RESPONSES: "call_",
    Api.ANTHROPIC_MESSAGES: "toolu_",
}

ANTHROPIC_VERSION: Final = "2023-06-01"


def classify(method: str, path: str) -> Api | None:
    """The API of an LLM call, or None for traffic that is not one (count_tokens, models)."""
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


def request_headers(api: Api) -> dict[str, str]:
    """Headers a request of `api` needs besides credentials and the content type."""
    if api is Api.ANTHROPIC_MESSAGES:
        return {"anthropic-version": ANTHROPIC_VERSION}
    return {}
