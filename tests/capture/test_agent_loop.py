"""Acceptance: a real agent framework (openai-agents) running a multi-turn tool loop through
the proxy is captured as one session, calls in order, tool gaps as the agent lived them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import polars as pl
import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.tracehelper import SECRET, wait_rows
from tests.simhelper import running_sim
from tests.timing import Measured, Noise, within_noise

pytestmark = pytest.mark.slow

DELAYS = [0.15, 0.30, 0.05]  # seconds each tool call sleeps


@contextlib.contextmanager
def _scripted_sim_and_proxy(tmp: Path) -> Iterator[tuple[str, Proxy]]:
    script = tmp / "agent.json"
    turns = [{"calls": [{"tool": "lookup", "arguments": {"city": f"c{i}"}}]} for i in DELAYS]
    script.write_text(json.dumps({"turns": turns, "final": {"text": "done"}}))
    with (
        running_sim("--preset", "fast", "--agent-script", str(script)) as sim,
        running_capture(sim.url, tmp / "trace", "--workload", "agents") as proxy,
    ):
        yield sim.model, proxy


# httpx2, not httpx: the SDKs' HTTP library, whose client and transport types they take.
class _TimedBody(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, done: list[int]) -> None:
        self.inner, self.done = inner, done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk
        self.done.append(time.time_ns())

    async def aclose(self) -> None:
        await self.inner.aclose()


class TimedTransport(httpx2.AsyncBaseTransport):
    """Wall times at which the agent sent each request and finished reading each response."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.sent: list[int] = []
        self.done: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(time.time_ns())
        response = await self.inner.handle_async_request(request)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TimedBody(response.stream, self.done),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _run_agent(
    base_url: str, model: str, transport: TimedTransport
) -> tuple[str, list[tuple[int, int]]]:
    set_tracing_disabled(True)
    spans: list[tuple[int, int]] = []

    @function_tool
    async def lookup(city: str) -> str:
        """Look a city up."""
        t0 = time.time_ns()
        await asyncio.sleep(DELAYS[len(spans)])
        spans.append((t0, time.time_ns()))
        return f"{city}: sunny"

    client = AsyncOpenAI(
        base_url=base_url + "/v1",
        api_key=SECRET,
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=transport),
    )
    agent = Agent(
        name="weather",
        instructions="Use the lookup tool.",
        tools=[lookup],
        model=OpenAIChatCompletionsModel(model=model, openai_client=client),
    )
    result = await Runner.run(agent, "What is the weather?", max_turns=10)
    await client.close()
    return str(result.final_output), spans


@dataclass(frozen=True)
class Loop:
    final: str
    spans: list[tuple[int, int]]  # each tool run (wall ns)
    transport: TimedTransport
    frame: pl.DataFrame  # the captured rows, in request order
    wall_minus_monotonic_ns: int  # the stamps are wall times; the noise probe's monotonic


def _loop_once(tmp: Path) -> Loop:
    transport = TimedTransport()
    with _scripted_sim_and_proxy(tmp) as (model, proxy):
        final, spans = asyncio.run(_run_agent(proxy.url, model, transport))
        assert proxy.out_dir is not None
        frame = wait_rows(proxy.out_dir, len(DELAYS) + 1).sort(S.T_REQUEST_START_NS)
    return Loop(final, spans, transport, frame, time.time_ns() - time.monotonic_ns())


def _gap_disagreement_ms(loop: Loop, noise: Noise) -> float:
    """The worst |recorded tool gap − the gap the agent lived| (ms), beyond the run-queue
    wait where the two differ: the agent's request reaching the proxy, and the response's
    end reaching the agent (recorded − lived = both delays, each ≥ 0 on one clock)."""
    starts = loop.frame[S.T_REQUEST_START_NS].to_list()
    ends = loop.frame[S.T_RESPONSE_END_NS].to_list()
    sent, done = loop.transport.sent, loop.transport.done
    off = loop.wall_minus_monotonic_ns
    worst = 0.0
    for i in range(len(DELAYS)):
        there = noise.late_ms(sent[i + 1] - off, starts[i + 1] - off)
        back = noise.late_ms(ends[i] - off, done[i] - off)
        worst = max(worst, abs(there + back))
    return worst


