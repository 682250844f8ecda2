"""Acceptance: the official SDKs through a real `agentload capture` process with the sim
upstream. Bodies are byte-identical to a direct call; rows hold the usage and content the
client saw; recorded TTFT is within 5 ms of the client's."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import httpx2
import openai
import pytest
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionMessageParam

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.tracehelper import SECRET, contents, rows_for, session_of
from tests.simhelper import Sim, running_sim
from tests.timing import Measured, Noise, within_noise

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--token-interval-ms", "4", "--allow-faults") as s:
        yield s


@pytest.fixture(scope="module")
def proxy(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_capture(sim.url, tmp_path_factory.mktemp("trace")) as p:
        yield p


def _oa(base: str, session: str, sent: list[tuple[int, int]] | None = None) -> openai.OpenAI:
    """An SDK client; `sent` collects the (wall, monotonic) times at which each request goes
    out: wall to compare with the proxy's rows, monotonic for the noise probe's window."""

    def on_request(_request: httpx2.Request) -> None:
        if sent is not None:
            sent.append((time.time_ns(), time.monotonic_ns()))

    return openai.OpenAI(
        base_url=base + "/v1",
        api_key=SECRET,
        default_headers={"X-Session-ID": session},
        max_retries=0,
        http_client=httpx2.Client(event_hooks={"request": [on_request]}),
    )


def test_openai_chat_stream_usage_content_and_ttft(sim: Sim, proxy: Proxy) -> None:
    sent: list[tuple[int, int]] = []
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tell me something"}]
    client = _oa(proxy.url, "oa-stream", sent)
    # warm up: the first SDK call pays imports and the TCP connection; not timed, and its
    # own session (it carries another header) so the timed call is the session's first
    for _ in client.chat.completions.create(
        model=sim.model,
        messages=messages,
        max_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Session-ID": "oa-warm-up"},
    ):
        pass
    attempts = iter(range(3))  # a retry (tests/timing.py) uses fresh session names

    def run() -> list[Gap]:
        n = next(attempts)
        return [
            _checked_call(client, sim, proxy, messages, sent, f"oa-stream-{n}-{k}")
            for k in range(5)
        ]

    # The median of several calls, each gap less the run-queue wait of its own window (the
    # client's, proxy's and sim's threads): one scheduler hiccup is not the proxy, and time
    # the OS kept the proxy waiting on a busy machine is not the proxy's either.
    within_noise(
        Measured(run),
        lambda gaps, noise: statistics.median(g.beyond_wait(noise) for g in gaps),
        5.0,
        "median TTFT gap",
    )


@dataclass(frozen=True)
class Gap:
    """Client TTFT minus recorded TTFT (ms), and the call's window on the monotonic clock."""

    ms: float
    t0_mono_ns: int
    t1_mono_ns: int

    def beyond_wait(self, noise: Noise) -> float:
        if self.ms <= 0:
            return self.ms  # the proxy saw no later than the client: nothing to explain
        return max(0.0, self.ms - noise.stalled_ms(self.t0_mono_ns, self.t1_mono_ns))


def _checked_call(
    client: openai.OpenAI,
    sim: Sim,
    proxy: Proxy,
    messages: list[ChatCompletionMessageParam],
    sent: list[tuple[int, int]],
    session: str,
) -> Gap:
    """One timed streamed call, its row checked; client TTFT minus recorded TTFT (ms)."""
    (t_first, t1_mono), text, usage = _timed_stream(client, sim.model, messages, session)
    row = rows_for(proxy.traces, session_of(session), 1).row(0, named=True)
    sent_wall, sent_mono = sent[-1]
    client_ttft = (t_first - sent_wall) / 1e6
    recorded_ttft: float = (row[S.T_FIRST_TOKEN_NS] - row[S.T_REQUEST_START_NS]) / 1e6
    # the proxy sees the request later and the first token earlier than the client
    assert recorded_ttft <= client_ttft + 1.0, (recorded_ttft, client_ttft)
    assert row[S.PROMPT_TOKENS] == usage.prompt_tokens
    assert row[S.COMPLETION_TOKENS] == usage.completion_tokens
    assert row[S.STREAM] is True and row[S.PARTIAL] is False and row[S.HTTP_STATUS] == 200
    table = contents(proxy.traces)
    stored = json.loads(table[row[S.RESPONSE_CONTENT_ID]] or "{}")
    assert stored["content"] == "".join(text)
    assert json.loads(table[row[S.REQUEST_CONTENT_IDS][1]] or "{}") == messages[0]
    assert len(row[S.CHUNK_OFFSETS_NS]) == len(text)
    return Gap(client_ttft - recorded_ttft, sent_mono, t1_mono)


