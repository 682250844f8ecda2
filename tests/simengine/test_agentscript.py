"""Scripted tool calls for real agents: roles pick the tools real agents offer, arguments
are valid for the tool's schema and harmless, ids are unique unless asked otherwise."""

from __future__ import annotations

from typing import Any

from agentload.providers.api import Api
from agentload.providers.conversation import read_conversation
from agentload.simengine import agentscript, tokenizer
from agentload.simengine.config import EngineConfig
from agentload.simengine.jobs import SimContext, build_plan

# Schemas as Claude Code and Codex send them (trimmed to what matters here).
BASH = {
    "type": "object",
    "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
    "required": ["command"],
}
TASK = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "prompt": {"type": "string"},
        "subagent_type": {"type": "string"},
    },
    "required": ["description", "prompt", "subagent_type"],
}
READ = {
    "type": "object",
    "properties": {"file_path": {"type": "string"}},
    "required": ["file_path"],
}
SHELL = {
    "type": "object",
    "properties": {"command": {"type": "array", "items": {"type": "string"}}},
    "required": ["command"],
}
CLAUDE_TOOLS = [("Task", TASK), ("Read", READ), ("Bash", BASH)]


def _turn(*tools: str) -> agentscript.TurnSpec:
    return agentscript.TurnSpec("", tuple(agentscript.CallSpec(t, None) for t in tools))


def test_roles_pick_real_agents_tools_with_harmless_arguments() -> None:
    resolved = agentscript.resolve(_turn("@list", "@subagent", "*"), CLAUDE_TOOLS)
    assert resolved == [
        ("Bash", {"command": "ls"}),
        (
            "Task",
            {
                "description": "List the files",
                "prompt": "List the files in the current directory and report how many there are.",
                "subagent_type": "general-purpose",
            },
        ),
        ("Bash", {"command": "ls"}),  # "*" prefers a listing tool
    ]
    # Codex's shell takes argv; a subagent's own requests offer no Task tool: list instead
    assert agentscript.resolve(_turn("@echo", "@subagent"), [("shell", SHELL)]) == [
        ("shell", {"command": ["echo", "agentload"]}),
        ("shell", {"command": ["ls"]}),
    ]
    # nothing known offered: the first tool, placeholders valid for the schema
    assert agentscript.resolve(_turn("@list"), [("Read", READ)]) == [("Read", {"file_path": "x"})]


def test_nullable_types_and_enums() -> None:
    schema: dict[str, Any] = {
        "properties": {"n": {"type": ["null", "integer"]}, "mode": {"enum": ["fast", "slow"]}},
        "required": ["n", "mode"],
    }
    assert agentscript.schema_arguments(schema) == {"n": 1, "mode": "fast"}


def _ids(deterministic: bool) -> list[str]:
    script = agentscript.parse({"turns": [{"calls": [{"tool": "*"}, {"tool": "*"}]}]}, "s")
    ctx = SimContext(
        "m", EngineConfig(), tokenizer.Tokenizer(), script, deterministic_ids=deterministic
    )
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "Bash", "parameters": BASH}}],
    }
    conv = read_conversation(Api.OPENAI_CHAT, body)
    out = []
    for _ in range(2):  # the same request twice
        plan = build_plan(ctx, [1, 2, 3], body, 10, conv, "call_")
        out += [c.call_id for c in plan.calls]
    return out


def test_tool_call_ids_unique_unless_deterministic() -> None:
    unique = _ids(False)
    assert len(set(unique)) == 4 and all(i.startswith("call_") for i in unique)
    same = _ids(True)
    assert same[:2] == same[2:] and same[0] != same[1]
