"""What hosted APIs (OpenAI, Anthropic) accept and how they refuse the rest.

Hosted APIs answer a request with a top-level field they do not know (vLLM's `min_tokens`,
`ignore_eos`) with HTTP 400, and a request without a valid key with HTTP 401, each in its
own error shape (`providers.errors.error_body`). The sim's `--strict` mode answers the same
way, so replay can be tested against what a hosted endpoint would do. The field lists are
the APIs' documented request bodies (OpenAI API reference, Anthropic Messages API, 2025).
"""

from __future__ import annotations

from typing import Any, Final

from agentload.providers.api import Api

__all__ = ["ACCEPTED_FIELDS", "auth_failure", "unknown_fields", "unknown_fields_message"]


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


_OPENAI_COMMON: Final = _fields(
    "model frequency_penalty logit_bias logprobs max_tokens n presence_penalty seed stop "
    "stream stream_options temperature top_p user"
)

ACCEPTED_FIELDS: Final[dict[Api, frozenset[str]]] = {
    Api.OPENAI_COMPLETIONS: _OPENAI_COMMON | _fields("prompt best_of echo suffix"),
    Api.OPENAI_CHAT: _OPENAI_COMMON
    | _fields(
        "messages audio function_call functions max_completion_tokens metadata modalities "
        "parallel_tool_calls prediction prompt_cache_key prompt_cache_retention "
        "reasoning_effort response_format safety_identifier service_tier store tool_choice "
        "tools top_logprobs verbosity web_search_options"
    ),
    Api.OPENAI_RESPONSES: _fields(
        "model input background conversation include instructions max_output_tokens "
        "max_tool_calls metadata parallel_tool_calls previous_response_id prompt "
        "prompt_cache_key prompt_cache_retention reasoning safety_identifier service_tier "
        "store stream stream_options temperature text tool_choice tools top_logprobs top_p "
        "truncation user"
    ),
    Api.ANTHROPIC_MESSAGES: _fields(
        "model messages max_tokens container context_management mcp_servers metadata "
        "service_tier stop_sequences stream system temperature thinking tool_choice tools "
        "top_k top_p"
    ),
}


def unknown_fields(api: Api, body: dict[str, Any]) -> list[str]:
    """The body's top-level fields `api` does not accept, sorted."""
    return sorted(set(body) - ACCEPTED_FIELDS[api])


def unknown_fields_message(api: Api, names: list[str]) -> str:
    """The message of the 400 `api` answers unknown fields with (the providers' wording)."""
    if api is Api.ANTHROPIC_MESSAGES:
        return f"{names[0]}: Extra inputs are not permitted"
    noun = "argument" if len(names) == 1 else "arguments"
    return f"Unrecognized request {noun} supplied: {', '.join(names)}"


def auth_failure(api: Api | None, presented: bool) -> tuple[str, str, str | None]:
    """(message, OpenAI error type, code) of the 401 for a missing (`presented` False) or
    wrong key, to write with `providers.errors.error_body`. Unlike OpenAI's, the message
    never quotes any part of the key presented."""
    if api is Api.ANTHROPIC_MESSAGES:
        message = "invalid x-api-key" if presented else "x-api-key header is required"
        return message, "authentication_error", None
    if presented:
        return "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
    return (
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        None,
    )
