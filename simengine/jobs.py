"""Request parsing shared by the APIs: the Job a handler serves, and the output plan."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from agentload.providers import requests
from agentload.providers.api import ENDPOINTS, Api
from agentload.providers.conversation import Conversation
from agentload.providers.usage import usage_block
from agentload.simengine import agentscript, outputs, tokenizer
from agentload.simengine.agentscript import AgentScript
from agentload.simengine.config import EngineConfig
from agentload.simengine.errors import ApiError, bad_request
from agentload.simengine.outputs import Plan, ToolCall


@dataclass(slots=True)
class SimContext:
    """What parsing needs from the server: model name, limits, tokenizer, script."""

    model: str
    engine: EngineConfig
    tok: tokenizer.Tokenizer
    script: AgentScript | None
    # Tool-call ids derived from the prompt (equal prompts, equal ids: collisions on
    # purpose, for stitching tests) instead of unique random ones.
    deterministic_ids: bool = False
    # Responses API: rendered conversations of stored responses, for previous_response_id
    stored: StoredResponses = field(default_factory=lambda: StoredResponses())


@dataclass(slots=True)
class Job:
    endpoint: str
    rid: str
    created: int
    model: str
    prompt_ids: list[int]
    plan: Plan
    max_tokens: int
    stream: bool
    include_usage: bool
    # Anthropic streaming: index of the open content block (-1 none) and next block index;
    # Responses streaming: the open output item's index and the next sequence number
    open_block: int = -1
    next_block: int = 0
    prefix: str = ""  # cached per-chunk SSE prefix (id, created, model)
    seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # API-specific request fields kept


class StoredResponses:
    """Rendered conversations (segments) of stored responses by id, the oldest dropped
    beyond `limit`: the Responses API's `store` and `previous_response_id`."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._by_id: dict[str, tuple[str, ...]] = {}

    def put(self, rid: str, segments: tuple[str, ...]) -> None:
        if len(self._by_id) >= self.limit:
            del self._by_id[next(iter(self._by_id))]
        self._by_id[rid] = segments

    def get(self, rid: str) -> tuple[str, ...] | None:
        return self._by_id.get(rid)


def check_model(body: dict[str, Any], ctx: SimContext) -> str:
    model = body.get("model")
    if model is None:
        raise bad_request("model: required", param="model")
    if model != ctx.model:
        raise ApiError(
            404,
            f"The model `{model}` does not exist. This server serves `{ctx.model}`.",
            type="not_found_error",
            param="model",
            code="model_not_found",
        )
    return ctx.model


def get_int(body: dict[str, Any], name: str, default: int | None, lo: int) -> int | None:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"{name}: must be an integer, got {value!r}", param=name)
    if value < lo:
        raise bad_request(f"{name}: must be >= {lo}, got {value}", param=name)
    return value


def get_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name}: must be a boolean, got {value!r}", param=name)
    return value


def token_ids(value: list[Any], param: str) -> list[int]:
    if not all(type(t) is int for t in value) or (value and min(value) < 0):
        raise bad_request(f"{param}: token ids must be non-negative integers", param=param)
    return value


def check_length(ctx: SimContext, prompt_len: int, max_tokens: int) -> None:
    """400 context_length_exceeded when prompt + max_tokens exceeds --max-model-len, checked
    before the output is built: a plan holds every output token, so a `max_tokens` of 10^12
    would exhaust memory before the engine's own check ran (H5)."""
    limit = ctx.engine.max_model_len
    if prompt_len + max_tokens > limit:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_len + max_tokens} tokens ({prompt_len} in the prompt, {max_tokens} in "
            "the completion). Please reduce the prompt or max_tokens.",
            param="max_tokens" if prompt_len < limit else "prompt",
            code="context_length_exceeded",
        )


def check_prompt_size(ctx: SimContext, chars: int) -> None:
    """400 before tokenizing a text that must exceed --max-model-len: no piece is longer
    than MAX_PIECE_CHARS, so such a text has more than chars / MAX_PIECE_CHARS tokens."""
    limit = ctx.engine.max_model_len
    if chars > limit * tokenizer.MAX_PIECE_CHARS:
        raise bad_request(
            f"This model's maximum context length is {limit} tokens. However, the prompt "
            f"holds {chars} characters, more than {limit * tokenizer.MAX_PIECE_CHARS:,} "
            f"({tokenizer.MAX_PIECE_CHARS} per token at most). Please reduce the prompt.",
            param="prompt",
            code="context_length_exceeded",
        )


