"""Scripted tool calling (`--agent-script FILE`), so real agent loops run against the sim.

File format (JSON):

    {
      "turns": [                                   # or an integer N: N turns of {"tool": "*"}
        {"text": "Let me look.",                   # optional text before the calls
         "calls": [{"tool": "get_weather", "arguments": {"city": "Paris"}}]},
        {"tool": "*"}                              # shorthand for one call
      ],
      "final": {"text": "It is sunny."}            # optional; default: generated text
    }

For a chat, Responses or messages request that offers tools, the turn index is the number
of tool rounds already in the conversation (assistant turns carrying tool calls). While it
is below the number of turns, the response calls the turn's tools; afterwards it is the
final answer. A call's `tool` is a tool name or a role: `@list` (a tool that lists files:
Bash, shell, LS, Glob, ...), `@echo` (a shell that echoes), `@subagent` (Claude Code's
Task/Agent tool; `@list` where none is offered, and in the subagent's own conversation,
recognised by SUBAGENT_PROMPT in its user turns), or `*`
(`@list` if offered, else the first tool). A name the request does not offer means the
first tool offered. Omitted `arguments` are filled from the tool's JSON schema: each
required property gets a value valid for its type and harmless for its name (a command
`ls`, a pattern `*`, a prompt asking for a listing), so real agents run the calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentload.base.errors import ConfigError
from agentload.providers.conversation import Conversation


@dataclass(frozen=True, slots=True)
class CallSpec:
    tool: str  # "*" = the first tool offered
    arguments: dict[str, Any] | None  # None = from the tool's schema


@dataclass(frozen=True, slots=True)
class TurnSpec:
    text: str
    calls: tuple[CallSpec, ...]


@dataclass(frozen=True, slots=True)
class AgentScript:
    turns: tuple[TurnSpec, ...]
    final_text: str | None


def _call(raw: Any, where: str) -> CallSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    tool = raw.get("tool", "*")
    args = raw.get("arguments")
    if not isinstance(tool, str) or not tool:
        raise ConfigError(f"{where}.tool: must be a non-empty string")
    if args is not None and not isinstance(args, dict):
        raise ConfigError(f"{where}.arguments: must be an object")
    return CallSpec(tool, args)


def _turn(raw: Any, where: str) -> TurnSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ConfigError(f"{where}.text: must be a string")
    if "calls" in raw:
        calls = raw["calls"]
        if not isinstance(calls, list) or not calls:
            raise ConfigError(f"{where}.calls: must be a non-empty list")
        specs = tuple(_call(c, f"{where}.calls[{i}]") for i, c in enumerate(calls))
    else:
        specs = (_call(raw, where),)
    return TurnSpec(text, specs)


def parse(raw: Any, source: str) -> AgentScript:
    """Validate a decoded script; errors name `source` and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the agent script must be a JSON object")
    turns = raw.get("turns", [])
    if isinstance(turns, int) and not isinstance(turns, bool):
        if turns < 0:
            raise ConfigError(f"{source}: turns: must be >= 0")
        specs = tuple(TurnSpec("", (CallSpec("*", None),)) for _ in range(turns))
    elif isinstance(turns, list):
        specs = tuple(_turn(t, f"{source}: turns[{i}]") for i, t in enumerate(turns))
    else:
        raise ConfigError(f"{source}: turns: must be a list or an integer")
    final = raw.get("final")
    final_text = None
    if final is not None:
        if not isinstance(final, dict) or not isinstance(final.get("text"), str):
            raise ConfigError(f"{source}: final: must be an object with a string 'text'")
        final_text = final["text"]
    return AgentScript(specs, final_text)


def load(path: Path) -> AgentScript:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read agent script: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:  # a binary file given by mistake (an .arrow profile)
        raise ConfigError(
            f"{path}: not an agent script: byte {exc.start} is not UTF-8 (expected JSON text)"
        ) from None
    return parse(raw, str(path))


