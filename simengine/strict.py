"""The sim's hosted-API behaviour: `--strict` field checks and `--api-key` authentication.

`--strict` refuses request fields the hosted API does not accept (HTTP 400), and
`--api-key` refuses requests that do not present the key as the API expects (HTTP 401),
both in the API's own error shape (`providers.hosted`, written by `providers.errors`).
Every route but /health needs the key when one is set (as llama-server does): the replay
client must send it to /v1/models, /tokenize and /metrics too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from agentload.base.secret import Secret
from agentload.providers import hosted
from agentload.providers.api import Api, classify, presented_key
from agentload.providers.errors import error_body
from agentload.simengine.errors import bad_request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Reachable without a key: a load balancer's liveness probe knows no key.
_OPEN_PATHS = frozenset({"/health"})


def check_request(api: Api, body: dict[str, Any], headers: Mapping[str, str]) -> None:
    """400 in `api`'s words when the body holds a field the hosted API rejects, or an
    Anthropic request lacks the `anthropic-version` header (as Anthropic answers)."""
    if api is Api.ANTHROPIC_MESSAGES and not headers.get("anthropic-version"):
        raise bad_request("anthropic-version: header is required")
    names = hosted.unknown_fields(api, body)
    if names:
        raise bad_request(hosted.unknown_fields_message(api, names))


def auth_middleware(key: Secret) -> Any:
    """An aiohttp middleware answering 401 unless the request presents `key`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _OPEN_PATHS:
            return await handler(request)
        api = classify(request.method, request.path)
        presented = presented_key(api, request.headers)
        if key.matches(presented):
            return await handler(request)
        message, kind, code = hosted.auth_failure(api, presented is not None)
        body = error_body(api or Api.OPENAI_CHAT, message, type=kind, code=code)
        return web.json_response(body, status=401)

    return middleware
