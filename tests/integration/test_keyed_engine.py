"""Acceptance on llama-server started with `--api-key`: the whole loop (an agent through
`agentload capture`, `profile derive`, `replay` with the key from the environment, `report`)
passes with `--api chat` and with `--api completions`, and the preflight's findings match
the capability table in docs/engines.md (`replay.targets.CAPABILITIES`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from agentload.replay.targets import CAPABILITIES, TargetKind
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.capture.proxyhelper import running_capture
from tests.integration.agentload_cli import AGENTLOAD, agentload, errors
from tests.integration.agentloop import run_agent
from tests.integration.engines import Engine, EngineUnavailable, engine_kind, running_engine

pytestmark = [pytest.mark.engine, pytest.mark.slow]

KEY = "sk-keyed-llama-acceptance-7f3a9c"  # a test key: llama-server's --api-key
BLOCK = 16


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if engine_kind() != "llamacpp":
        pytest.skip("llama-server's --api-key acceptance (AGENTLOAD_ENGINE=llamacpp)")
    problem = None
    try:
        with running_engine(tmp_path_factory.mktemp("keyed"), ("--api-key", KEY)) as eng:
            yield eng
    except EngineUnavailable as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def profile(keyed: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One agent session captured through the proxy (with the key), derived to a profile."""
    tmp = tmp_path_factory.mktemp("loop")

    async def agent(url: str) -> None:
        async with AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as client:
            run = await run_agent(client, keyed.model, "Compare Paris and Oslo.", 2, 0.2,
                                  prefill=True)  # fmt: skip
            assert run.answer, run

    with running_capture(keyed.url, tmp / "trace", "--workload", "keyed") as proxy:
        asyncio.run(agent(proxy.url))
    traces = [str(p) for p in sorted((tmp / "trace").glob("*.arrow")) if p.stat().st_size]
    agentload("profile", "derive", *traces, "--out", str(tmp / "prof"), "--block-size",
              str(BLOCK))  # fmt: skip
    return tmp / "prof" / "keyed.arrow"


def _replay(
    engine: Engine, source: Path, out: Path, *extra: str, key: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    if key:
        env["AGENTLOAD_API_KEY"] = KEY  # from the environment: not in the process list
    return subprocess.run(
        [AGENTLOAD, "replay", str(source), "--target", engine.url, "--model", engine.model,
         "--out", str(out), *extra],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_whole_loop_with_a_key(keyed: Engine, profile: Path, tmp_path: Path, api: str) -> None:
    out = tmp_path / "r.arrow"
    proc = _replay(keyed, profile, out, "--api", api, "--reset-cache")
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert "target: llamacpp" in proc.stderr  # the preflight's block
    loaded = io.read(out, Kind.RESULT)
    frame = loaded.frame
    prof = io.read(profile, Kind.PROFILE).frame
    assert frame.height == prof.height and errors(frame).is_empty(), errors(frame)
    assert (frame[S.COMPLETION_TOKENS] == frame[S.EXPECTED_OUTPUT_TOKENS]).all()
    if api == "completions":
        assert (frame[S.PROMPT_TOKENS] == frame[S.EXPECTED_INPUT_TOKENS]).all()
    _check_findings(loaded.info, api)
    summary = tmp_path / "report.json"
    agentload("report", str(out), "--json", str(summary), "--quiet")
    data = json.loads(summary.read_text())
    assert data["requests"]["ok"] == prof.height and data["requests"]["errors"] == 0
    assert KEY not in summary.read_text() and KEY.encode() not in out.read_bytes()


def _check_findings(info: dict[str, object], api: str) -> None:
    """The preflight's findings are what docs/engines.md's table says of llama-server."""
    found = info["preflight"]
    assert isinstance(found, dict), info
    table = CAPABILITIES[TargetKind.LLAMACPP]
    assert found["kind"] == "llamacpp" and found["checked"] is True
    assert found["capabilities"] == asdict(table)
    (probe,) = found["probes"]
    assert probe["api"] == f"openai-{api}" and probe["status"] == 200
    assert probe["got"] == probe["asked"] == 16  # exact output lengths: yes
    assert probe["stream_usage"] is True  # usage in streams: yes
    assert probe["cached_reported"] is True  # cached tokens: always
    # --reset-cache: llama-server offers none, and the run says so
    assert any("offers no prefix-cache reset" in n for n in found["notes"]), found["notes"]
    identity = info["target_identity"]
    assert isinstance(identity, dict)
    assert [m["owned_by"] for m in identity["models"]] == ["llamacpp"]
    props = identity["props"]
    assert props["n_ctx"] > 0 and props["build_info"], props
    assert KEY not in json.dumps(info)


def test_without_the_key_the_preflight_stops(keyed: Engine, profile: Path, tmp_path: Path) -> None:
    proc = _replay(keyed, profile, tmp_path / "r.arrow", "--api", "chat", key=False)
    assert proc.returncode == 3, proc.stderr
    assert "401" in proc.stderr and "--api-key" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr


def test_kinds_seen_by_the_preflight(keyed: Engine, profile: Path, tmp_path: Path) -> None:
    """Told it is a hosted OpenAI target, token-id prompts are refused before any request."""
    proc = _replay(keyed, profile, tmp_path / "r.arrow", "--target-kind", "openai")
    assert proc.returncode == 2 and "--api chat" in proc.stderr, proc.stderr
