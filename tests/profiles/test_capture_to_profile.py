"""End to end: the openai SDK through a real capture proxy to the simulated engine, then
`profile derive`: timings, usage and structure survive; the prompt text does not."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import openai
import polars as pl
import pytest
from openai.types.chat import ChatCompletionMessageParam

from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from tests.capture.proxyhelper import running_capture
from tests.capture.tracehelper import SECRET, wait_rows
from tests.profiles.conftest import run_cli
from tests.profiles.test_derive import decompressed_bytes
from tests.simhelper import running_sim

pytestmark = pytest.mark.slow

GAPS = [0.4, 0.1, 0.7]  # tool time between calls, seconds
SYSTEM = "You are CANARYSYSTEMPROMPTQ7 helping with files. " * 40


def test_captured_agent_loop_derives_a_profile(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    with (
        running_sim("--preset", "fast") as sim,
        running_capture(sim.url, traces, "--workload", "e2e") as proxy,
    ):
        client = openai.OpenAI(
            base_url=proxy.url + "/v1",
            api_key=SECRET,
            max_retries=0,
            default_headers={"X-Session-ID": "e2e-session-1"},
        )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "List the CANARYUSERTASKZ9 files, then summarise."},
        ]
        for i in range(len(GAPS) + 1):
            stream = client.chat.completions.create(
                model=sim.model,
                messages=messages,
                stream=True,
                max_tokens=20,
                stream_options={"include_usage": True},
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            messages.append({"role": "assistant", "content": text})
            if i < len(GAPS):
                time.sleep(GAPS[i])
                messages.append({"role": "user", "content": f"tool result {i}: CANARYTOOL{i}X"})
        trace_rows = wait_rows(traces, len(GAPS) + 1)
    out = tmp_path / "profiles"
    run_cli("profile", "derive", *map(str, sorted(traces.glob("*.arrow"))), "--out", str(out))
    profile = read(out / "e2e.arrow", s.Kind.PROFILE).frame.sort(s.CALL_INDEX)
    assert profile[s.SESSION_ID].n_unique() == 1
    assert profile[s.CALL_INDEX].to_list() == [0, 1, 2, 3]
    captured = trace_rows.sort(s.CALL_INDEX)
    assert profile[s.INPUT_TOKENS].to_list() == captured[s.PROMPT_TOKENS].to_list()
    assert profile[s.OUTPUT_TOKENS].to_list() == captured[s.COMPLETION_TOKENS].to_list()
    thinks = profile[s.THINK_S].to_list()
    assert thinks[0] == 0.0
    for got, want in zip(thinks[1:], GAPS, strict=True):
        assert want <= got < want + 0.5, thinks  # the tool time, end-to-start
    assert profile.select(
        (pl.col(s.HASH_IDS).list.len() == (pl.col(s.INPUT_TOKENS) / 64).ceil()).all()
    ).item()
    ids = profile[s.HASH_IDS].to_list()
    for prev, cur in itertools.pairwise(ids):  # history blocks are shared
        assert cur[: len(prev) - 1] == prev[: len(prev) - 1]
    data = decompressed_bytes(out / "e2e.arrow")
    for needle in (
        "CANARYSYSTEMPROMPTQ7",
        "CANARYUSERTASKZ9",
        "CANARYTOOL1X",
        SECRET,
        "e2e-session-1",
    ):
        assert needle.encode() not in data
