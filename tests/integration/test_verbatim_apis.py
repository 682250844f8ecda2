"""Verbatim replay of all four provider APIs (Chat Completions, Completions, Responses,
Messages), from a trace the official SDKs made through `agentload capture`, against a fresh
sim and against llama-server, which serves all four.

Output lengths are forced to the recorded ones with the API's own cap plus vLLM's
`min_tokens`/`ignore_eos`. llama-server honours those on three APIs; on /v1/messages it
ignores `ignore_eos` and stops at its EOS (docs/engines.md), so there the test checks that
the call succeeded and stayed within the cap, not its exact length.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anthropic
import polars as pl
import pytest
from openai import AsyncOpenAI

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.capture.proxyhelper import running_capture
from tests.integration.agentload_cli import AGENTLOAD, agentload, errors
from tests.integration.engines import Engine
from tests.integration.realagents import CANARY_KEY, trace_frame
from tests.simhelper import running_sim

pytestmark = pytest.mark.slow

N_OUT = 12  # output tokens of every recorded call (ignore_eos: exactly this many)
LENGTH_EXACT = {"openai-chat", "openai-completions", "openai-responses"}  # on llama-server


async def _calls(url: str, model: str) -> None:
    oa = AsyncOpenAI(base_url=url + "/v1", api_key=CANARY_KEY, max_retries=0)
    an = anthropic.AsyncAnthropic(base_url=url, api_key=CANARY_KEY, max_retries=0)
    extra = {"ignore_eos": True}
    question = "Name three colours."
    chat = await oa.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=N_OUT,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra,
    )
    async for _ in chat:
        pass
    completion = await oa.completions.create(
        model=model, prompt=question, max_tokens=N_OUT, stream=True,
        stream_options={"include_usage": True}, extra_body=extra,
    )  # fmt: skip
    async for _ in completion:
        pass
    responses = await oa.responses.create(
        model=model, input=question, max_output_tokens=N_OUT, stream=True, extra_body=extra
    )
    async for _ in responses:
        pass
    async with an.messages.stream(
        model=model,
        max_tokens=N_OUT,
        messages=[{"role": "user", "content": question}],
        extra_body=extra,
    ) as stream:
        await stream.get_final_message()
    await oa.close()
    await an.close()


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("traces")
    with running_sim("--preset", "fast") as sim, running_capture(sim.url, out) as proxy:
        asyncio.run(_calls(proxy.url, sim.model))
    trace = trace_frame(out)
    assert sorted(trace[S.API].to_list()) == sorted([*LENGTH_EXACT, "anthropic-messages"])
    assert (trace[S.COMPLETION_TOKENS] == N_OUT).all(), trace
    (path,) = [p for p in out.glob("*.arrow") if p.stat().st_size]
    yield path


def _replay(url: str, model: str, source: Path, out: Path, *extra: str) -> pl.DataFrame:
    agentload(
        "replay", str(source), "--target", url, "--model", model, "--out", str(out), "--quiet",
        *extra,
    )  # fmt: skip
    frame = io.read(out, Kind.RESULT).frame
    assert errors(frame).height == 0, errors(frame)
    return frame.join(
        trace_frame(source.parent).select(S.SESSION_ID, S.API), on=S.SESSION_ID, how="left"
    )


def test_verbatim_replay_of_every_api_against_the_sim(trace_file: Path, tmp_path: Path) -> None:
    with running_sim("--preset", "fast") as sim:
        frame = _replay(sim.url, sim.model, trace_file, tmp_path / "r.arrow")
    assert frame.height == 4 and frame[S.API].null_count() == 0
    assert (frame[S.COMPLETION_TOKENS] == N_OUT).all(), frame
    assert (frame[S.EXPECTED_OUTPUT_TOKENS] == N_OUT).all()
    assert (frame[S.PROMPT_TOKENS] > 0).all()


@pytest.mark.engine
def test_verbatim_replay_of_every_api_against_llama_server(
    engine: Engine, trace_file: Path, tmp_path: Path
) -> None:
    if engine.kind != "llamacpp":
        pytest.skip(f"llama-server's /v1/messages length gap; {engine.kind} has its own test")
    # The preflight probes each API of the trace and stops the run: llama-server's
    # /v1/messages does not honour ignore_eos, so its lengths cannot be faithful (exit 3).
    stopped = subprocess.run(
        [AGENTLOAD, "replay", str(trace_file), "--target", engine.url, "--model", engine.model,
         "--out", str(tmp_path / "stopped.arrow"), "--quiet"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert stopped.returncode == 3, stopped.stderr
    assert "anthropic-messages: asked for 16 output tokens" in stopped.stderr, stopped.stderr
    # Run anyway: every API answers, the three others with exact lengths.
    frame = _replay(engine.url, engine.model, trace_file, tmp_path / "r.arrow", "--no-preflight")
    assert frame.height == 4 and (frame[S.PROMPT_TOKENS] > 0).all()
    exact = frame.filter(pl.col(S.API).is_in(LENGTH_EXACT))
    assert (exact[S.COMPLETION_TOKENS] == N_OUT).all(), exact
    messages = frame.filter(pl.col(S.API) == "anthropic-messages")
    assert messages[S.COMPLETION_TOKENS].to_list()[0] in range(1, N_OUT + 1), messages


@pytest.mark.engine
def test_verbatim_replay_of_every_api_against_vllm(
    engine: Engine, trace_file: Path, tmp_path: Path
) -> None:
    if engine.kind != "vllm":
        pytest.skip("vLLM only (make test-vllm)")
    # vLLM honours min_tokens/ignore_eos on all four APIs: the preflight lets the run go and
    # every output has the recorded length, Messages included.
    frame = _replay(engine.url, engine.model, trace_file, tmp_path / "r.arrow")
    assert frame.height == 4 and (frame[S.PROMPT_TOKENS] > 0).all()
    assert (frame[S.COMPLETION_TOKENS] == N_OUT).all(), frame
