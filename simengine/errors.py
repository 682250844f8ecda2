"""API errors: raised while handling a request, rendered in the API's own error shape."""

from __future__ import annotations

from agentload.providers.api import Api
from agentload.providers.errors import error_body


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

    def body(self, api: Api = Api.OPENAI_CHAT) -> dict[str, object]:
        """The error as `api` words it."""
        return error_body(api, self.message, type=self.type, param=self.param, code=self.code)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)
