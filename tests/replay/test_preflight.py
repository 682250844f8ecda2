"""The preflight, target kinds and cache isolation, against the real sim (and pure logic)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentload.base.errors import ConfigError, UnfaithfulRunError
from agentload.providers.api import Api
from agentload.providers.requests import restyle, synthetic_body
from agentload.providers.response_summary import ResponseSummary
from agentload.providers.usage import Usage
from agentload.replay import preflight, target_http
from agentload.replay.config import ApiChoice, ReplayConfig
from agentload.replay.source import load_plan
from agentload.replay.target_setup import contact, ready
from agentload.replay.targets import CAPABILITIES, Evidence, TargetKind, detect
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim

CLI = [sys.executable, "-c", "from agentload.cli import main; main()"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--block-size", "16") as s:
        yield s


def _config(tmp: Path, target: str, **kw: Any) -> ReplayConfig:
    source = tmp / "p.arrow"
    if not source.exists():
        write_profile(source, Shape(sessions=2, calls=2, child=False))
    kw.setdefault("model", "agentload-sim")
    return ReplayConfig(source=source, target=target, out=tmp / "o.arrow", quiet=True, **kw)


def _prepare(config: ReplayConfig) -> preflight.TargetReport:
    plan = load_plan(config.source, config.model)
    return ready(config, plan, contact(config)).report


# --- pure logic -------------------------------------------------------------------------


def test_detect_kinds_from_evidence() -> None:
    url = "http://h:8000"
    assert detect(Evidence(url, owned_by=("vllm",)))[0] is TargetKind.VLLM
    assert detect(Evidence(url, owned_by=("sglang",)))[0] is TargetKind.SGLANG
    assert detect(Evidence(url, owned_by=("llamacpp",)))[0] is TargetKind.LLAMACPP
    assert detect(Evidence(url, owned_by=("agentload",)))[0] is TargetKind.SIM
    assert detect(Evidence(url, props={"build_info": "b1"}))[0] is TargetKind.LLAMACPP
    assert detect(Evidence(url, version={"version": "0.9.1"}))[0] is TargetKind.VLLM
    assert detect(Evidence(url, model_types=("model",)))[0] is TargetKind.ANTHROPIC
    assert detect(Evidence("https://api.openai.com"))[0] is TargetKind.OPENAI
    assert detect(Evidence("https://api.anthropic.com", owned_by=("vllm",)))[0] is (
        TargetKind.ANTHROPIC
    )
    assert detect(Evidence(url)) == (None, detect(Evidence(url))[1])


def test_identity_parsers() -> None:
    metrics = (
        "# HELP vllm:cache_config_info x\n"
        'vllm:cache_config_info{block_size="16",enable_prefix_caching="True",'
        'gpu_memory_utilization="0.9"} 1.0\n'
    )
    assert preflight.cache_config(metrics) == {
        "block_size": "16",
        "enable_prefix_caching": "True",
        "gpu_memory_utilization": "0.9",
    }
    assert preflight.cache_config("other 1\n") is None
    props = {"build_info": "b6500-abc", "chat_template": "x" * 5000, "total_slots": 4,
             "default_generation_settings": {"n_ctx": 4096}}  # fmt: skip
    assert preflight.props_summary(props) == {"build_info": "b6500-abc", "total_slots": 4,
                                              "n_ctx": 4096}  # fmt: skip
    payload = {"data": [{"id": "m", "owned_by": "vllm", "max_model_len": 4096, "root": "/x"}]}
    assert preflight.served_models(payload) == [
        {"id": "m", "owned_by": "vllm", "max_model_len": 4096}
    ]
    assert preflight.served_models({"detail": "Not Found"}) is None


def _reply(completion: int | None, cached: int | None = 0) -> target_http.ProbeReply:
    summary = ResponseSummary(usage=Usage(prompt=30, completion=completion, cached=cached))
    return target_http.ProbeReply(Api.OPENAI_CHAT, 200, streamed=True, content_events=3,
                                  summary=summary)  # fmt: skip


def test_judge_lengths_and_reports() -> None:
    vllm, openai = CAPABILITIES[TargetKind.VLLM], CAPABILITIES[TargetKind.OPENAI]
    finding, problems, notes = preflight.judge(_reply(16), vllm)
    assert finding.ok and finding.got == 16 and not problems and not notes
    _, problems, _ = preflight.judge(_reply(5), vllm)
    assert problems and "got 5" in problems[0] and "ignored" in problems[0]
    _, problems, notes = preflight.judge(_reply(5), openai)  # cannot be forced: a note
    assert not problems and "cannot force" in notes[0]
    _, problems, notes = preflight.judge(_reply(None, None), vllm)
    assert not problems and any("no usage" in n for n in notes)
    assert any("cached-token" in n for n in notes)
    bad = target_http.ProbeReply(Api.OPENAI_CHAT, 400, error="Unrecognized request argument")
    _, problems, _ = preflight.judge(bad, vllm)
    assert problems and "400" in problems[0]
    said = "Unrecognized request argument supplied: min_tokens"
    assert "--target-kind openai" in preflight.hint(said, 400, Api.OPENAI_CHAT, "x")


def test_styles_per_kind() -> None:
    openai = CAPABILITIES[TargetKind.OPENAI].style()
    body = json.loads(synthetic_body(Api.OPENAI_CHAT, '"m"', '"hi"', 7, openai))
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body
    assert "min_tokens" not in body and "ignore_eos" not in body
    assert body["stream_options"] == {"include_usage": True}
    vllm = CAPABILITIES[TargetKind.VLLM].style("run-1")
    body = json.loads(synthetic_body(Api.OPENAI_COMPLETIONS, '"m"', "[1,2]", 7, vllm))
    assert body["min_tokens"] == 7 and body["ignore_eos"] is True and body["cache_salt"] == "run-1"
    anthropic = CAPABILITIES[TargetKind.ANTHROPIC].style("run-1")
    body = json.loads(synthetic_body(Api.ANTHROPIC_MESSAGES, '"m"', '"hi"', 7, anthropic))
    assert set(body) == {"model", "messages", "max_tokens", "stream"}
    recorded = {"messages": [], "max_tokens": 9, "min_tokens": 9, "ignore_eos": True}
    restyle(Api.OPENAI_CHAT, recorded, openai)
    assert recorded == {"messages": [], "max_completion_tokens": 9}


def test_token_ids_refused_for_hosted_kinds(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", target_kind=TargetKind.OPENAI,
                     preflight=False)  # fmt: skip
    with pytest.raises(ConfigError, match="--api chat"):
        _prepare(config)


# --- against the sim --------------------------------------------------------------------


def test_preflight_records_what_answered(sim: Sim, tmp_path: Path) -> None:
    secret = "Bearer not-a-real-key-0123456789"
    write_profile(tmp_path / "p.arrow", Shape(sessions=2, calls=2, child=False))
    result = replay(tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow",
                    headers=(("Authorization", secret),), api=ApiChoice.CHAT)  # fmt: skip
    info = result.info
    found = info["preflight"]
    assert isinstance(found, dict)
    assert found["checked"] is True and found["kind"] == "sim"
    (probe,) = found["probes"]
    assert probe["api"] == "openai-chat" and probe["got"] == 16 and probe["status"] == 200
    assert probe["stream_usage"] and probe["cached_reported"]
    identity = info["target_identity"]
    assert isinstance(identity, dict)
    assert identity["models"] == [
        {"id": "agentload-sim", "owned_by": "agentload", "max_model_len": 1 << 20}
    ]
    # its KV cache as the sim's /metrics states it, for compare's engine identity
    cache = identity["cache_config_info"]
    assert isinstance(cache, dict) and int(cache["num_gpu_blocks"]) > 0
    assert isinstance(info["cache_salt"], str) and info["cache_salt_pinned"] is False
    assert "not-a-real-key" not in json.dumps(info)


def test_wrong_model_lists_served_and_quotes_server(sim: Sim, tmp_path: Path) -> None:
    config = _config(tmp_path, sim.url, model="gpt-4o")
    with pytest.raises(UnfaithfulRunError) as err:
        _prepare(config)
    text = str(err.value)
    assert "'gpt-4o' is not served" in text and "served: agentload-sim" in text
    assert "does not exist" in text  # the server's own message


def test_engine_down_is_one_line_naming_the_url_within_5s(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=1, calls=1, child=False))
    config = _config(tmp_path, "http://127.0.0.1:9")
    start = time.monotonic()
    with pytest.raises(UnfaithfulRunError, match=r"cannot reach http://127\.0\.0\.1:9/v1/models"):
        contact(config)
    assert time.monotonic() - start < 5.0
    proc = subprocess.run(
        [*CLI, "replay", str(tmp_path / "p.arrow"), "--target", "http://127.0.0.1:9",
         "--model", "m", "--out", str(tmp_path / "o.arrow")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "http://127.0.0.1:9" in proc.stderr


def test_wrong_path_says_base_url(sim: Sim, tmp_path: Path) -> None:
    with pytest.raises(UnfaithfulRunError, match="without /v1"):
        _prepare(_config(tmp_path, sim.url + "/v1"))


def test_strict_target_needs_its_kind(tmp_path: Path) -> None:
    """A hosted-like target rejects vLLM's length fields: the preflight stops and names the
    kind to use; with that kind the run sends no extensions and chat's newer cap field."""
    with running_sim("--preset", "fast", "--strict") as strict:
        with pytest.raises(UnfaithfulRunError, match="--target-kind openai"):
            _prepare(_config(tmp_path, strict.url, api=ApiChoice.CHAT))
        report = _prepare(_config(tmp_path, strict.url, api=ApiChoice.CHAT,
                                  target_kind=TargetKind.OPENAI))  # fmt: skip
        assert report.kind is TargetKind.OPENAI and report.probes[0].ok
        with pytest.raises(ConfigError, match="--api chat"):
            _prepare(_config(tmp_path, strict.url, target_kind=TargetKind.OPENAI))
        anthropic = _prepare(_config(tmp_path, strict.url, api=ApiChoice.MESSAGES,
                                     target_kind=TargetKind.ANTHROPIC))  # fmt: skip
        assert anthropic.probes[0].ok and anthropic.probes[0].api == "anthropic-messages"
        result = replay(tmp_path / "p.arrow", strict.url, tmp_path / "s.arrow",
                        api=ApiChoice.CHAT, target_kind=TargetKind.OPENAI)  # fmt: skip
    assert (result.frame[S.STATUS] == "ok").all(), result.frame[S.ERROR].to_list()


def test_no_preflight_sends_nothing_before_the_run(tmp_path: Path) -> None:
    report = _prepare(_config(tmp_path, "http://127.0.0.1:9", preflight=False))
    assert not report.checked and report.kind is None and not report.probes


def test_identity_gets_keep_the_short_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GET connects within CONNECT_TIMEOUT_S (a target that is down: under 5 s), even
    though it waits at most IDENTITY_TIMEOUT_S for an answer (a per-call timeout replaces
    the client's whole one, connect included)."""
    import httpx

    seen: list[httpx.Timeout] = []

    def refuse(
        self: httpx.Client, url: str, *, timeout: httpx.Timeout, **_: object
    ) -> httpx.Response:
        seen.append(timeout)
        raise httpx.ConnectTimeout("no route")

    monkeypatch.setattr(httpx.Client, "get", refuse)
    with (
        target_http.client(300.0, {}) as http,
        pytest.raises(UnfaithfulRunError, match="no connection within 4 s"),
    ):
        target_http.get(http, "http://h/v1/models", target_http.Deadline(300.0), required=True)
    assert seen[0].connect == target_http.CONNECT_TIMEOUT_S < 5
    assert seen[0].read == target_http.IDENTITY_TIMEOUT_S
