"""The official openai SDK's Responses client against the sim: text, usage, function calls,
previous_response_id and store, streamed and not (the SDK's own stream accumulator checks
that the event sequence is consistent)."""

from __future__ import annotations

import json
from typing import Any, cast

import openai
import pytest
from openai.types.responses import Response

from tests.simhelper import Sim

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture
def client(fast_sim: Sim) -> openai.OpenAI:
    return openai.OpenAI(base_url=fast_sim.url + "/v1", api_key="unused", max_retries=0)


def _create(client: openai.OpenAI, stream: bool, **kw: Any) -> Response:
    if not stream:
        return cast(Response, client.responses.create(**kw))
    if kw.get("max_output_tokens"):
        # A stream cut by max_output_tokens ends in response.incomplete, as the real API's
        # does; the SDK's accumulator only finishes on response.completed.
        events: list[Any] = list(client.responses.create(stream=True, **kw))
        assert events[-1].type in ("response.completed", "response.incomplete")
        assert [e.sequence_number for e in events] == list(range(len(events)))
        return cast(Response, events[-1].response)
    with client.responses.stream(**kw) as s:
        for _ in s:
            pass
        return s.get_final_response()


@pytest.mark.parametrize("stream", [False, True])
def test_text_and_usage(client: openai.OpenAI, fast_sim: Sim, stream: bool) -> None:
    r = _create(
        client,
        stream,
        model=fast_sim.model,
        input="Say something.",
        max_output_tokens=12,
        extra_body={"ignore_eos": True},  # the vLLM extension the sim takes
    )
    assert r.status == "incomplete"  # it ran to max_output_tokens
    assert r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage is not None and r.usage.output_tokens == 12
    assert r.usage.input_tokens > 0
    assert len(r.output_text.split()) == 12  # one corpus word per token


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_loop(client: openai.OpenAI, fast_sim: Sim, stream: bool) -> None:
    items: list[object] = [{"role": "user", "content": f"Weather in Paris? ({stream})"}]
    first = _create(client, stream, model=fast_sim.model, input=items, tools=TOOLS)
    calls = [o for o in first.output if o.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert calls[0].call_id.startswith("call_")
    items += [c.model_dump() for c in first.output]
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "sun"})
    second = _create(client, stream, model=fast_sim.model, input=items, tools=TOOLS)
    assert second.status == "completed"
    # turn 2 of the script: "*", the first tool again
    assert [o.type for o in second.output][-1] == "function_call"


def test_previous_response_id_continues_and_hits_the_cache(
    client: openai.OpenAI, fast_sim: Sim
) -> None:
    long_input = "tell me " * 300
    first = _create(client, False, model=fast_sim.model, input=long_input, max_output_tokens=5)
    second = _create(
        client,
        True,
        model=fast_sim.model,
        input="and more",
        previous_response_id=first.id,
        max_output_tokens=5,
    )
    assert first.usage is not None and second.usage is not None
    # the stored conversation is the new prompt's prefix
    assert second.usage.input_tokens > first.usage.input_tokens
    assert second.usage.input_tokens_details.cached_tokens >= first.usage.input_tokens - 32


def test_unknown_previous_response_and_store_false(client: openai.OpenAI, fast_sim: Sim) -> None:
    with pytest.raises(openai.BadRequestError, match="not found"):
        client.responses.create(model=fast_sim.model, input="x", previous_response_id="resp_0")
    unstored = client.responses.create(
        model=fast_sim.model, input="x", store=False, max_output_tokens=2
    )
    with pytest.raises(openai.BadRequestError, match="not found"):
        client.responses.create(model=fast_sim.model, input="y", previous_response_id=unstored.id)