def _timed_stream(
    client: openai.OpenAI, model: str, messages: list[ChatCompletionMessageParam], session: str
) -> tuple[tuple[int, int], list[str], CompletionUsage]:
    """The first content chunk's (wall, monotonic) times, the text, the usage."""
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        stream=True,
        max_tokens=40,
        stream_options={"include_usage": True},
        extra_headers={"X-Session-ID": session},
    )
    t_first: tuple[int, int] | None = None
    text: list[str] = []
    usage: CompletionUsage | None = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            t_first = t_first or (time.time_ns(), time.monotonic_ns())
            text.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert t_first is not None and usage is not None
    return t_first, text, usage


def test_openai_chat_plain_and_cached_tokens(sim: Sim, proxy: Proxy) -> None:
    client = _oa(proxy.url, "oa-plain")
    long = "the quick brown fox " * 200
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": long},
        {"role": "user", "content": "hi"},
    ]
    first = client.chat.completions.create(model=sim.model, messages=messages, max_tokens=8)
    second = client.chat.completions.create(
        model=sim.model,
        messages=[
            *messages,
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "more"},
        ],
        max_tokens=8,
    )
    rows = rows_for(proxy.traces, session_of("oa-plain"), 2)
    assert rows[S.CALL_INDEX].to_list() == [0, 1]
    assert second.usage is not None and second.usage.prompt_tokens_details is not None
    assert rows[S.CACHED_TOKENS][1] == second.usage.prompt_tokens_details.cached_tokens
    assert rows[S.FINISH_REASON][1] == second.choices[0].finish_reason
    assert rows[S.STREAM].to_list() == [False, False]
    # content is stored once: the long system prompt appears in the first row's new parts only
    assert rows[S.REQUEST_CONTENT_IDS][0][1] == rows[S.REQUEST_CONTENT_IDS][1][1]
    assert len(rows[S.NEW_CONTENT][1]) < len(rows[S.REQUEST_CONTENT_IDS][1]) + 1


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_messages(sim: Sim, proxy: Proxy, stream: bool) -> None:
    session = f"an-{stream}"
    client = anthropic.Anthropic(
        base_url=proxy.url, api_key=SECRET, default_headers={"X-Session-ID": session}, max_retries=0
    )
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "yo"}]
    message: anthropic.types.Message
    if stream:
        with client.messages.stream(model=sim.model, max_tokens=30, messages=messages) as s:
            text = "".join(s.text_stream)
            message = s.get_final_message()
    else:
        message = client.messages.create(model=sim.model, max_tokens=30, messages=messages)
        text = "".join(b.text for b in message.content if b.type == "text")
    row = rows_for(proxy.traces, session_of(session), 1).row(0, named=True)
    assert row[S.API] == S.Api.ANTHROPIC_MESSAGES.value
    assert row[S.COMPLETION_TOKENS] == message.usage.output_tokens
    assert row[S.PROMPT_TOKENS] >= message.usage.input_tokens
    assert row[S.FINISH_REASON] == message.stop_reason
    stored = json.loads(contents(proxy.traces)[row[S.RESPONSE_CONTENT_ID]] or "{}")
    blocks = stored["content"]
    assert "".join(b.get("text", "") for b in blocks) == text
