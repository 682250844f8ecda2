"""Every conversation shape the real APIs accept, read into one shape (request bodies
trimmed from what Claude Code, Codex and the SDKs send)."""

from __future__ import annotations

import pytest

from agentload.providers.api import Api
from agentload.providers.conversation import Part, RequestError, read_conversation

CLAUDE_CODE = {
    "model": "claude-opus-4-8",
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197;"},
        {"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>today</system-reminder>"},
                {"type": "text", "text": "List files.", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "data": "iVBOR"}},
                {"type": "document", "source": {"type": "text", "data": "doc"}},
            ],
        },
        {"role": "system", "content": "Available agent types: general-purpose"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "/a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "body"}],
                    "is_error": False,
                },
            ],
        },
    ],
    "tools": [
        {"name": "Bash", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ],
    "metadata": {"user_id": '{"session_id": "s"}'},
    "thinking": {"type": "adaptive"},
    "context_management": {"edits": []},
    "max_tokens": 64000,
}

CODEX = {
    "model": "gpt-5-codex",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "d"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}]},
        {"type": "function_call", "name": "exec_command", "call_id": "c1", "arguments": "{}"},
        {"type": "function_call", "name": "exec_command", "call_id": "c2", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "b"}],
        },
        {"type": "custom_tool_call", "name": "apply_patch", "call_id": "c3", "input": "*** Begin"},
        {"type": "custom_tool_call_output", "call_id": "c3", "output": "ok"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "done"}],
        },
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
        {"type": "namespace", "name": "multi_agent_v1", "tools": []},
        {"type": "web_search"},
    ],
    "store": False,
    "include": ["reasoning.encrypted_content"],
}


def test_claude_code_request() -> None:
    conv = read_conversation(Api.ANTHROPIC_MESSAGES, CLAUDE_CODE)
    roles = [t.role for t in conv.turns]
    assert roles == ["system", "user", "system", "assistant", "user"]
    user = conv.turns[1].parts
    assert [p.kind for p in user] == ["text", "text", "opaque", "opaque"]
    assert [p.name for p in user[2:]] == ["image", "document"]
    assistant = conv.turns[3].parts
    assert assistant[0] == Part("text", "hmm")
    assert assistant[2] == Part("tool_call", '{"command":"ls"}', "Bash", "toolu_1")
    results = conv.turns[4].parts
    assert results == (
        Part("tool_result", "a.txt", call_id="toolu_1"),
        Part("tool_result", "body", call_id="toolu_2"),
    )
    assert conv.tool_rounds() == 1
    assert [t.name for t in conv.tools] == ["Bash", "web_search"]


def test_codex_request() -> None:
    conv = read_conversation(Api.OPENAI_RESPONSES, CODEX)
    roles = [t.role for t in conv.turns]
    # reasoning and the two parallel calls are one assistant turn: one tool round
    assert roles == [
        "developer",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert [p.kind for p in conv.turns[2].parts] == ["text", "tool_call", "tool_call"]
    assert conv.turns[4].parts == (Part("tool_result", "b", call_id="c2"),)
    assert conv.turns[5].parts == (Part("tool_call", "*** Begin", "apply_patch", "c3"),)
    assert conv.turns[7].parts == (Part("text", "done"),)
    assert conv.tool_rounds() == 2
    assert [(t.name, t.kind) for t in conv.tools] == [
        ("exec_command", "function"),
        ("apply_patch", "custom"),
        ("multi_agent_v1", "namespace"),
    ]


def test_chat_and_tool_choice_none() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "r"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "none",
    }
    conv = read_conversation(Api.OPENAI_CHAT, body)
    assert [t.role for t in conv.turns] == ["system", "user", "assistant", "tool"]
    assert conv.turns[1].parts[1] == Part("opaque", name="image")
    assert conv.tools == () and conv.raw_tools is None  # tool_choice none: nothing callable
    assert conv.tool_rounds() == 1


@pytest.mark.parametrize(
    ("api", "body", "param"),
    [
        (Api.OPENAI_CHAT, {"messages": []}, "messages"),
        (Api.OPENAI_CHAT, {"messages": [{"content": "no role"}]}, "messages[0]"),
        (Api.ANTHROPIC_MESSAGES, {"messages": [{"role": "user", "content": 3}]}, "messages[0]"),
        (Api.OPENAI_RESPONSES, {"input": 3}, "input"),
        (Api.OPENAI_RESPONSES, {"input": "hi", "tools": {}}, "tools"),
    ],
)
def test_malformed_conversations_name_the_field(
    api: Api, body: dict[str, object], param: str
) -> None:
    with pytest.raises(RequestError) as err:
        read_conversation(api, body)
    assert err.value.param == param
