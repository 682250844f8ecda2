"""The four provider APIs: their names, endpoints and the request fields that tell them apart.

Everything that knows a provider's wire format lives in this package (`providers`);
capture, replay and the sim import it and never each other.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from agentload.base.secret import MASK

__all__ = [
    "CONVERSATION_FIELD",
    "CREDENTIAL_HEADERS",
    "ENDPOINTS",
    "KEY_ENV",
    "Api",
    "auth_headers",
    "classify",
    "is_public",
    "presented_key",
    "request_headers",
    "shown_headers",
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

# Headers whose values are credentials (lower case): never written, logged or printed.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-goog-api-key"}
)

# The environment variable each provider's own SDK reads its key from.
KEY_ENV: Final[dict[Api, str]] = {
    Api.OPENAI_CHAT: "OPENAI_API_KEY",
    Api.OPENAI_COMPLETIONS: "OPENAI_API_KEY",
    Api.OPENAI_RESPONSES: "OPENAI_API_KEY",
    Api.ANTHROPIC_MESSAGES: "ANTHROPIC_API_KEY",
}


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


def auth_headers(api: Api, key: str) -> dict[str, str]:
    """The header carrying an API key as `api` expects it: Anthropic's `x-api-key`, OpenAI's
    (and vLLM's, SGLang's, llama-server's) `Authorization: Bearer`."""
    if api is Api.ANTHROPIC_MESSAGES:
        return {"x-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def is_public(name: str, public: Iterable[str]) -> bool:
    """Whether a header's value may be shown: named in `public` and not a credential."""
    lower = name.lower()
    return lower not in CREDENTIAL_HEADERS and lower in {p.lower() for p in public}


def shown_headers(headers: Iterable[Sequence[str]], public: Iterable[str]) -> list[list[str]]:
    """[name, value] pairs as they may be recorded or shown: every value not public masked."""
    public = tuple(public)
    return [[str(n), str(v) if is_public(str(n), public) else MASK] for n, v in headers]


def presented_key(api: Api | None, headers: Mapping[str, str]) -> str | None:
    """The key a request presents the way `api` expects (`auth_headers`), or None. With
    `api` None (endpoints outside the four APIs: models, metrics, tokenize) either way counts.
    `headers` must look names up case-insensitively (aiohttp's and httpx's do)."""
    if api is not Api.ANTHROPIC_MESSAGES:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if api is None or api is Api.ANTHROPIC_MESSAGES:
        return headers.get("x-api-key") or None
    return None
