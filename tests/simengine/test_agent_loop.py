"""A real agent program (openai-agents) runs its multi-turn tool loop against the sim."""

from __future__ import annotations

import json
from pathlib import Path

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.simhelper import running_sim


async def test_openai_agents_tool_loop(tmp_path: Path) -> None:
    script = {
        "turns": [
            {"calls": [{"tool": "lookup", "arguments": {"key": "alpha"}}]},
            {
                "calls": [
                    {"tool": "lookup", "arguments": {"key": "beta"}},
                    {"tool": "add", "arguments": {"a": 2, "b": 3}},
                ]
            },
        ],
        "final": {"text": "All done."},
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    calls: list[tuple[str, object]] = []

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        calls.append(("lookup", key))
        return f"value of {key}"

    @function_tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append(("add", (a, b)))
        return a + b

    set_tracing_disabled(True)
    log = tmp_path / "timing.arrow"
    with running_sim(
        "--preset",
        "fast",
        "--agent-script",
        str(tmp_path / "script.json"),
        "--timing-log",
        str(log),
    ) as sim:
        client = AsyncOpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0)
        agent = Agent(
            name="sim-agent",
            instructions="Use the tools.",
            tools=[lookup, add],
            model=OpenAIChatCompletionsModel(model=sim.model, openai_client=client),
        )
        result = await Runner.run(agent, "Please look things up.", max_turns=10)
        await client.close()
    assert result.final_output == "All done."
    assert calls == [("lookup", "alpha"), ("lookup", "beta"), ("add", (2, 3))]
    import pyarrow.ipc as ipc

    rows = ipc.open_file(str(log)).read_all().to_pylist()
    assert [r["endpoint"] for r in rows] == ["/v1/chat/completions"] * 3
    # each later turn re-sends the conversation: its prefix is cached
    assert rows[0]["cached_tokens"] == 0
    assert all(r["cached_tokens"] > 0 for r in rows[1:])
