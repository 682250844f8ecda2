"""The conversation a chat, Responses or Messages request carries, read into one shape.

Each API spells a conversation its own way: Chat Completions as role messages with
`tool_calls` and `tool` messages; Responses as `instructions` plus input items (messages,
`function_call`, `function_call_output`, `reasoning`); Messages as a `system` field plus
user/assistant messages of content blocks (`tool_use`, `tool_result`, `thinking`). Real
clients send more than the documented minimum (Claude Code puts `role: "system"` entries
inside `messages`; Codex sends reasoning and custom tool items): every shape a provider
accepts is read here; blocks this module does not know are kept as opaque parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from agentload.providers.api import Api

__all__ = ["Conversation", "Part", "RequestError", "ToolDef", "Turn", "read_conversation"]

PartKind = Literal["text", "tool_call", "tool_result", "opaque"]


class RequestError(ValueError):
    """A request body that no provider would accept; `param` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a turn, in order. text: the text; tool_call: `name` and `text` (the
    arguments as JSON text) with `call_id`; tool_result: `text` (the output) with
    `call_id`; opaque: an image, document or unknown block, `name` its type."""

    kind: PartKind
    text: str = ""
    name: str = ""
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # system | developer | user | assistant | tool
    parts: tuple[Part, ...]

    @property
    def calls_tools(self) -> bool:
        return any(p.kind == "tool_call" for p in self.parts)


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    schema: dict[str, Any]  # JSON schema of the arguments ({} for free-form tools)
    kind: str  # function | custom | a provider's built-in tool type


@dataclass(frozen=True, slots=True)
class Conversation:
    turns: tuple[Turn, ...]
    tools: tuple[ToolDef, ...]  # offered and callable (empty when tool_choice is none)
    raw_tools: list[Any] | None  # the request's tool definitions as sent (None: disabled)

    def tool_rounds(self) -> int:
        """Assistant turns that called tools so far (one round per turn)."""
        return sum(1 for t in self.turns if t.role == "assistant" and t.calls_tools)


def _compact(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_OPAQUE = frozenset({"image", "image_url", "input_image", "document", "file", "input_file"})


def _block(block: object, param: str) -> Part:
    """One content block of any API (text, images, tool use and results, thinking)."""
    if not isinstance(block, dict):
        raise RequestError(f"{param}: every content part must be an object", param)
    kind = str(block.get("type", ""))
    if kind in ("text", "input_text", "output_text"):
        return Part("text", str(block.get("text", "")))
    if kind in ("thinking", "redacted_thinking"):
        return Part("text", str(block.get("thinking", "")))
    if kind == "refusal":
        return Part("text", str(block.get("refusal", "")))
    if kind in ("tool_use", "server_tool_use"):
        args = _compact(block.get("input", {}))
        return Part("tool_call", args, str(block.get("name", "")), str(block.get("id", "")))
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else _text(content or [], param)
        return Part("tool_result", text, call_id=str(block.get("tool_use_id", "")))
    if kind in _OPAQUE:
        return Part("opaque", name="image" if "image" in kind else "document")
    return Part("opaque", name=kind or "block")


def _text(content: object, param: str) -> str:
    """The text of content given as a string, null or a list of blocks."""
    return "".join(_render_part(p) for p in _parts(content, param))


def _render_part(part: Part) -> str:
    return part.text if part.kind != "opaque" else f"<{part.name}>"


def _parts(content: object, param: str) -> tuple[Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (Part("text", content),)
    if not isinstance(content, list):
        raise RequestError(f"{param}: content must be a string or a list of parts", param)
    return tuple(_block(b, f"{param}.content[{i}]") for i, b in enumerate(content))


def _messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: must be a non-empty list", "messages")
    return messages


def _role(m: object, param: str) -> str:
    if not isinstance(m, dict) or not isinstance(m.get("role"), str):
        raise RequestError(f"{param}: must be an object with a string role", param)
    return str(m["role"])


def _chat(body: dict[str, Any]) -> list[Turn]:
    turns = []
    for i, m in enumerate(_messages(body)):
        param = f"messages[{i}]"
        role = _role(m, param)
        parts = list(_parts(m.get("content"), param))
        for call in m.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            args = fn.get("arguments", "")
            parts.append(
                Part("tool_call", str(args), str(fn.get("name", "")), str(call.get("id", "")))
            )
        turns.append(Turn(role, tuple(parts)))
    return turns


def _messages_api(body: dict[str, Any]) -> list[Turn]:
    turns = []
    system = body.get("system")
    if system:
        turns.append(Turn("system", _parts(system, "system")))
    for i, m in enumerate(_messages(body)):
        param = f"messages[{i}]"
        turns.append(Turn(_role(m, param), _parts(m.get("content"), param)))
    return turns


def _responses_item(item: object, param: str) -> Turn:
    if isinstance(item, str):
        return Turn("user", (Part("text", item),))
    if not isinstance(item, dict):
        raise RequestError(f"{param}: every input item must be an object or a string", param)
    kind = item.get("type", "message")
    if kind == "message" or (kind is None and "role" in item):
        return Turn(_role(item, param), _parts(item.get("content"), param))
    if kind in ("function_call", "custom_tool_call", "local_shell_call"):
        args = item.get("arguments", item.get("input", item.get("action", "")))
        text = args if isinstance(args, str) else _compact(args)
        name = str(item.get("name", kind))
        return Turn("assistant", (Part("tool_call", text, name, str(item.get("call_id", ""))),))
    if kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
        out = item.get("output", "")
        text = out if isinstance(out, str) else _text(out, param)
        return Turn("tool", (Part("tool_result", text, call_id=str(item.get("call_id", ""))),))
    if kind == "reasoning":
        summary = item.get("summary") or []
        text = "".join(str(s.get("text", "")) for s in summary if isinstance(s, dict))
        return Turn("assistant", (Part("text", text),))
    return Turn("assistant", (Part("opaque", name=str(kind)),))


def _responses(body: dict[str, Any]) -> list[Turn]:
    turns = []
    instructions = body.get("instructions")
    if instructions:
        turns.append(Turn("system", _parts(instructions, "instructions")))
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise RequestError("input: must be a string or a list of items", "input")
    for i, item in enumerate(items):
        turn = _responses_item(item, f"input[{i}]")
        last = turns[-1] if turns else None
        # Consecutive output items (reasoning, text, parallel function calls) came from one
        # response: one assistant turn, one tool round.
        if last is not None and last.role == "assistant" == turn.role:
            turns[-1] = Turn("assistant", last.parts + turn.parts)
        else:
            turns.append(turn)
    return turns


def _tool_def(tool: object) -> ToolDef | None:
    if not isinstance(tool, dict):
        return None
    fn: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
    name = fn.get("name")
    if not isinstance(name, str):
        return None
    schema = fn.get("parameters", fn.get("input_schema", {}))
    kind = str(tool.get("type") or "function")
    return ToolDef(name, schema if isinstance(schema, dict) else {}, kind)


def _tools_disabled(api: Api, body: dict[str, Any]) -> bool:
    choice = body.get("tool_choice")
    if api is Api.ANTHROPIC_MESSAGES:
        return isinstance(choice, dict) and choice.get("type") == "none"
    return choice == "none"


def read_conversation(api: Api, body: dict[str, Any]) -> Conversation:
    """The conversation of a chat, Responses or Messages request body."""
    if api is Api.OPENAI_CHAT:
        turns = _chat(body)
    elif api is Api.OPENAI_RESPONSES:
        turns = _responses(body)
    elif api is Api.ANTHROPIC_MESSAGES:
        turns = _messages_api(body)
    else:
        raise RequestError(f"{api.value} requests carry a prompt, not a conversation")
    raw = body.get("tools")
    if raw is not None and not isinstance(raw, list):
        raise RequestError("tools: must be a list", "tools")
    if _tools_disabled(api, body):
        return Conversation(tuple(turns), (), None)
    defs = [_tool_def(t) for t in raw or []]
    return Conversation(tuple(turns), tuple(d for d in defs if d is not None), raw or None)
