"""Response bodies -> usage, finish reason, tool calls, errors and assembled content (pure).

A streamed response is read event by event through `StreamSummary.add`; a plain JSON
response through `summarize_json`. Both produce a `ResponseSummary`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentload.providers.api import Api
from agentload.providers.errors import provider_error
from agentload.providers.usage import Usage, parse_usage

__all__ = [
    "ResponseSummary",
    "StreamSummary",
    "loads",
    "output_text",
    "summarize_json",
    "tool_calls",
]


@dataclass(frozen=True)
class ResponseSummary:
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    error: str | None = None
    tool_call_ids: tuple[str, ...] = ()
    response_id: str | None = None
    # `error` may quote the provider (or the body) and is scrubbed before it is written;
    # `error_redacted` says the same without any of that text (for --redact-content).
    error_redacted: str | None = None
    content: object = None  # JSON-able: the body, or the message assembled from a stream
    # The whole response arrived: a JSON body that parsed, or a stream's terminal event
    # ([DONE], message_stop, response.completed). A client closing the connection after
    # that (the OpenAI SDK stops reading at [DONE]) is not an aborted call.
    complete: bool = False


# The C scanner that json.loads ends up in (typeshed does not declare the attribute).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


def loads(text: str) -> Any:
    """`json.loads(text)`, minus its Python-level wrappers when the text is one JSON value
    with no surrounding whitespace (every SSE event a provider sends); otherwise, and for
    every error, json.loads itself decides (same result, same exceptions)."""
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _finish_of_choices(body: dict[str, Any]) -> str | None:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        fr = choices[0].get("finish_reason")
        return str(fr) if fr is not None else None
    return None


def _tool_ids_json(api: Api, body: dict[str, Any]) -> tuple[str, ...]:
    ids: list[str] = []
    if api is Api.OPENAI_CHAT:
        for choice in body.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            for call in (message or {}).get("tool_calls") or []:
                if isinstance(call, dict) and call.get("id"):
                    ids.append(str(call["id"]))
    elif api is Api.OPENAI_RESPONSES:
        for item in body.get("output") or []:
            if isinstance(item, dict) and item.get("type") == "function_call":
                ids.append(str(item.get("call_id") or item.get("id")))
    elif api is Api.ANTHROPIC_MESSAGES:
        for block in body.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("id"):
                ids.append(str(block["id"]))
    return tuple(ids)


def _responses_finish(body: dict[str, Any], tool_ids: tuple[str, ...]) -> str | None:
    status = body.get("status")
    if status == "incomplete":
        details = body.get("incomplete_details") or {}
        return f"incomplete:{details.get('reason', '')}" if isinstance(details, dict) else status
    if tool_ids:
        return "tool_calls"
    return str(status) if status else None


def summarize_json(api: Api, body: object) -> ResponseSummary:
    """Summary of a complete (non-streamed) JSON response body."""
    if not isinstance(body, dict):
        return ResponseSummary(content=body)
    tool_ids = _tool_ids_json(api, body)
    if api is Api.ANTHROPIC_MESSAGES:
        finish = body.get("stop_reason")
    elif api is Api.OPENAI_RESPONSES:
        finish = _responses_finish(body, tool_ids)
    else:
        finish = _finish_of_choices(body)
    rid = body.get("id")
    err = provider_error(body)
    return ResponseSummary(
        usage=parse_usage(api, body.get("usage")),
        finish_reason=str(finish) if finish is not None else None,
        error=err[0] if err else None,
        error_redacted=err[1] if err else None,
        tool_call_ids=tool_ids,
        response_id=str(rid) if rid is not None else None,
        content=body,
        complete=True,
    )


@dataclass
class StreamSummary:
    """Accumulates one streamed response; `add` says whether an event carried output."""

    api: Api
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    finish: str | None = None
    error: str | None = None
    error_redacted: str | None = None
    response_id: str | None = None
    final: dict[str, Any] | None = None  # Responses API: the response.completed object
    bad_events: int = 0
    finished: bool = False

    def add(self, event: str, data: str) -> bool:
        if not data.startswith("{") and data.strip() == "[DONE]":  # JSON events skip strip
            self.finished = True
            return False
        try:
            obj = loads(data)
        except ValueError:
            self.bad_events += 1
            return False
        if not isinstance(obj, dict):
            self.bad_events += 1
            return False
        err = provider_error(obj) if event == "error" or "error" in obj else None
        if err is None and obj.get("type") == "error":
            err = provider_error(obj)
        if err is not None:
            self.error, self.error_redacted = err
            return False
        if self.api is Api.ANTHROPIC_MESSAGES:
            return self._anthropic(obj)
        if self.api is Api.OPENAI_RESPONSES:
            return self._responses(obj)
        return self._openai(obj)

    def _merge_usage(self, block: object) -> None:
        if isinstance(block, dict):
            self.usage.update({k: v for k, v in block.items() if v is not None})

    def _openai(self, obj: dict[str, Any]) -> bool:
        if self.response_id is None and obj.get("id"):
            self.response_id = str(obj["id"])
        usage = obj.get("usage")
        if usage:
            self._merge_usage(usage)
        output = False
        chat = self.api is Api.OPENAI_CHAT
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            finish = choice.get("finish_reason")
            if finish is not None:
                self.finish = str(finish)
            delta = choice.get("delta") if chat else choice
            if not isinstance(delta, dict):
                continue
            piece = delta.get("content") if chat else delta.get("text")
            if piece:
                self.text.append(str(piece))
                output = True
                if chat and len(delta) == 1:  # {"content": ...}: nothing else to look for
                    continue
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if thought:
                self.reasoning.append(str(thought))
                output = True
            calls = delta.get("tool_calls")
            if calls:
                for call in calls:
                    output = self._tool_delta(call) or output
        return output

    def _tool_delta(self, call: object) -> bool:
        if not isinstance(call, dict):
            return False
        slot = self.tools.setdefault(
            int(call.get("index", 0)), {"id": None, "name": "", "args": ""}
        )
        if call.get("id"):
            slot["id"] = str(call["id"])
        fn = call.get("function") or {}
        if isinstance(fn, dict):
            slot["name"] += str(fn.get("name") or "")
            slot["args"] += str(fn.get("arguments") or "")
        return True

    def _anthropic(self, obj: dict[str, Any]) -> bool:
        kind = obj.get("type")
        if kind == "message_start":
            message = obj.get("message") or {}
            self.response_id = str(message.get("id")) if message.get("id") else None
            self._merge_usage(message.get("usage"))
        elif kind == "content_block_start":
            block = dict(obj.get("content_block") or {})
            self.blocks[int(obj.get("index", 0))] = block
            return block.get("type") == "tool_use"
        elif kind == "content_block_delta":
            block = self.blocks.setdefault(int(obj.get("index", 0)), {"type": "text"})
            delta = obj.get("delta") or {}
            for key in ("text", "thinking", "partial_json"):
                if delta.get(key):
                    block[key] = str(block.get(key, "")) + str(delta[key])
                    return True
        elif kind == "message_stop":
            self.finished = True
        elif kind == "message_delta":
            self._merge_usage(obj.get("usage"))
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason is not None:
                self.finish = str(reason)
        return False

    def _responses(self, obj: dict[str, Any]) -> bool:
        kind = str(obj.get("type", ""))
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            resp = obj.get("response") or {}
            self.finished = True
            if isinstance(resp, dict):
                self.final = resp
                self._merge_usage(resp.get("usage"))
                if kind == "response.failed":
                    err = provider_error(resp) or ("response.failed", "response.failed")
                    self.error, self.error_redacted = err
        elif kind == "response.created":
            resp = obj.get("response") or {}
            self.response_id = str(resp.get("id")) if isinstance(resp, dict) else None
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if isinstance(item, dict) and item.get("type") == "function_call":
                self.tools[len(self.tools)] = {"id": item.get("call_id"), "name": item.get("name")}
                return True
        elif kind.endswith(".delta") and obj.get("delta"):
            if "reasoning" in kind:
                self.reasoning.append(str(obj["delta"]))
            elif kind == "response.output_text.delta":
                self.text.append(str(obj["delta"]))
            return True
        return False

    def result(self) -> ResponseSummary:
        if self.api is Api.OPENAI_RESPONSES and self.final is not None:
            done = summarize_json(self.api, self.final)
            return ResponseSummary(
                usage=parse_usage(self.api, self.usage),
                finish_reason=done.finish_reason,
                error=self.error or done.error,
                error_redacted=self.error_redacted if self.error else done.error_redacted,
                tool_call_ids=done.tool_call_ids,
                response_id=done.response_id or self.response_id,
                content=self.final,
                complete=True,
            )
        return ResponseSummary(
            usage=parse_usage(self.api, self.usage),
            finish_reason=self.finish,
            error=self.error,
            error_redacted=self.error_redacted,
            tool_call_ids=self._tool_ids(),
            response_id=self.response_id,
            content=self._content(),
            complete=self.finished,
        )

    def _tool_ids(self) -> tuple[str, ...]:
        if self.api is Api.ANTHROPIC_MESSAGES:
            return tuple(
                str(b["id"])
                for b in self.blocks.values()
                if b.get("type") == "tool_use" and b.get("id")
            )
        return tuple(str(t["id"]) for t in self.tools.values() if t.get("id"))

    def _content(self) -> object:
        if self.api is Api.ANTHROPIC_MESSAGES:
            blocks = [_tool_input(self.blocks[i]) for i in sorted(self.blocks)]
            return {"role": "assistant", "content": blocks}
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text)}
        if self.reasoning:
            message["reasoning"] = "".join(self.reasoning)
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        return message


def _tool_input(block: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool_use block as the API's non-streamed body has it: `input` holds the
    object its `partial_json` deltas spell (kept raw when they do not parse: a cut stream)."""
    raw = block.get("partial_json")
    if block.get("type") != "tool_use" or not isinstance(raw, str):
        return block
    try:
        value = json.loads(raw)
    except ValueError:
        return block
    return {k: v for k, v in block.items() if k != "partial_json"} | {"input": value}


