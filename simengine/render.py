"""Prompt templates: how chat and Anthropic messages become the text that is tokenized.

    [<|tools|>\n{tools as compact JSON, keys sorted}\n]
    <|{role}|>\n{content}\n                       for every message, in order
    <|assistant|>\n                              generation prompt

Content parts: text as is, images as `<image>`, an assistant's tool call as
`<|tool_call|>{name} {arguments JSON}\n`, a tool result as `<|tool_result|>{content}\n`.
A conversation's rendering is a prefix of the rendering of its continuation, so multi-turn
requests hit the prefix cache like on a real engine.
"""

from __future__ import annotations

import json
from typing import Any

from simengine.errors import bad_request


def _compact(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parts_text(content: Any, param: str) -> str:
    """OpenAI content: a string, null or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{param}: content must be a string or a list of parts", param=param)
    out = []
    for part in content:
        if not isinstance(part, dict):
            raise bad_request(f"{param}: every content part must be an object", param=param)
        kind = part.get("type")
        if kind == "text":
            out.append(str(part.get("text", "")))
        elif kind in ("image_url", "input_image", "image"):
            out.append("<image>")
        else:
            out.append(_anthropic_block(part, param))
    return "".join(out)


def _tools_header(tools: list[Any] | None) -> str:
    return f"<|tools|>\n{_compact(tools)}\n" if tools else ""


def render_chat(messages: Any, tools: list[Any] | None) -> str:
    return "".join(chat_segments(messages, tools))


def chat_segments(messages: Any, tools: list[Any] | None) -> list[str]:
    """The rendered prompt as segments (tools header, one per message, generation prompt);
    no tokenizer piece spans two segments."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: must be a non-empty list", param="messages")
    out = [_tools_header(tools)] if tools else []
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise bad_request(f"{param}: must be an object with a string role", param=param)
        body = _parts_text(m.get("content"), param)
        for call in m.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            body += f"<|tool_call|>{fn.get('name', '')} {fn.get('arguments', '')}\n"
        out.append(f"<|{m['role']}|>\n{body}\n")
    out.append("<|assistant|>\n")
    return out


def _anthropic_block(block: dict[str, Any], param: str) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return f"<|tool_call|>{block.get('name', '')} {_compact(block.get('input', {}))}\n"
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else _parts_text(content or [], param)
        return f"<|tool_result|>{text}\n"
    if kind in ("image", "document"):
        return f"<{kind}>"
    if kind in ("thinking", "redacted_thinking"):
        return str(block.get("thinking", ""))
    raise bad_request(f"{param}: unsupported content block type {kind!r}", param=param)


def _anthropic_content(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{param}: content must be a string or a list of blocks", param=param)
    out = []
    for block in content:
        if not isinstance(block, dict):
            raise bad_request(f"{param}: every content block must be an object", param=param)
        out.append(_anthropic_block(block, param))
    return "".join(out)


def render_anthropic(system: Any, messages: Any, tools: list[Any] | None) -> str:
    return "".join(anthropic_segments(system, messages, tools))


def anthropic_segments(system: Any, messages: Any, tools: list[Any] | None) -> list[str]:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: must be a non-empty list", param="messages")
    out = [_tools_header(tools)] if tools else []
    if system:
        out.append(f"<|system|>\n{_anthropic_content(system, 'system')}\n")
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise bad_request(f"{param}: role must be 'user' or 'assistant'", param=param)
        out.append(f"<|{m['role']}|>\n{_anthropic_content(m.get('content'), param)}\n")
    out.append("<|assistant|>\n")
    return out


def chat_tool_turns(messages: list[Any]) -> int:
    """Tool rounds so far: assistant messages that called tools."""
    return sum(
        1
        for m in messages
        if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
    )


def anthropic_tool_turns(messages: list[Any]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m, dict)
        and m.get("role") == "assistant"
        and isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in m["content"])
    )
