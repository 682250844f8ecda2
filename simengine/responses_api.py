"""OpenAI /v1/responses: parsing and encoding (output items, function calls, SSE events).

A streamed response is `response.created`, `response.in_progress`, then per output item
`response.output_item.added`, its deltas and `.done` events, and finally
`response.completed` (or `response.incomplete` when the output hit `max_output_tokens`)
carrying the whole response with its usage. Every event has a `sequence_number`.

`store` (default true) keeps the rendered conversation, output included, under the
response id, so a later request with `previous_response_id` continues it: its prompt is
the stored conversation plus the new input, and hits the prefix cache as it would on a
real engine.
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
    get_bool,
    get_int,
    new_job,
    resolve_max_tokens,
)
from agentload.simengine.outputs import Plan

_TEXT_ITEM = -1  # open_block value while the message item is open; >= 0: a call's index
_NO_ITEM = -2


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _output_segment(plan: Plan) -> str:
    """The output as the assistant turn the next request's prompt renders it."""
    calls = "".join(f"<|tool_call|>{c.name} {c.arguments}\n" for c in plan.calls)
    return f"<|assistant|>\n{plan.text_of(0, len(plan.text))}{calls}\n"


def _previous(body: dict[str, Any], ctx: SimContext) -> tuple[str, ...]:
    prev = body.get("previous_response_id")
    if prev is None:
        return ()
    stored = ctx.stored.get(prev) if isinstance(prev, str) else None
    if stored is None:
        raise bad_request(
            f"Previous response with id '{prev}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return stored


class ResponsesCodec(Codec):
    api = Api.OPENAI_RESPONSES

    def parse(self, body: dict[str, Any], ctx: SimContext, counter: int) -> Job:
        model = check_model(body, ctx)
        conv = render.conversation(self.api, body)
        prefix = _previous(body, ctx)
        ids = encode_segments(ctx, render.segments(conv, prefix))
        requested = get_int(body, "max_output_tokens", None, 1)
        max_tokens = resolve_max_tokens(ctx, requested, len(ids))
        plan = build_plan(ctx, ids, body, max_tokens, conv, TOOL_CALL_ID_PREFIX[self.api])
        job = new_job(
            self.endpoint,
            "resp_",
            counter,
            model=model,
            prompt_ids=ids,
            plan=plan,
            max_tokens=max_tokens,
            stream=get_bool(body, "stream"),
            include_usage=True,
        )
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise bad_request("store: must be a boolean", param="store")
        if store:
            # Instructions are not carried over to a continuation (as the real API does).
            turns = render.turn_segments(conv)[1 if body.get("instructions") else 0 :]
            ctx.stored.put(job.rid, (*prefix, *turns, _output_segment(plan)))
        job.extra = {
            "store": store,
            "previous_response_id": body.get("previous_response_id"),
            "max_output_tokens": requested,
            "tools": body.get("tools") or [],
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata") or {},
        }
        return job

    # --- the response object and its items ---------------------------------------------
    def _item_id(self, job: Job, index: int) -> str:
        return f"msg_{job.rid[5:]}" if index == _TEXT_ITEM else f"fc_{job.rid[5:]}_{index}"

    def _item(self, job: Job, index: int, done: bool) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        if index == _TEXT_ITEM:
            text = job.plan.text_of(0, len(job.plan.text))
            content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            return {
                "id": self._item_id(job, index),
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": content if done else [],
            }
        call = job.plan.calls[index]
        return {
            "id": self._item_id(job, index),
            "type": "function_call",
            "status": status,
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments if done else "",
        }

    def _response(self, job: Job, usage: Usage | None) -> dict[str, Any]:
        plan = job.plan
        done = usage is not None
        incomplete = done and plan.finish == "length"
        output = []
        if done:
            if plan.text:
                output.append(self._item(job, _TEXT_ITEM, True))
            output += [self._item(job, i, True) for i in range(len(plan.calls))]
        status = "in_progress" if not done else "incomplete" if incomplete else "completed"
        return {
            "id": job.rid,
            "object": "response",
            "created_at": job.created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "model": job.model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": self.usage(usage) if usage is not None else None,
            **job.extra,
        }

    def body(self, job: Job, usage: Usage) -> dict[str, Any]:
        return self._response(job, usage)

    # --- streaming -----------------------------------------------------------------------
    def _event(self, job: Job, kind: str, fields: str) -> str:
        job.seq += 1
        return (
            f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{job.seq - 1},{fields}}}\n\n'
        )

    def stream_head(self, job: Job, usage: Usage) -> str:
        job.open_block = _NO_ITEM
        response = _dumps(self._response(job, None))
        return self._event(job, "response.created", f'"response":{response}') + self._event(
            job, "response.in_progress", f'"response":{response}'
        )

    def _output_index(self, job: Job, index: int) -> int:
        return index + (1 if job.plan.text else 0) if index >= 0 else 0

    def _open(self, job: Job, index: int) -> str:
        out = self._close(job)
        job.open_block = index
        at = self._output_index(job, index)
        item = _dumps(self._item(job, index, False))
        out += self._event(job, "response.output_item.added", f'"output_index":{at},"item":{item}')
        if index == _TEXT_ITEM:
            part = '{"type":"output_text","text":"","annotations":[],"logprobs":[]}'
            out += self._event(
                job,
                "response.content_part.added",
                f'"item_id":"{self._item_id(job, index)}","output_index":0,"content_index":0,'
                f'"part":{part}',
            )
        return out

    def _close(self, job: Job) -> str:
        index = job.open_block
        if index == _NO_ITEM:
            return ""
        job.open_block = _NO_ITEM
        at = self._output_index(job, index)
        item = self._item(job, index, True)
        ref = f'"item_id":"{item["id"]}","output_index":{at}'
        if index == _TEXT_ITEM:
            part = item["content"][0]
            text = _dumps(part["text"])
            out = self._event(
                job, "response.output_text.done", f'{ref},"content_index":0,"text":{text}'
            )
            out += self._event(
                job, "response.content_part.done", f'{ref},"content_index":0,"part":{_dumps(part)}'
            )
        else:
            args = _dumps(item["arguments"])
            out = self._event(
                job, "response.function_call_arguments.done", f'{ref},"arguments":{args}'
            )
        done = _dumps(item)
        return out + self._event(
            job, "response.output_item.done", f'"output_index":{at},"item":{done}'
        )

    def stream_tokens(self, job: Job, start: int, end: int) -> str:
        plan = job.plan
        out = []
        for k in range(start, end):
            if not plan.frags or plan.frags[k][0] < 0:
                if job.open_block != _TEXT_ITEM:
                    out.append(self._open(job, _TEXT_ITEM))
                piece = f'"{plan.text[k]}"' if plan.plain else _dumps(plan.text[k])
                ref = f'"item_id":"{self._item_id(job, _TEXT_ITEM)}","output_index":0'
                out.append(
                    self._event(
                        job,
                        "response.output_text.delta",
                        f'{ref},"content_index":0,"delta":{piece},"logprobs":[]',
                    )
                )
                continue
            call_index, header, frag = plan.frags[k]
            if header:
                out.append(self._open(job, call_index))
                continue
            at = self._output_index(job, call_index)
            ref = f'"item_id":"{self._item_id(job, call_index)}","output_index":{at}'
            out.append(
                self._event(
                    job, "response.function_call_arguments.delta", f'{ref},"delta":{_dumps(frag)}'
                )
            )
        return "".join(out)

    def stream_tail(self, job: Job, usage: Usage) -> str:
        out = self._close(job)
        response = self._response(job, usage)
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return out + self._event(job, kind, f'"response":{_dumps(response)}')