def output_text(api: Api, content: object) -> str:
    """What a response generated, as text: message text, reasoning, tool names and arguments
    (one piece a line), from its stored content, which is either the non-streamed body or
    the message `StreamSummary` assembled from a stream. "" when there is none."""
    if not isinstance(content, dict):
        return ""
    if api is Api.OPENAI_RESPONSES and isinstance(content.get("output"), list):
        pieces = [p for item in content["output"] for p in _responses_item(item)]
    elif api is Api.ANTHROPIC_MESSAGES and isinstance(content.get("content"), list):
        pieces = [p for block in content["content"] for p in _anthropic_block(block)]
    elif isinstance(content.get("choices"), list):  # a chat or completions body
        choices = content["choices"]
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = first.get("message")
        pieces = _message(message) if isinstance(message, dict) else [first.get("text")]
    else:  # a message assembled from a chat, completions or (unfinished) Responses stream
        pieces = _message(content)
    return "\n".join(p for p in pieces if isinstance(p, str) and p)


def _as_text(value: object) -> object:
    """Tool input as the model wrote it: a JSON object as JSON text, a string as is."""
    return value if isinstance(value, str) or value is None else json.dumps(value)


def _message(message: dict[str, Any]) -> list[object]:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        pieces = [part.get("text") for part in content if isinstance(part, dict)]
    else:
        pieces = [content]
    pieces += [message.get("reasoning_content"), message.get("reasoning")]
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            fn = call.get("function")
            source = fn if isinstance(fn, dict) else call  # a body's, or a stream's, shape
            pieces += [source.get("name"), source.get("arguments", source.get("args"))]
    return pieces


