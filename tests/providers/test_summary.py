"""Per-API response parsing: usage (incl. cached/reasoning), finish reason, tool calls,
errors inside 200 streams, assembled content."""

from __future__ import annotations

import json

from agentload.providers.response_summary import StreamSummary, summarize_json
from agentload.traceformat.schema import Api


def _stream(api: Api, events: list[tuple[str, object]]) -> tuple[StreamSummary, list[bool]]:
    summary = StreamSummary(api)
    flags = [summary.add(name, json.dumps(obj)) for name, obj in events]
    return summary, flags


def test_openai_chat_stream_with_tool_calls_and_usage() -> None:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    tool1 = {"index": 0, "id": "call_A", "function": {"name": "ls", "arguments": '{"p'}}
    tool2 = {"index": 0, "function": {"arguments": '":1}'}}
    summary, flags = _stream(
        Api.OPENAI_CHAT,
        [
            ("message", {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
            ("message", chunk),
            ("message", {"choices": [{"index": 0, "delta": {"tool_calls": [tool1]}}]}),
            ("message", {"choices": [{"index": 0, "delta": {"tool_calls": [tool2]}}]}),
            ("message", {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            (
                "message",
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 100,
                        "completion_tokens": 7,
                        "prompt_tokens_details": {"cached_tokens": 64},
                        "completion_tokens_details": {"reasoning_tokens": 3},
                    },
                },
            ),
        ],
    )
    assert flags == [False, True, True, True, False, False]
    result = summary.result()
    assert (result.usage.prompt, result.usage.completion) == (100, 7)
    assert (result.usage.cached, result.usage.reasoning) == (64, 3)
    assert result.finish_reason == "tool_calls"
    assert result.tool_call_ids == ("call_A",)
    assert result.content == {
        "role": "assistant",
        "content": "Hi",
        "tool_calls": [{"id": "call_A", "name": "ls", "args": '{"p":1}'}],
    }


def test_error_event_inside_a_200_stream() -> None:
    summary, _ = _stream(
        Api.OPENAI_CHAT,
        [
            ("message", {"choices": [{"index": 0, "delta": {"content": "a"}}]}),
            ("message", {"error": {"type": "server_error", "message": "overloaded"}}),
        ],
    )
    assert summary.result().error == "server_error: overloaded"


def test_anthropic_stream_usage_sums_cache_fields() -> None:
    summary, flags = _stream(
        Api.ANTHROPIC_MESSAGES,
        [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "usage": {
                            "input_tokens": 10,
                            "cache_read_input_tokens": 80,
                            "cache_creation_input_tokens": 5,
                            "output_tokens": 1,
                        },
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"text": "ok"}},
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "ls"},
                },
            ),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use"},
                    "usage": {"output_tokens": 12},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ],
    )
    assert flags == [False, False, True, True, False, False]
    result = summary.result()
    assert (result.usage.prompt, result.usage.cached, result.usage.completion) == (95, 80, 12)
    assert result.finish_reason == "tool_use"
    assert result.tool_call_ids == ("toolu_1",)
    assert result.response_id == "msg_1"


def test_anthropic_error_event() -> None:
    summary, _ = _stream(
        Api.ANTHROPIC_MESSAGES,
        [("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})],
    )
    assert summary.result().error == "overloaded_error: busy"


def test_responses_stream_uses_the_completed_response() -> None:
    final = {
        "id": "resp_1",
        "status": "completed",
        "output": [{"type": "function_call", "call_id": "fc_1", "name": "ls"}],
        "usage": {
            "input_tokens": 50,
            "output_tokens": 9,
            "input_tokens_details": {"cached_tokens": 32},
            "output_tokens_details": {"reasoning_tokens": 4},
        },
    }
    summary, flags = _stream(
        Api.OPENAI_RESPONSES,
        [
            ("response.created", {"type": "response.created", "response": {"id": "resp_1"}}),
            ("x", {"type": "response.output_text.delta", "delta": "Hi"}),
            ("x", {"type": "response.completed", "response": final}),
        ],
    )
    assert flags == [False, True, False]
    result = summary.result()
    assert (result.usage.prompt, result.usage.cached, result.usage.reasoning) == (50, 32, 4)
    assert result.tool_call_ids == ("fc_1",) and result.finish_reason == "tool_calls"
    assert result.response_id == "resp_1"


def test_json_bodies_per_api() -> None:
    chat = summarize_json(
        Api.OPENAI_CHAT,
        {
            "id": "c",
            "choices": [{"message": {"tool_calls": [{"id": "t1"}]}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        },
    )
    assert (chat.finish_reason, chat.tool_call_ids, chat.usage.prompt) == ("stop", ("t1",), 3)
    msg = summarize_json(
        Api.ANTHROPIC_MESSAGES,
        {"id": "m", "content": [], "stop_reason": "end_turn", "usage": {"input_tokens": 4}},
    )
    assert (msg.finish_reason, msg.usage.prompt, msg.usage.cached) == ("end_turn", 4, None)
    err = summarize_json(Api.OPENAI_CHAT, {"error": {"message": "bad key", "type": "auth"}})
    assert err.error == "auth: bad key"
    comp = summarize_json(
        Api.OPENAI_COMPLETIONS, {"choices": [{"text": "x", "finish_reason": "length"}]}
    )
    assert comp.finish_reason == "length"


def test_invalid_json_events_are_counted() -> None:
    summary = StreamSummary(Api.OPENAI_CHAT)
    assert summary.add("message", "{not json") is False
    assert summary.bad_events == 1
