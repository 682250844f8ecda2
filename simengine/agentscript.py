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

For a chat or messages request that offers tools, the turn index is the number of tool rounds
already in the conversation (assistant messages carrying tool calls). While it is below the
number of turns, the response calls the turn's tools; afterwards it is the final answer.
`"tool": "*"` (or a tool the request does not offer) means the first tool offered. Omitted
`arguments` are filled from the tool's JSON schema: each required property gets a
placeholder of its type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traceformat.errors import ConfigError


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
    return parse(raw, str(path))


_PLACEHOLDERS: dict[str, object] = {
    "string": "x",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}


def schema_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    required = schema.get("required", [])
    out: dict[str, Any] = {}
    for name in required if isinstance(required, list) else []:
        prop = props.get(name, {}) if isinstance(props, dict) else {}
        kind = prop.get("type", "string") if isinstance(prop, dict) else "string"
        enum = prop.get("enum") if isinstance(prop, dict) else None
        if isinstance(enum, list) and enum:
            out[name] = enum[0]
        else:
            out[name] = _PLACEHOLDERS.get(kind if isinstance(kind, str) else "string", "x")
    return out


def resolve(
    turn: TurnSpec, tools: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """(tool name, arguments) of each call in a turn, against the tools offered."""
    schemas = dict(tools)
    out = []
    for call in turn.calls:
        name = call.tool if call.tool in schemas else tools[0][0]
        args = call.arguments if call.arguments is not None else schema_arguments(schemas[name])
        out.append((name, args))
    return out
