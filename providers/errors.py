"""Error bodies of every API: written (the sim) and read (capture, replay)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from agentload.providers.api import Api

__all__ = ["error_body", "error_text", "provider_error", "redacted_detail"]

# OpenAI error `type` -> Anthropic error `type`
_ANTHROPIC_TYPES: Final = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "server_error": "api_error",
}

# A provider's error type or code is kept under --redact-content only if it looks like an
# identifier (invalid_request_error, rate_limit_exceeded, 429), never free text.
_ERROR_KIND = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def error_body(
    api: Api,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The JSON body `api` answers a refused request with (`type` in OpenAI's terms)."""
    if api is Api.ANTHROPIC_MESSAGES:
        kind = _ANTHROPIC_TYPES.get(type, "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def redacted_detail(prefix: str, detail: str) -> str:
    """A content-free stand-in for `prefix: detail`: the prefix and the detail's length."""
    return f"{prefix}: [redacted, {len(detail)} chars]"


def provider_error(body: object) -> tuple[str, str] | None:
    """(message, content-free description) of the provider's error in a decoded body or
    event, if it has one. The description keeps only the error type or code. The message
    may quote anything, secrets included: whoever writes it scrubs it first."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        kind = err.get("type") or err.get("code")
        msg = str(err.get("message", "")) or json.dumps(err)
        if not kind:
            return msg, redacted_detail("error", msg)
        safe = str(kind) if _ERROR_KIND.fullmatch(str(kind)) else "error"
        return f"{kind}: {msg}", redacted_detail(safe, msg)
    if isinstance(err, str):
        return err, redacted_detail("error", err)
    if body.get("type") == "error":
        text = json.dumps(body)
        return text, redacted_detail("error", text)
    return None


def error_text(body: object) -> str | None:
    """The provider's error message in a decoded body or event, if it has one."""
    found = provider_error(body)
    return found[0] if found else None
