"""The whole loop on a real engine: an agent (openai SDK, tool calls) talks to the engine
through `agentload capture`; the trace becomes a profile (`agentload profile derive`); the
profile is replayed against the same engine (`agentload replay`); `agentload report` writes
the HTML and JSON reports. Each stage's output is checked against what the stage before it
really did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import polars as pl
import pytest
from openai import AsyncOpenAI

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.capture.proxyhelper import running_capture
from tests.integration.agentload_cli import agentload, errors, replay
from tests.integration.agentloop import SYSTEM, AgentRun, run_agent
from tests.integration.cachecheck import assert_cache_close
from tests.integration.engines import Engine

pytestmark = [pytest.mark.engine, pytest.mark.slow]

TOOL_TURNS = 3
TOOL_LATENCY_S = 0.3
BLOCK = 16
TASKS = (
    "Compare the populations of Paris and Tokyo.",
    "Which is larger, Lima or Oslo? Check both.",
)


async def _agents(url: str, model: str, prefill: bool) -> list[AgentRun]:
    # The second agent sends a session header (as Codex/Claude Code do); the first sends
    # none, so capture must stitch its calls from their content.
    plain = AsyncOpenAI(base_url=url + "/v1", api_key="sk-e2e-not-a-secret", max_retries=0)
    tagged = AsyncOpenAI(
        base_url=url + "/v1",
        api_key="sk-e2e-not-a-secret",
        max_retries=0,
        default_headers={"X-Session-ID": "e2e-agent-2"},
    )
    async with plain, tagged:
        return list(
            await asyncio.gather(
                run_agent(plain, model, TASKS[0], TOOL_TURNS, TOOL_LATENCY_S, prefill=prefill),
                run_agent(tagged, model, TASKS[1], TOOL_TURNS, TOOL_LATENCY_S, prefill=prefill),
            )
        )


def _capture(engine: Engine, trace_dir: Path) -> tuple[list[AgentRun], pl.DataFrame]:
    with running_capture(engine.url, trace_dir, "--workload", "e2e") as proxy:
        runs = asyncio.run(_agents(proxy.url, engine.model, engine.kind == "llamacpp"))
    # The proxy has stopped: every trace file is complete.
    files = sorted(p for p in trace_dir.glob("*.arrow") if p.stat().st_size)
    frame = pl.concat([io.read(p, Kind.TRACE).frame for p in files])
    return runs, frame


def _check_trace(runs: list[AgentRun], trace: pl.DataFrame) -> None:
    calls = TOOL_TURNS + 1
    assert trace.height == 2 * calls, trace
    assert (trace[S.HTTP_STATUS] == 200).all()
    assert (trace[S.API] == "openai-chat").all()
    sessions = trace.group_by(S.SESSION_ID).agg(pl.col(S.CALL_INDEX).sort())
    assert sessions.height == 2, sessions
    assert all(c == list(range(calls)) for c in sessions[S.CALL_INDEX].to_list()), sessions
    # The usage the agents saw is the usage recorded, call by call (each session's calls
    # in order; sessions matched by their recorded usage sequences).
    recorded = sorted(
        list(zip(g[S.PROMPT_TOKENS].to_list(), g[S.COMPLETION_TOKENS].to_list(), strict=True))
        for _, g in trace.sort(S.CALL_INDEX).group_by(S.SESSION_ID)
    )
    assert recorded == sorted(r.usage for r in runs)
    # The answer call was streamed, the tool calls were not.
    final = trace.filter(pl.col(S.CALL_INDEX) == TOOL_TURNS)
    assert (
        final[S.STREAM].all()
        and not trace.filter(pl.col(S.CALL_INDEX) < TOOL_TURNS)[S.STREAM].any()
    )


def _check_profile(runs: list[AgentRun], profile_path: Path) -> pl.DataFrame:
    loaded = io.read(profile_path, Kind.PROFILE)
    prof = loaded.frame.sort(S.SESSION_ID, S.CALL_INDEX)
    assert loaded.metadata[S.META_BLOCK_SIZE.decode()] == str(BLOCK)
    assert prof.height == 2 * (TOOL_TURNS + 1)
    lengths = sorted(
        list(zip(g[S.INPUT_TOKENS].to_list(), g[S.OUTPUT_TOKENS].to_list(), strict=True))
        for _, g in prof.group_by(S.SESSION_ID, maintain_order=True)
    )
    assert lengths == sorted(r.usage for r in runs)  # usage wins over any re-tokenization
    later = prof.filter(pl.col(S.CALL_INDEX) > 0)
    # Think time = the tool's latency (plus client overhead), measured end to start.
    assert later[S.THINK_S].min() >= TOOL_LATENCY_S * 0.9, later  # type: ignore[operator]
    assert later[S.THINK_S].max() < TOOL_LATENCY_S + 2.0, later  # type: ignore[operator]
    # Each call's prompt extends the previous one, so it starts with most of the previous
    # call's blocks. Not all: derive maps its offline tokens onto the engine's count with
    # one scale per file, and the blocks past what the offline tokens cover (the chat
    # template's own tokens, not proportional to content) are fillers unique to each call.
    for _, g in prof.group_by(S.SESSION_ID):
        ids, n_in = g[S.HASH_IDS].to_list(), g[S.INPUT_TOKENS].to_list()
        for i in range(1, len(ids)):
            pairs = list(zip(ids[i], ids[i - 1], strict=False))
            shared = next((k for k, (a, b) in enumerate(pairs) if a != b), len(pairs))
            assert shared * BLOCK >= 0.5 * min(n_in[i - 1], n_in[i]), (i, shared, n_in, ids)
    # Both agents share a system prompt and tool list: their first blocks are identical.
    firsts = prof.filter(pl.col(S.CALL_INDEX) == 0)[S.HASH_IDS].to_list()
    assert firsts[0][:2] == firsts[1][:2], firsts
    # Content-free: no text of the conversation is in the shareable file.
    raw = profile_path.read_bytes()
    for text in (SYSTEM[:30], "Tokyo", "lookup", "e2e-agent-2"):
        assert text.encode() not in raw, text
    return prof


def test_capture_profile_replay_report(engine: Engine, tmp_path: Path) -> None:
    runs, trace = _capture(engine, tmp_path / "trace")
    assert all(r.tool_calls >= TOOL_TURNS and r.answer for r in runs), runs
    _check_trace(runs, trace)

    trace_files = [str(p) for p in sorted((tmp_path / "trace").glob("*.arrow"))]
    agentload(
        "profile",
        "derive",
        *trace_files,
        "--out",
        str(tmp_path / "prof"),
        "--block-size",
        str(BLOCK),
    )
    prof = _check_profile(runs, tmp_path / "prof" / "e2e.arrow")

    result = replay(
        engine, tmp_path / "prof" / "e2e.arrow", tmp_path / "r.arrow", "--api", "completions"
    )
    frame = result.frame
    assert frame.height == prof.height and errors(frame).is_empty(), errors(frame)
    # Same shapes as the agents' calls: exact token-id prompt lengths and output lengths.
    joined = frame.join(prof, on=[S.SESSION_ID, S.CALL_INDEX], how="inner")
    assert joined.height == prof.height
    assert (joined[S.PROMPT_TOKENS] == joined[S.INPUT_TOKENS]).all(), joined
    assert (joined[S.COMPLETION_TOKENS] == joined[S.OUTPUT_TOKENS]).all(), joined
    assert_cache_close(frame, engine.cache_tolerance(BLOCK))

    html, summary = tmp_path / "report.html", tmp_path / "report.json"
    agentload(
        "report", str(tmp_path / "r.arrow"), "--html", str(html), "--json", str(summary), "--quiet"
    )
    data = json.loads(summary.read_text())
    assert data["requests"]["ok"] == prof.height and data["requests"]["errors"] == 0
    assert data["sessions"]["completed"] == 2
    assert data["info"]["target"] == engine.url
    observed = data["cache"]["cache_hit_rate"]
    expected = int(frame[S.CACHED_TOKENS].sum()) / int(frame[S.PROMPT_TOKENS].sum())
    assert observed == pytest.approx(expected, rel=1e-6)
    # The profile keeps most of the reuse the real conversation had on this engine (the
    # gap: derive's filler blocks for template tokens it cannot see, ~10 points here).
    captured = int(trace[S.CACHED_TOKENS].sum()) / int(trace[S.PROMPT_TOKENS].sum())
    assert data["cache"]["theoretical_cache_hit_rate"] >= captured - 0.15, (captured, data["cache"])
    page = html.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page
    assert "<script src=" not in page.lower()  # self-contained: works offline
