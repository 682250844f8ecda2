"""Usage blocks of every API: read into (prompt, completion, cached, reasoning) tokens, and
written from them (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentload.providers.api import Api

__all__ = ["Usage", "parse_usage", "usage_block"]


@dataclass(frozen=True)
class Usage:
    prompt: int | None = None
    completion: int | None = None
    cached: int | None = None
    reasoning: int | None = None

    def merged(self, later: Usage) -> Usage:
        """Fields reported later win (Anthropic streams repeat and update usage)."""
        return Usage(
            later.prompt if later.prompt is not None else self.prompt,
            later.completion if later.completion is not None else self.completion,
            later.cached if later.cached is not None else self.cached,
            later.reasoning if later.reasoning is not None else self.reasoning,
        )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sub(block: dict[str, Any], key: str, field: str) -> int | None:
    details = block.get(key)
    return _int(details.get(field)) if isinstance(details, dict) else None


def parse_usage(api: Api, block: object) -> Usage:
    """Normalise a usage object. Anthropic's input_tokens excludes cache reads and writes, so
    prompt = input + cache_read + cache_creation, making cached/prompt a hit rate everywhere."""
    if not isinstance(block, dict):
        return Usage()
    if api is Api.ANTHROPIC_MESSAGES:
        parts = [
            _int(block.get(k))
            for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        ]
        known = [p for p in parts if p is not None]
        return Usage(
            prompt=sum(known) if known else None,
            completion=_int(block.get("output_tokens")),
            cached=parts[1],
        )
    if api is Api.OPENAI_RESPONSES:
        return Usage(
            prompt=_int(block.get("input_tokens")),
            completion=_int(block.get("output_tokens")),
            cached=_sub(block, "input_tokens_details", "cached_tokens"),
            reasoning=_sub(block, "output_tokens_details", "reasoning_tokens"),
        )
    return Usage(
        prompt=_int(block.get("prompt_tokens")),
        completion=_int(block.get("completion_tokens")),
        cached=_sub(block, "prompt_tokens_details", "cached_tokens"),
        reasoning=_sub(block, "completion_tokens_details", "reasoning_tokens"),
    )


def usage_block(api: Api, prompt: int, completion: int, cached: int) -> dict[str, Any]:
    """The usage object `api` reports for a request: the inverse of `parse_usage`."""
    if api is Api.ANTHROPIC_MESSAGES:
        return {
            "input_tokens": prompt - cached,
            "output_tokens": completion,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        }
    if api is Api.OPENAI_RESPONSES:
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
