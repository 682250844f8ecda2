"""The official openai SDK against the sim: text, usage and tool calls, streaming and not."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

from tests.simhelper import Sim

TOOLS: list[ChatCompletionFunctionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query", "limit"],
            },
        },
    },
]


@pytest.fixture
def client(fast_sim: Sim) -> openai.OpenAI:
    return openai.OpenAI(base_url=fast_sim.url + "/v1", api_key="unused", max_retries=0)


def tokenize(sim: Sim, text: str) -> list[int]:
    r = httpx.post(sim.url + "/tokenize", json={"model": sim.model, "prompt": text})
    r.raise_for_status()
    body = r.json()
    assert body["count"] == len(body["tokens"])
    return list(body["tokens"])


def test_completions_stream_text_and_usage(client: openai.OpenAI, fast_sim: Sim) -> None:
    prompt = "The quick brown fox jumps over the lazy dog, twice."
    stream = client.completions.create(
        model=fast_sim.model,
        prompt=prompt,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    text, usage, chunks = "", None, 0
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].text
            chunks += bool(chunk.choices[0].text)
        if chunk.usage is not None:
            usage = chunk.usage
    assert usage is not None
    assert chunks == usage.completion_tokens == 12
    assert usage.prompt_tokens == len(tokenize(fast_sim, prompt))
    assert usage.total_tokens == usage.prompt_tokens + 12
    # generated text re-tokenizes to exactly the reported count
    assert len(tokenize(fast_sim, text)) == 12


def test_completions_token_ids_exact_length(client: openai.OpenAI, fast_sim: Sim) -> None:
    ids = list(range(100, 1100))
    r = client.completions.create(
        model=fast_sim.model, prompt=ids, max_tokens=7, extra_body={"ignore_eos": True}
    )
    assert r.usage is not None
    assert r.usage.prompt_tokens == 1000
    assert r.usage.completion_tokens == 7
    assert r.choices[0].finish_reason == "length"


def test_output_length_between_min_and_max_is_deterministic(
    client: openai.OpenAI, fast_sim: Sim
) -> None:
    lengths = set()
    for seed_text in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta"):
        a, b = (
            client.completions.create(
                model=fast_sim.model, prompt=seed_text, max_tokens=40, extra_body={"min_tokens": 10}
            )
            for _ in range(2)
        )
        assert a.choices[0].text == b.choices[0].text
        assert a.usage is not None
        assert 10 <= a.usage.completion_tokens <= 40
        lengths.add(a.usage.completion_tokens)
    assert len(lengths) > 1  # lengths vary with the prompt


def test_chat_stream_text_and_usage(client: openai.OpenAI, fast_sim: Sim) -> None:
    stream = client.chat.completions.create(
        model=fast_sim.model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
        max_tokens=9,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert usage is not None and usage.completion_tokens == 9
    assert finish == "length"
    assert len(tokenize(fast_sim, text)) == 9
    rendered = httpx.post(
        fast_sim.url + "/tokenize",
        json={
            "model": fast_sim.model,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi!"},
            ],
        },
    ).json()
    assert usage.prompt_tokens == rendered["count"]


def _turn(
    client: openai.OpenAI, sim: Sim, messages: list[ChatCompletionMessageParam], stream: bool
) -> tuple[str, list[tuple[str, str, str]], str]:
    """(text, [(id, name, arguments)], finish_reason) of one chat call."""
    if not stream:
        r = client.chat.completions.create(
            model=sim.model,
            messages=messages,
            tools=TOOLS,
            max_tokens=50,
        )
        msg = r.choices[0].message
        calls = []
        for c in msg.tool_calls or []:
            assert isinstance(c, ChatCompletionMessageFunctionToolCall), c  # not a custom tool
            calls.append((c.id, c.function.name, c.function.arguments))
        return msg.content or "", calls, r.choices[0].finish_reason
    text, finish = "", ""
    acc: dict[int, list[str]] = {}
    for chunk in client.chat.completions.create(
        model=sim.model,
        messages=messages,
        tools=TOOLS,
        max_tokens=50,
        stream=True,
    ):
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            slot = acc.setdefault(tc.index, ["", "", ""])
            if tc.id:
                slot[0] = tc.id
            if tc.function and tc.function.name:
                slot[1] = tc.function.name
            if tc.function and tc.function.arguments:
                slot[2] += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    return text, [(acc[i][0], acc[i][1], acc[i][2]) for i in sorted(acc)], finish


@pytest.mark.parametrize("stream", [False, True])
def test_chat_scripted_tool_calls(client: openai.OpenAI, fast_sim: Sim, stream: bool) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"weather? {stream}"}]
    text, calls, finish = _turn(client, fast_sim, messages, stream)
    assert finish == "tool_calls"
    assert text == "Let me check."
    assert [(n, json.loads(a)) for _, n, a in calls] == [("get_weather", {"city": "Paris"})]
    messages.append(
        {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in calls
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0][0], "content": "sunny"})
    # turn 2: "*" = the first tool offered, arguments from its schema
    text, calls, finish = _turn(client, fast_sim, messages, stream)
    assert finish == "tool_calls"
    assert [(n, json.loads(a)) for _, n, a in calls] == [("get_weather", {"city": "x"})]
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in calls
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0][0], "content": "still sunny"})
    text, calls, finish = _turn(client, fast_sim, messages, stream)
    assert (text, calls, finish) == ("It is sunny in Paris.", [], "stop")


def test_chat_without_tools_is_plain_text(client: openai.OpenAI, fast_sim: Sim) -> None:
    r = client.chat.completions.create(
        model=fast_sim.model, messages=[{"role": "user", "content": "no tools"}], max_tokens=5
    )
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].message.content
