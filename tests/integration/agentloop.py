"""A real agent loop on the official openai SDK: the model calls a tool for a few turns,
the tool takes real (slept) time, then the model answers, streamed.

SmolLM2-135M is too small to decide on tool use by itself. The tool turns therefore send
tool_choice="required" (llama.cpp then constrains decoding with a grammar built from the
tool schema) and prefill the assistant turn with the template's tool-call opener: llama.cpp's
"required" grammar still allows free text before the first call, which this model fills
until max_tokens. The answer turn uses tool_choice="none". The requests are otherwise what
an agent sends: the whole history every turn, tools declared on every call, tool results as
`tool` messages with their call ids.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall

SYSTEM = (
    "You are a travel assistant. Use the lookup tool to find facts about cities before "
    "answering, then answer in one short sentence."
)
PREFILL = {"role": "assistant", "content": "<tool_call>\n"}  # Qwen2.5/Hermes tool-call opener
CITIES = ("Paris", "Tokyo", "Lima", "Oslo")
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Population and country of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": list(CITIES)}},
                "required": ["city"],
            },
        },
    }
]
FACTS = {
    "Paris": {"country": "France", "population": 2_102_650},
    "Tokyo": {"country": "Japan", "population": 14_094_034},
    "Lima": {"country": "Peru", "population": 10_092_000},
    "Oslo": {"country": "Norway", "population": 717_710},
}


@dataclass
class AgentRun:
    """Usage the SDK saw for each call, in order (prompt, completion)."""

    usage: list[tuple[int, int]] = field(default_factory=list)
    tool_calls: int = 0
    answer: str = ""


async def lookup(arguments: str, latency_s: float) -> str:
    await asyncio.sleep(latency_s)  # the tool's own latency: the agent's think time
    city = json.loads(arguments).get("city", "")
    return json.dumps({"city": city, **FACTS.get(city, {})})


async def run_agent(
    client: AsyncOpenAI, model: str, task: str, tool_turns: int, latency_s: float, *, prefill: bool
) -> AgentRun:
    """`prefill`: add the tool-call opener (llama.cpp; vLLM's "required" needs none)."""
    run = AgentRun()
    opener: list[Any] = [PREFILL] if prefill else []
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": task},
    ]
    for _ in range(tool_turns):
        resp = await client.chat.completions.create(
            model=model, messages=[*messages, *opener], tools=TOOLS, tool_choice="required",
            max_tokens=40, temperature=0.0,
        )  # fmt: skip
        assert resp.usage is not None, "engine sent no usage"
        run.usage.append((resp.usage.prompt_tokens, resp.usage.completion_tokens))
        msg = resp.choices[0].message
        assert msg.tool_calls, f"no tool call in {msg}"
        messages.append(msg.model_dump(exclude_none=True, exclude={"refusal", "annotations"}))
        for call in msg.tool_calls:
            run.tool_calls += 1
            assert isinstance(call, ChatCompletionMessageFunctionToolCall), call
            content = await lookup(call.function.arguments, latency_s)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    stream = await client.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, tool_choice="none",
        max_tokens=24, temperature=0.0, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    parts: list[str] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            run.usage.append((chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
    run.answer = "".join(parts)
    return run
