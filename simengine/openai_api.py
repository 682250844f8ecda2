"""OpenAI /v1/completions and /v1/chat/completions: parsing and (SSE) encoding.

Streaming chunks are built from pre-formatted string templates rather than json.dumps of
dicts: the sim must serve thousands of streaming requests per second on one core.
"""

from __future__ import annotations

import json
from typing import Any

from agentload.providers.api import TOOL_CALL_ID_PREFIX, Api
from agentload.simengine import render
from agentload.simengine.errors import bad_request
from agentload.simengine.jobs import (
    Codec,
    Job,
    SimContext,
    Usage,
    build_plan,
    check_length,
    check_model,
    check_prompt_size,
    encode_segments,
    get_bool,
    get_int,
    new_job,
    resolve_max_tokens,
    token_ids,
)
from agentload.simengine.outputs import Plan

_DONE = "data: [DONE]\n\n"


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = get_bool(body, "stream")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise bad_request("stream_options: must be an object", param="stream_options")
    return stream, bool(opts.get("include_usage", False))


def _check_n(body: dict[str, Any]) -> None:
    if get_int(body, "n", 1, 1) != 1:
        raise bad_request("n: only n=1 is supported by the sim", param="n")


def _json_piece(plan: Plan, piece: str) -> str:
    return f'"{piece}"' if plan.plain else _dumps(piece)


def _prompt_ids(body: dict[str, Any], ctx: SimContext) -> list[int]:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, str):
        check_prompt_size(ctx, len(prompt))
        return ctx.tok.encode(prompt)
    if isinstance(prompt, list):
        check_length(ctx, len(prompt), 0)  # before scanning a huge list of ids
        return token_ids(prompt, "prompt")
    raise bad_request("prompt: must be a string or a list of token ids", param="prompt")


class CompletionsCodec(Codec):
    api = Api.OPENAI_COMPLETIONS

    def parse(self, body: dict[str, Any], ctx: SimContext, counter: int) -> Job:
        model = check_model(body, ctx)
        _check_n(body)
        ids = _prompt_ids(body, ctx)
        max_tokens = resolve_max_tokens(ctx, get_int(body, "max_tokens", None, 1), len(ids))
        stream, include_usage = _stream_flags(body)
        plan = build_plan(ctx, ids, body, max_tokens)
        return new_job(
            self.endpoint,
            "cmpl-",
            counter,
            model=model,
            prompt_ids=ids,
            plan=plan,
            max_tokens=max_tokens,
            stream=stream,
            include_usage=include_usage,
        )

    def _prefix(self, job: Job) -> str:
        if not job.prefix:
            job.prefix = (
                f'data: {{"id":"{job.rid}","object":"text_completion","created":{job.created},'
                f'"model":{_dumps(job.model)},"choices":[{{"index":0,"text":'
            )
        return job.prefix

    def stream_tokens(self, job: Job, start: int, end: int) -> str:
        if start >= end:
            return ""
        pre = self._prefix(job)
        post = ',"logprobs":null,"finish_reason":null}]}\n\n'
        plan = job.plan
        if plan.plain:  # one join: pre"piece"post pre"piece"post ...
            return pre + '"' + ('"' + post + pre + '"').join(plan.text[start:end]) + '"' + post
        return "".join(pre + _dumps(p) + post for p in plan.text[start:end])

    def stream_tail(self, job: Job, usage: Usage) -> str:
        out = self._prefix(job) + f'"","logprobs":null,"finish_reason":"{job.plan.finish}"}}]}}\n\n'
        if job.include_usage:
            out += (
                f'data: {{"id":"{job.rid}","object":"text_completion","created":{job.created},'
                f'"model":{_dumps(job.model)},"choices":[],"usage":{_dumps(self.usage(usage))}}}\n\n'
            )
        return out + _DONE

    def body(self, job: Job, usage: Usage) -> dict[str, Any]:
        return {
            "id": job.rid,
            "object": "text_completion",
            "created": job.created,
            "model": job.model,
            "choices": [
                {
                    "index": 0,
                    "text": job.plan.text_of(0, len(job.plan.text)),
                    "logprobs": None,
                    "finish_reason": job.plan.finish,
                }
            ],
            "usage": self.usage(usage),
        }


class ChatCodec(Codec):
    api = Api.OPENAI_CHAT

    def parse(self, body: dict[str, Any], ctx: SimContext, counter: int) -> Job:
        model = check_model(body, ctx)
        _check_n(body)
        conv = render.conversation(self.api, body)
        ids = encode_segments(ctx, render.segments(conv))
        requested = get_int(body, "max_completion_tokens", None, 1)
        if requested is None:
            requested = get_int(body, "max_tokens", None, 1)
        max_tokens = resolve_max_tokens(ctx, requested, len(ids))
        stream, include_usage = _stream_flags(body)
        plan = build_plan(ctx, ids, body, max_tokens, conv, TOOL_CALL_ID_PREFIX[self.api])
        return new_job(
            self.endpoint,
            "chatcmpl-",
            counter,
            model=model,
            prompt_ids=ids,
            plan=plan,
            max_tokens=max_tokens,
            stream=stream,
            include_usage=include_usage,
        )

    def _prefix(self, job: Job) -> str:
        if not job.prefix:
            job.prefix = (
                f'data: {{"id":"{job.rid}","object":"chat.completion.chunk",'
                f'"created":{job.created},"model":{_dumps(job.model)},'
                '"choices":[{"index":0,"delta":'
            )
        return job.prefix

    def stream_head(self, job: Job, usage: Usage) -> str:
        return (
            self._prefix(job)
            + '{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def _delta(self, job: Job, k: int) -> str:
        plan = job.plan
        if not plan.frags:
            return '{"content":' + _json_piece(plan, plan.text[k]) + "}"
        call_index, header, frag = plan.frags[k]
        if call_index < 0:
            return '{"content":' + _dumps(frag) + "}"
        call = plan.calls[call_index]
        if header:
            tc: dict[str, Any] = {
                "index": call_index,
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        else:
            tc = {"index": call_index, "function": {"arguments": frag}}
        return _dumps({"tool_calls": [tc]})

    def stream_tokens(self, job: Job, start: int, end: int) -> str:
        if start >= end:
            return ""
        pre = self._prefix(job)
        post = ',"logprobs":null,"finish_reason":null}]}\n\n'
        plan = job.plan
        if plan.plain:
            sep = '"}' + post + pre + '{"content":"'
            return pre + '{"content":"' + sep.join(plan.text[start:end]) + '"}' + post
        return "".join(pre + self._delta(job, k) + post for k in range(start, end))

    def stream_tail(self, job: Job, usage: Usage) -> str:
        out = (
            self._prefix(job) + f'{{}},"logprobs":null,"finish_reason":"{job.plan.finish}"}}]}}\n\n'
        )
        if job.include_usage:
            out += (
                f'data: {{"id":"{job.rid}","object":"chat.completion.chunk",'
                f'"created":{job.created},"model":{_dumps(job.model)},"choices":[],'
                f'"usage":{_dumps(self.usage(usage))}}}\n\n'
            )
        return out + _DONE

    def body(self, job: Job, usage: Usage) -> dict[str, Any]:
        plan = job.plan
        message: dict[str, Any] = {
            "role": "assistant",
            "content": plan.text_of(0, len(plan.text)) if plan.text else None,
        }
        if plan.calls:
            message["tool_calls"] = [
                {
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in plan.calls
            ]
        return {
            "id": job.rid,
            "object": "chat.completion",
            "created": job.created,
            "model": job.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}
            ],
            "usage": self.usage(usage),
        }