def encode_segments(ctx: SimContext, segments: list[str]) -> list[int]:
    """A rendered conversation's ids, refused unread when it cannot fit the model."""
    check_prompt_size(ctx, sum(map(len, segments)))
    return ctx.tok.encode_segments(segments)


def resolve_max_tokens(ctx: SimContext, requested: int | None, prompt_len: int) -> int:
    if requested is not None:
        return requested
    return max(1, min(ctx.engine.default_max_tokens, ctx.engine.max_model_len - prompt_len))


def build_plan(
    ctx: SimContext,
    prompt_ids: list[int],
    body: dict[str, Any],
    max_tokens: int,
    conv: Conversation | None = None,
    id_prefix: str = "call_",
) -> Plan:
    """Scripted tool calls when a script is loaded and tools are offered, else text.

    Lengths are checked first (the plan holds the whole output)."""
    check_length(ctx, len(prompt_ids), max_tokens)
    min_tokens = get_int(body, "min_tokens", 0, 0) or 0
    if min_tokens > ctx.engine.max_model_len:
        raise bad_request(
            f"min_tokens: must be at most the maximum context length "
            f"{ctx.engine.max_model_len}, got {min_tokens}",
            param="min_tokens",
        )
    seed = outputs.prompt_seed(prompt_ids, get_int(body, "seed", None, -(1 << 63)))
    offered = [(t.name, t.schema) for t in conv.tools] if conv is not None else []
    turn = conv.tool_rounds() if conv is not None else 0
    script = ctx.script
    if script is not None and offered:
        if turn < len(script.turns):
            spec = script.turns[turn]
            calls = []
            subagent = conv is not None and agentscript.is_subagent(conv)
            for i, (name, args) in enumerate(agentscript.resolve(spec, offered, subagent)):
                text = json.dumps(args, separators=(",", ":"))
                call_id = (
                    f"{id_prefix}{turn}_{i}_{seed & 0xFFFFFFFF:08x}"
                    if ctx.deterministic_ids
                    else f"{id_prefix}{secrets.token_hex(12)}"  # unique, as providers' are
                )
                calls.append(ToolCall(call_id, name, text, tokenizer.split(text)))
            return outputs.with_tool_calls(spec.text, calls, ctx.tok)
        if script.final_text is not None:
            return outputs.fixed_text(script.final_text, ctx.tok)
    ignore_eos = get_bool(body, "ignore_eos")
    honour = not ctx.engine.ignore_length_fields
    n = outputs.output_length(seed, min_tokens, max_tokens, ignore_eos, honour)
    # Only a cap the request set is hit: the sim's default cap stands in for an EOS (a
    # Responses client such as Codex treats an incomplete response as a failed turn).
    capped = n >= max_tokens and any(f in body for f in requests.LIMIT_FIELDS)
    return outputs.generated(seed, n, "length" if capped else "stop")


def new_job(endpoint: str, rid_prefix: str, counter: int, **kw: Any) -> Job:
    return Job(endpoint, f"{rid_prefix}{counter:x}", int(time.time()), **kw)


class Usage:
    """Token counts of a served request (cached = prompt tokens found in the prefix cache)."""

    __slots__ = ("cached", "completion", "prompt")

    def __init__(self, prompt: int, cached: int, completion: int) -> None:
        self.prompt = prompt
        self.cached = cached
        self.completion = completion


class Codec:
    """How one API parses a body and encodes responses; subclasses per endpoint."""

    api: Api = Api.OPENAI_CHAT
    stream_content_type = "text/event-stream"

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.api]

    def parse(self, body: dict[str, Any], ctx: SimContext, counter: int) -> Job:
        raise NotImplementedError

    def stream_head(self, job: Job, usage: Usage) -> str:
        return ""

    def stream_tokens(self, job: Job, start: int, end: int) -> str:
        raise NotImplementedError

    def stream_tail(self, job: Job, usage: Usage) -> str:
        raise NotImplementedError

    def body(self, job: Job, usage: Usage) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, err: ApiError) -> dict[str, object]:
        return err.body(self.api)

    def usage(self, u: Usage) -> dict[str, Any]:
        return usage_block(self.api, u.prompt, u.completion, u.cached)