def _anthropic_block(block: object) -> list[object]:
    if not isinstance(block, dict):
        return []
    if block.get("type") == "tool_use":
        return [block.get("name"), _as_text(block.get("input", block.get("partial_json")))]
    return [block.get("text"), block.get("thinking")]


def _responses_item(item: object) -> list[object]:
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind in ("function_call", "custom_tool_call"):
        return [item.get("name"), item.get("arguments", item.get("input"))]
    parts = [*(item.get("summary") or ()), *(item.get("content") or ())]
    if kind not in ("message", "reasoning"):
        return []
    return [p.get("text", p.get("refusal")) for p in parts if isinstance(p, dict)]


def tool_calls(api: Api, content: object) -> list[tuple[str, object]]:
    """(id, arguments) of the tool calls in a response's stored content (body or assembled
    stream message, as `output_text` reads it); arguments decoded from JSON text when they
    parse, else kept as text."""
    if not isinstance(content, dict):
        return []
    found: list[tuple[object, object]] = []
    if api is Api.OPENAI_RESPONSES and isinstance(content.get("output"), list):
        for item in content["output"]:
            if isinstance(item, dict) and item.get("type") in ("function_call", "custom_tool_call"):
                args = item.get("arguments", item.get("input"))
                found.append((item.get("call_id") or item.get("id"), args))
    elif api is Api.ANTHROPIC_MESSAGES and isinstance(content.get("content"), list):
        for block in content["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                found.append((block.get("id"), block.get("input", block.get("partial_json"))))
    else:
        choices = content.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else content
        for call in (message.get("tool_calls") if isinstance(message, dict) else None) or ():
            if isinstance(call, dict):
                fn = call.get("function")
                source = fn if isinstance(fn, dict) else call  # a body's, or a stream's, shape
                found.append((call.get("id"), source.get("arguments", source.get("args"))))
    return [(str(i), _decoded(a)) for i, a in found if i]


def _decoded(args: object) -> object:
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return args
    return args