def _gap_shortfall_ms(loop: Loop, noise: Noise) -> float:
    """How much of a tool run (t0..t1, on the agent's monotonic clock) falls outside the
    recorded gap: the proxy stamping a response's end after the agent began its tool, beyond
    the run-queue wait of that window (tests/timing.py), less any slack at the next request.
    0 or below when the gap holds the whole run."""
    starts: list[int] = loop.frame[S.T_REQUEST_START_NS].to_list()
    ends: list[int] = loop.frame[S.T_RESPONSE_END_NS].to_list()
    off = loop.wall_minus_monotonic_ns
    return max(
        noise.late_ms(t0, ends[i] - off) - (starts[i + 1] - off - t1) / 1e6
        for i, (t0, t1) in enumerate(loop.spans)
    )


def test_tool_loop_is_one_session_with_real_gaps(tmp_path_factory: pytest.TempPathFactory) -> None:
    measured = Measured(lambda: _loop_once(tmp_path_factory.mktemp("loop")))
    loop = measured.first
    frame, spans, transport = loop.frame, loop.spans, loop.transport
    assert len(spans) == len(DELAYS) and len(transport.sent) == len(DELAYS) + 1
    assert frame[S.SESSION_ID].n_unique() == 1
    assert frame[S.CALL_INDEX].to_list() == list(range(len(DELAYS) + 1))
    assert frame[S.PARENT_SESSION_ID].null_count() == frame.height
    assert frame[S.STITCH].to_list()[1:] == ["tool-call-id"] * len(DELAYS)
    assert frame[S.WORKLOAD].unique().to_list() == ["agents"]
    assert frame[S.FINISH_REASON].to_list() == ["tool_calls"] * len(DELAYS) + ["stop"]
    # The recorded gap holds the whole tool run (none of it is cut off).
    within_noise(measured, _gap_shortfall_ms, 0.0, "tool run outside the recorded gap")
    # The proxy's gap as the agent lived it (sent after the tool, done reading before it).
    within_noise(
        measured,
        _gap_disagreement_ms,
        10.0,
        "|recorded − lived| tool gap",
    )
    assert loop.final


async def _run_with_subagent(base_url: str, model: str) -> str:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url + "/v1", api_key=SECRET, max_retries=0)
    llm = OpenAIChatCompletionsModel(model=model, openai_client=client)
    helper = Agent(name="helper", instructions="You answer questions briefly.", model=llm)
    boss = Agent(
        name="boss",
        instructions="Delegate to the helper.",
        tools=[helper.as_tool(tool_name="ask_helper", tool_description="Ask the helper.")],
        model=llm,
    )
    result = await Runner.run(boss, "What is the weather?", max_turns=10)
    await client.close()
    return str(result.final_output)


def test_subagents_become_child_sessions(tmp_path: Path) -> None:
    # the boss calls its only tool (a helper agent) three times, then answers; the helper
    # offers no tools, so it answers at once
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"tool": "*"}] * len(DELAYS)}))
    out = tmp_path / "trace"
    with (
        running_sim("--preset", "fast", "--agent-script", str(script)) as sim,
        running_capture(sim.url, out) as proxy,
    ):
        assert asyncio.run(_run_with_subagent(proxy.url, sim.model))
        frame = wait_rows(out, 2 * len(DELAYS) + 1)
    roots = frame.filter(pl.col(S.PARENT_SESSION_ID).is_null())
    children = frame.filter(pl.col(S.PARENT_SESSION_ID).is_not_null()).sort(S.T_REQUEST_START_NS)
    assert roots[S.SESSION_ID].n_unique() == 1 and roots.height == len(DELAYS) + 1
    assert children[S.SESSION_ID].n_unique() == len(DELAYS)  # one session per helper run
    assert (
        children[S.PARENT_SESSION_ID].unique().to_list() == roots[S.SESSION_ID].unique().to_list()
    )
    # each helper run hangs off the boss call whose tool call it serves
    assert children[S.PARENT_CALL_INDEX].to_list() == list(range(len(DELAYS)))
    assert children[S.CALL_INDEX].to_list() == [0] * len(DELAYS)
