"""Prompt templates: how a conversation becomes the text that is tokenized.

    [<|tools|>\n{tools as compact JSON, keys sorted}\n]
    <|{role}|>\n{content}\n                       for every turn, in order
    <|assistant|>\n                              generation prompt

Content parts: text as is, images as `<image>` (other opaque blocks as `<type>`), a tool
call as `<|tool_call|>{name} {arguments JSON}\n`, a tool result as
`<|tool_result|>{content}\n`. A conversation's rendering is a prefix of the rendering of its
continuation, so multi-turn requests hit the prefix cache like on a real engine. How each
API spells a conversation is `providers.conversation`'s business; this module only renders.
"""

from __future__ import annotations

import json
from typing import Any

from agentload.providers.api import Api
from agentload.providers.conversation import Conversation, Part, RequestError, read_conversation
from agentload.simengine.errors import ApiError, bad_request

GENERATION_PROMPT = "<|assistant|>\n"


def _compact(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def conversation(api: Api, body: dict[str, Any]) -> Conversation:
    """The request's conversation; a malformed one is the sim's 400."""
    try:
        return read_conversation(api, body)
    except RequestError as exc:
        raise _refused(exc) from None


def _refused(exc: RequestError) -> ApiError:
    return bad_request(str(exc), param=exc.param)


def _part(p: Part) -> str:
    if p.kind == "text":
        return p.text
    if p.kind == "tool_call":
        return f"<|tool_call|>{p.name} {p.text}\n"
    if p.kind == "tool_result":
        return f"<|tool_result|>{p.text}\n"
    return f"<{p.name}>"


def segments(conv: Conversation, prefix: tuple[str, ...] = ()) -> list[str]:
    """The rendered prompt as segments (tools header, one per turn, generation prompt); no
    tokenizer piece spans two segments. `prefix`: segments of turns stored from an earlier
    response (Responses' previous_response_id), placed before this request's turns."""
    out = [f"<|tools|>\n{_compact(conv.raw_tools)}\n"] if conv.raw_tools else []
    out.extend(prefix)
    out.extend(turn_segments(conv))
    out.append(GENERATION_PROMPT)
    return out


def turn_segments(conv: Conversation) -> list[str]:
    return [f"<|{t.role}|>\n{''.join(_part(p) for p in t.parts)}\n" for t in conv.turns]


def render_chat(messages: Any, tools: list[Any] | None) -> str:
    """The chat template applied to messages (what /tokenize counts)."""
    body: dict[str, Any] = {"messages": messages, "tools": tools}
    return "".join(segments(conversation(Api.OPENAI_CHAT, body)))
