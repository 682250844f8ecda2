"""API errors: raised while handling a request, rendered as an OpenAI or Anthropic body."""

from __future__ import annotations

from typing import Final

# OpenAI error `type` -> Anthropic error `type`
_ANTHROPIC_TYPES: Final = {
    "invalid_request_error": "invalid_request_error",
    "not_found_error": "not_found_error",
    "server_error": "api_error",
}


class ApiError(Exception):
    """A request the sim refuses; `status` is the HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def openai_body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_body(self) -> dict[str, object]:
        kind = _ANTHROPIC_TYPES.get(self.type, "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)
