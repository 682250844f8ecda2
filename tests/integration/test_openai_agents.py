"""The openai-agents SDK (PyPI) through `agentload capture` against the sim's Responses API:
a triage agent consults an expert agent used as a tool, then hands off to a writer agent
that calls a function tool and answers. Then the rest of the loop on its trace.

What the SDK sends: every agent's request carries its own instructions and the history so
far (no session header, no previous_response_id), so capture must stitch by content: the
expert's run (its own one-message conversation) is a child of the triage call that asked
for it; the handoff continues the same conversation under the writer's instructions, so
the writer's calls continue the triage session.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from agentload.traceformat import schema as S
from tests.integration import realagents as R

pytestmark = [pytest.mark.slow]

MODEL = "agentload-sim"
# Tool rounds so far decide the turn: the triage asks the expert (round 0), hands off
# (round 1); the writer, continuing that conversation, counts words (round 2), answers.
SCRIPT: dict[str, Any] = {  # the sim's agent script (JSON)
    "turns": [
        {"calls": [{"tool": "ask_expert", "arguments": {"input": "What is in this repo?"}}]},
        {"calls": [{"tool": "transfer_to_writer", "arguments": {}}]},
        {"calls": [{"tool": "word_count", "arguments": {"text": "three small words"}}]},
    ],
    "final": {"text": "The summary is written."},
}


@function_tool
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


async def _run(base_url: str) -> str:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url + "/v1", api_key=R.CANARY_KEY, max_retries=0)
    model = OpenAIResponsesModel(model=MODEL, openai_client=client)
    expert = Agent(name="expert", instructions="You know the repository.", model=model)
    writer = Agent(name="writer", instructions="Write summaries.", tools=[word_count], model=model)
    triage = Agent(
        name="triage",
        instructions="Route the question.",
        model=model,
        tools=[expert.as_tool(tool_name="ask_expert", tool_description="Ask the expert.")],
        handoffs=[writer],
    )
    result = await Runner.run(triage, "Summarise this repository.", max_turns=10)
    await client.close()
    return str(result.final_output)


def test_handoff_and_agent_as_tool_through_capture(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    with R.scripted_capture(tmp_path, SCRIPT) as proxy:
        answer = asyncio.run(_run(proxy.url))
    assert answer == SCRIPT["final"]["text"]
    trace = R.served_exactly(tmp_path)
    assert trace.height == 5  # triage x2, expert, writer x2
    assert (trace[S.API] == "openai-responses").all() and (trace[S.HTTP_STATUS] == 200).all()
    roots = trace.filter(pl.col(S.PARENT_SESSION_ID).is_null())
    children = trace.filter(pl.col(S.PARENT_SESSION_ID).is_not_null())
    # triage (2 calls) then writer (2 calls) in one session; the expert a child of call 0
    assert roots[S.SESSION_ID].n_unique() == 1 and roots[S.CALL_INDEX].to_list() == [0, 1, 2, 3]
    assert children.height == 1 and children[S.PARENT_CALL_INDEX].to_list() == [0]
    assert children[S.PARENT_SESSION_ID].to_list() == roots[S.SESSION_ID].unique().to_list()
    R.assert_no_canary(traces)
    R.check_loop(traces, tmp_path / "loop")
