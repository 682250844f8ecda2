"""Anthropic /v1/messages: parsing and encoding (content blocks, tool_use, SSE events).

Usage follows Anthropic's convention: `input_tokens` excludes the prompt tokens read from the
prefix cache, which are reported as `cache_read_input_tokens`.
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
    check_model,
    encode_segments,
    get_int,
    new_job,
)

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


class MessagesCodec(Codec):
    api = Api.ANTHROPIC_MESSAGES

    def parse(self, body: dict[str, Any], ctx: SimContext, counter: int) -> Job:
        model = check_model(body, ctx)
        max_tokens = get_int(body, "max_tokens", None, 1)
        if max_tokens is None:
            raise bad_request("max_tokens: Field required", param="max_tokens")
        conv = render.conversation(self.api, body)
        ids = encode_segments(ctx, render.segments(conv))
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad_request("stream: must be a boolean", param="stream")
        plan = build_plan(ctx, ids, body, max_tokens, conv, TOOL_CALL_ID_PREFIX[self.api])
        return new_job(
            self.endpoint,
            "msg_",
            counter,
            model=model,
            prompt_ids=ids,
            plan=plan,
            max_tokens=max_tokens,
            stream=stream,
            include_usage=True,
        )

    def stream_head(self, job: Job, usage: Usage) -> str:
        message: dict[str, Any] = {
            "id": job.rid,
            "type": "message",
            "role": "assistant",
            "model": job.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(Usage(usage.prompt, usage.cached, 1)),
        }
        start = _event("message_start", _dumps({"type": "message_start", "message": message}))
        return start + _event("ping", '{"type": "ping"}')  # as Anthropic's API sends one

    def _switch(self, job: Job, block: dict[str, Any]) -> str:
        out = ""
        if job.open_block >= 0:
            out = _event(
                "content_block_stop",
                f'{{"type":"content_block_stop","index":{job.open_block}}}',
            )
        job.open_block = job.next_block
        job.next_block += 1
        data = {"type": "content_block_start", "index": job.open_block, "content_block": block}
        return out + _event("content_block_start", _dumps(data))

    def _text_delta(self, job: Job, text: str) -> str:
        piece = f'"{text}"' if job.plan.plain else _dumps(text)
        return _event(
            "content_block_delta",
            f'{{"type":"content_block_delta","index":{job.open_block},'
            f'"delta":{{"type":"text_delta","text":{piece}}}}}',
        )

    def stream_tokens(self, job: Job, start: int, end: int) -> str:
        plan = job.plan
        out = []
        for k in range(start, end):
            if not plan.frags or plan.frags[k][0] < 0:
                if job.open_block < 0:
                    out.append(self._switch(job, {"type": "text", "text": ""}))
                out.append(self._text_delta(job, plan.text[k]))
                continue
            call_index, header, frag = plan.frags[k]
            if header:
                call = plan.calls[call_index]
                block = {"type": "tool_use", "id": call.call_id, "name": call.name, "input": {}}
                out.append(self._switch(job, block))
                continue
            delta = {"type": "input_json_delta", "partial_json": frag}
            data = {"type": "content_block_delta", "index": job.open_block, "delta": delta}
            out.append(_event("content_block_delta", _dumps(data)))
        return "".join(out)

    def stream_tail(self, job: Job, usage: Usage) -> str:
        out = ""
        if job.open_block >= 0:
            stop = {"type": "content_block_stop", "index": job.open_block}
            out = _event("content_block_stop", _dumps(stop))
            job.open_block = -1
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[job.plan.finish], "stop_sequence": None},
            "usage": self.usage(usage),
        }
        out += _event("message_delta", _dumps(delta))
        return out + _event("message_stop", '{"type":"message_stop"}')

    def body(self, job: Job, usage: Usage) -> dict[str, Any]:
        plan = job.plan
        content: list[dict[str, Any]] = []
        if plan.text:
            content.append({"type": "text", "text": plan.text_of(0, len(plan.text))})
        for c in plan.calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": c.call_id,
                    "name": c.name,
                    "input": json.loads(c.arguments),
                }
            )
        return {
            "id": job.rid,
            "type": "message",
            "role": "assistant",
            "model": job.model,
            "content": content,
            "stop_reason": _STOP[plan.finish],
            "stop_sequence": None,
            "usage": self.usage(usage),
        }
