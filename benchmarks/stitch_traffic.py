"""Concurrent agent traffic whose true sessions and parents are known, for measuring
session stitching (benchmarks/bench_stitch.py, tests/capture/test_stitch_truth.py).

Every agent speaks OpenAI Chat to a capture proxy in front of `agentload sim
--agent-script SCRIPT` (three tool rounds, then a final answer). The tools an agent offers
on a call decide which one the sim calls (the first offered), and a tool's `enum` decides
its arguments, so an agent steers the sim into the case it stands for:

- plain: three tool rounds and the final answer (4 calls);
- ends-on-tool: stops after its second call, which asked for a tool (mini-swe-agent);
- subagent: its first call delegates a task (a string unique to the agent) to a subagent
  with its own system prompt, whose first message is that task (4 calls), then goes on;
- handoff: its first call transfers to a writer agent: the same conversation continues
  under another system prompt (openai-agents' handoffs over Chat).

All agents share one system prompt; twins (every fifth pair) also share their task and
tool arguments, so their first calls are identical requests (with `--tool-call-ids
deterministic` also identical tool-call ids); their tool results differ. Two thirds of the
agents stream, half of those without usage. With `session_ids` each agent and its
subagent send `X-Session-ID`.

The truth rides in each request's `user` field (never used for stitching, not rendered
by the sim): `bench|SESSION|CALL|PARENT_SESSION|PARENT_CALL`.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any, Final

import httpx

KINDS: Final = ("plain", "ends-on-tool", "subagent", "handoff")
SCRIPT: Final = {"turns": 3, "final": {"text": "All done, here is the summary."}}
SYSTEM: Final = "You are a careful coding agent. Use the tools to answer."
SUB_SYSTEM: Final = "You are a research sub-agent. Investigate and report back briefly."
WRITER_SYSTEM: Final = "You are the writer agent. Write the final answer for the user."
MARK: Final = "bench"


def _tool(name: str, prop: str, value: str) -> dict[str, Any]:
    props = {prop: {"type": "string", "enum": [value]}}
    schema = {"type": "object", "properties": props, "required": [prop]}
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": schema},
    }


@dataclass(frozen=True)
class Agent:
    k: int
    seed: int  # equal for twins
    kind: str
    stream: bool
    usage: bool  # stream_options.include_usage when streaming

    @property
    def task(self) -> str:
        return f"Fix issue #{self.seed} in the parser: the tests in case {self.seed} fail."

    @property
    def lookup(self) -> dict[str, Any]:
        return _tool("lookup", "query", f"where is the code for case {self.seed}")

    @property
    def delegate(self) -> dict[str, Any]:
        return _tool("delegate", "task", f"Investigate part {self.seed} of the system, report")


def agents(n: int) -> list[Agent]:
    out = []
    for k in range(n):
        pair = k // 2
        seed = pair if pair % 5 == 0 else 1000 + k  # every fifth pair: twins
        kind = KINDS[pair % len(KINDS)]
        out.append(Agent(k, seed, kind, stream=k % 3 != 0, usage=k % 3 == 1))
    return out


@dataclass
class _Conv:
    """One session's conversation and where it is in the truth."""

    session: str
    parent: tuple[str, int] | None
    messages: list[dict[str, Any]]
    calls: int = 0


class Driver:
    def __init__(self, client: httpx.AsyncClient, url: str, model: str, session_ids: bool):
        self.client, self.url, self.model, self.session_ids = client, url, model, session_ids
        self.rng = random.Random(11)
        self.calls = 0

    async def _call(self, agent: Agent, conv: _Conv, tools: list[dict[str, Any]]) -> dict[str, Any]:
        parent = conv.parent or ("", "")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": conv.messages,
            "tools": tools,
            "user": f"{MARK}|{conv.session}|{conv.calls}|{parent[0]}|{parent[1]}",
        }
        headers = {"authorization": "Bearer sk-bench"}
        if self.session_ids:
            headers["x-session-id"] = f"bench-{agent.k}"
        conv.calls += 1
        self.calls += 1
        if not agent.stream:
            r = await self.client.post(self.url, json=body, headers=headers)
            r.raise_for_status()
            message: dict[str, Any] = r.json()["choices"][0]["message"]
            return message
        body["stream"] = True
        if agent.usage:
            body["stream_options"] = {"include_usage": True}
        async with self.client.stream("POST", self.url, json=body, headers=headers) as r:
            r.raise_for_status()
            return await _assemble(r)

    async def _tool_time(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.02, 0.3))

    async def _loop(self, agent: Agent, conv: _Conv, tools: list[dict[str, Any]], stop: int) -> str:
        """Calls until the final answer (or `stop` calls); returns the answer."""
        while conv.calls < stop:
            message = await self._call(agent, conv, tools)
            calls = message.get("tool_calls") or []
            if not calls:
                return str(message.get("content") or "")
            if conv.calls == stop:
                return ""  # ends on a tool call: its result is never sent
            conv.messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            await self._tool_time()
            for c in calls:
                result = f"agent {agent.k} result {conv.calls}: {self.rng.random():.6f}"
                conv.messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})
        return ""

    async def run(self, agent: Agent) -> None:
        await asyncio.sleep(self.rng.uniform(0, 1.0))
        main = _Conv(
            f"a{agent.k}",
            None,
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": agent.task}],
        )
        if agent.kind == "plain":
            await self._loop(agent, main, [agent.lookup], 10)
        elif agent.kind == "ends-on-tool":
            await self._loop(agent, main, [agent.lookup], 2)
        else:
            await self._first_then_rest(agent, main)

    async def _first_then_rest(self, agent: Agent, main: _Conv) -> None:
        special = (
            agent.delegate
            if agent.kind == "subagent"
            else _tool("transfer_to_writer", "reason", "the user wants a written answer")
        )
        message = await self._call(agent, main, [special, agent.lookup])
        call = message["tool_calls"][0]
        main.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        if agent.kind == "subagent":
            task = json.loads(call["function"]["arguments"])["task"]
            sub = _Conv(
                f"a{agent.k}.sub",
                (main.session, 0),
                [{"role": "system", "content": SUB_SYSTEM}, {"role": "user", "content": task}],
            )
            result = await self._loop(agent, sub, [agent.lookup], 10)
        else:
            main.messages[0] = {"role": "system", "content": WRITER_SYSTEM}
            result = "Transferred to writer."
        main.messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        await self._loop(agent, main, [agent.lookup], 10)


async def _assemble(r: httpx.Response) -> dict[str, Any]:
    """The assistant message a streamed chat response spells."""
    text: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    async for line in r.aiter_lines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = json.loads(line[5:])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            for tc in delta.get("tool_calls") or ():
                slot = tools.setdefault(
                    tc.get("index", 0),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if tools:
        message["tool_calls"] = [tools[i] for i in sorted(tools)]
    return message


async def _drive(base: str, model: str, n: int, session_ids: bool) -> int:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        driver = Driver(client, base + "/v1/chat/completions", model, session_ids)
        await asyncio.gather(*(driver.run(a) for a in agents(n)))
    return driver.calls


def drive(base: str, model: str, n: int, session_ids: bool) -> int:
    """Run `n` agents at once against `base` (a capture proxy's URL); calls made."""
    return asyncio.run(_drive(base, model, n, session_ids))
