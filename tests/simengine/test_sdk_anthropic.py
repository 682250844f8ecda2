"""The official anthropic SDK against /v1/messages: text, usage, tool_use, cache reads."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from agentload.simengine.config import PRESETS
from tests.simhelper import Sim

TOOLS: list[anthropic.types.ToolParam] = [
    {
        "name": "get_weather",
        "description": "weather of a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture
def client(fast_sim: Sim) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fast_sim.url, api_key="unused", max_retries=0)


def test_messages_stream_text_and_usage(client: anthropic.Anthropic, fast_sim: Sim) -> None:
    with client.messages.stream(
        model=fast_sim.model,
        max_tokens=8,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say something."}]}],
        extra_body={"ignore_eos": True},
    ) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) == 8
    assert final.content[0].type == "text"
    assert final.content[0].text == "".join(deltas)
    assert final.usage.output_tokens == 8
    assert final.usage.input_tokens > 0
    assert final.stop_reason == "max_tokens"


def test_messages_non_stream(client: anthropic.Anthropic, fast_sim: Sim) -> None:
    msg = client.messages.create(
        model=fast_sim.model,
        max_tokens=6,
        messages=[{"role": "user", "content": "Hello"}],
        extra_body={"ignore_eos": True},
    )
    assert msg.usage.output_tokens == 6
    assert msg.content[0].type == "text" and msg.content[0].text


def _prompt_ids(sim: Sim, system: str, question: str) -> list[int]:
    """The sim's token ids of a /v1/messages prompt: Anthropic's system renders like a chat
    system message (simengine/render.py), so /tokenize with messages gives the same ids."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    r = httpx.post(sim.url + "/tokenize", json={"model": sim.model, "messages": messages})
    r.raise_for_status()
    return list(r.json()["tokens"])


def test_messages_cache_read_tokens(client: anthropic.Anthropic, fast_sim: Sim) -> None:
    shared = " ".join(f"cacheword{i}" for i in range(400))
    questions = ("first question?", "second question?")
    usages = [
        client.messages.create(
            model=fast_sim.model,
            max_tokens=4,
            system=shared,
            messages=[{"role": "user", "content": question}],
        ).usage
        for question in questions
    ]
    first, second = (_prompt_ids(fast_sim, shared, q) for q in questions)
    common = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    block = PRESETS["fast"].block_size
    # the full blocks of the shared prefix; a prompt's last token is never served from cache
    expected = min(common, len(second) - 1) // block * block
    assert 1000 < expected <= common < len(second)  # 400 words of system prompt are shared
    assert usages[0].cache_read_input_tokens == 0
    assert usages[0].input_tokens == len(first)
    assert usages[1].cache_read_input_tokens == expected
    # Anthropic convention: input_tokens excludes cache reads
    assert usages[1].input_tokens == len(second) - expected


@pytest.mark.parametrize("stream", [False, True])
def test_messages_scripted_tool_use(
    client: anthropic.Anthropic, fast_sim: Sim, stream: bool
) -> None:
    messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": f"What is the weather? {stream}"}
    ]
    for turn in range(2):
        msg: anthropic.types.Message
        if stream:
            with client.messages.stream(
                model=fast_sim.model,
                max_tokens=64,
                tools=TOOLS,
                messages=messages,
            ) as s:
                msg = s.get_final_message()
        else:
            msg = client.messages.create(
                model=fast_sim.model,
                max_tokens=64,
                tools=TOOLS,
                messages=messages,
            )
        assert msg.stop_reason == "tool_use"
        uses = [b for b in msg.content if b.type == "tool_use"]
        assert len(uses) == 1 and uses[0].name == "get_weather"
        assert uses[0].input == ({"city": "Paris"} if turn == 0 else {"city": "x"})
        assert msg.usage.output_tokens > 1
        messages.append({"role": "assistant", "content": msg.content})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}],
            }
        )
    final = client.messages.create(
        model=fast_sim.model,
        max_tokens=64,
        tools=TOOLS,
        messages=messages,
    )
    assert final.stop_reason == "end_turn"
    (text,) = final.content
    assert isinstance(text, anthropic.types.TextBlock), final.content
    assert text.text == "It is sunny in Paris."

    # multi-turn prompts reuse the conversation's cached prefix
    assert (final.usage.cache_read_input_tokens or 0) > 0