# Tools that list, echo or delegate, by role, in order of preference (names as real agents
# offer them: Claude Code's Bash/LS/Glob/Task/Agent, Codex's shell/shell_command/
# exec_command, generic list_files/read_file). Matching ignores case.
ROLES: dict[str, tuple[str, ...]] = {
    "@list": ("bash", "shell", "shell_command", "exec_command", "ls", "glob", "list_files"),
    "@echo": ("bash", "shell", "shell_command", "exec_command"),
    "@subagent": ("task", "agent", "dispatch_agent"),
}
# What a scripted subagent is asked to do. A conversation whose user turns carry it is a
# subagent's own: there `@subagent` lists instead (real agents offer their subagent tool to
# subagents too, and a script that spawned again would recurse without end).
SUBAGENT_PROMPT = "List the files in the current directory and report how many there are."

# Harmless values by property name: list or echo in the agent's own directory, delegate a
# listing. A command property of array type gets the argv form (Codex's shell tool).
_HARMLESS: dict[str, str] = {
    "command": "ls",
    "cmd": "ls",
    "pattern": "*",
    "path": ".",
    "description": "List the files",
    "prompt": SUBAGENT_PROMPT,
    "input": SUBAGENT_PROMPT,  # an openai-agents agent-as-tool: the task, as a model writes it
    "query": "files",
}
_ECHO = "echo agentload"

_PLACEHOLDERS: dict[str, object] = {
    "string": "x",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}


def _value(name: str, prop: object, role: str) -> object:
    prop = prop if isinstance(prop, dict) else {}
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = prop.get("type", "string")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), "string")
    text = _ECHO if role == "@echo" and name in ("command", "cmd") else _HARMLESS.get(name)
    if text is not None and kind == "string":
        return text
    if text is not None and kind == "array":
        return text.split()
    if name == "subagent_type" and kind == "string":
        return "general-purpose"
    return _PLACEHOLDERS.get(kind if isinstance(kind, str) else "string", "x")


def schema_arguments(schema: dict[str, Any], role: str = "*") -> dict[str, Any]:
    """Arguments for every required property of a JSON schema: valid for its type (or its
    first enum value), and harmless where the name says what it is (a command lists files,
    a prompt asks for a listing)."""
    props = schema.get("properties", {})
    required = schema.get("required", [])
    out: dict[str, Any] = {}
    for name in required if isinstance(required, list) else []:
        prop = props.get(name, {}) if isinstance(props, dict) else {}
        out[name] = _value(str(name), prop, role)
    return out


def _pick(tool: str, tools: list[tuple[str, dict[str, Any]]], subagent: bool) -> str:
    """The offered tool a call spec names: itself, the first offered of its role (`*`: of
    `@list`), or else the first offered."""
    names = [name for name, _ in tools]
    if tool in names:
        return tool
    lowered = {name.lower(): name for name in names}
    if tool == "*" or (tool == "@subagent" and subagent):
        tool = "@list"
    for candidate in ROLES.get(tool, ()):
        if candidate in lowered:
            return lowered[candidate]
    if tool == "@subagent":  # no subagent tool offered: list
        return _pick("@list", tools, subagent)
    return names[0]


def is_subagent(conv: Conversation) -> bool:
    """Whether a conversation is a scripted subagent's own (its user turns carry the prompt
    the script gave the subagent tool)."""
    return any(
        SUBAGENT_PROMPT in part.text
        for turn in conv.turns
        if turn.role == "user"
        for part in turn.parts
        if part.kind == "text"
    )


def resolve(
    turn: TurnSpec, tools: list[tuple[str, dict[str, Any]]], subagent: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """(tool name, arguments) of each call in a turn, against the tools offered; in a
    subagent's own conversation (`subagent`) `@subagent` lists instead."""
    schemas = dict(tools)
    out = []
    for call in turn.calls:
        name = _pick(call.tool, tools, subagent)
        role = call.tool if call.tool in ROLES else "*"
        args = call.arguments
        if args is None:
            args = schema_arguments(schemas[name], role)
        out.append((name, args))
    return out
