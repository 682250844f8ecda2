"""Bad requests get 4xx with API-shaped error bodies; injected faults; the timing log."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import httpx
import openai
import pyarrow.ipc as ipc
import pytest
from openai.types import CompletionUsage

from agentload.simengine import timinglog as tl
from tests.simhelper import Sim, running_sim


def _openai_error(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    return dict(err)


def test_openai_bad_requests(fast_sim: Sim, small_kv_sim: Sim) -> None:
    url, model = fast_sim.url, fast_sim.model
    err = _openai_error(
        httpx.post(url + "/v1/completions", json={"model": "nope", "prompt": "x"}), 404
    )
    assert err["code"] == "model_not_found" and err["param"] == "model"
    err = _openai_error(
        httpx.post(
            url + "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
        ),
        400,
    )
    assert err["param"] == "max_tokens"
    err = _openai_error(
        httpx.post(
            url + "/v1/completions",
            content=b'{"model": ',
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    assert "malformed JSON" in str(err["message"])
    long = {"model": small_kv_sim.model, "prompt": list(range(3000))}
    err = _openai_error(httpx.post(small_kv_sim.url + "/v1/completions", json=long), 400)
    assert err["code"] == "context_length_exceeded"
    over_kv = {"model": small_kv_sim.model, "prompt": list(range(1500)), "max_tokens": 10}
    err = _openai_error(httpx.post(small_kv_sim.url + "/v1/completions", json=over_kv), 400)
    assert "KV cache" in str(err["message"])


def test_openai_sdk_raises_typed_errors(fast_sim: Sim) -> None:
    client = openai.OpenAI(base_url=fast_sim.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="x")
    with pytest.raises(openai.BadRequestError) as exc:
        client.completions.create(model=fast_sim.model, prompt="x", max_tokens=-5)
    assert exc.value.code is None or isinstance(exc.value.code, str)


def test_anthropic_bad_requests(fast_sim: Sim) -> None:
    client = anthropic.Anthropic(base_url=fast_sim.url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as nf:
        client.messages.create(
            model="other", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert nf.value.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": ("The model `other` does not exist. This server serves `agentload-sim`."),
        },
    }
    r = httpx.post(
        fast_sim.url + "/v1/messages",
        json={
            "model": fast_sim.model,
            "max_tokens": -3,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    r = httpx.post(fast_sim.url + "/v1/messages", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def _stream_body(sim: Sim) -> dict[str, object]:
    return {
        "model": sim.model,
        "prompt": "fault",
        "max_tokens": 50,
        "ignore_eos": True,
        "stream": True,
    }


def test_faults(fast_sim: Sim, small_kv_sim: Sim) -> None:
    url = fast_sim.url + "/v1/completions"
    r = httpx.post(url, json=_stream_body(fast_sim), headers={"X-Sim-Fault": "http500"})
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", url, json=_stream_body(fast_sim), headers={"X-Sim-Fault": "drop-mid-stream"}
        ) as s,
    ):
        lines.extend(s.iter_lines())
    r = httpx.post(url, json=_stream_body(fast_sim), headers={"X-Sim-Fault": "garbage-sse"})
    assert r.status_code == 200
    assert "data: {this is not json" in r.text and r.text.endswith("data: [DONE]\n\n")
    got: list[str] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST",
            url,
            json=_stream_body(fast_sim),
            headers={"X-Sim-Fault": "stall"},
            timeout=httpx.Timeout(5.0, read=1.0),
        ) as s,
    ):
        got.extend(line for line in s.iter_lines() if line.startswith("data: {"))
    assert len(got) == 1  # the first token, then nothing
    plain = {**_stream_body(fast_sim), "stream": False}
    r = httpx.post(url, json=plain, headers={"X-Sim-Fault": "garbage-sse"})
    assert r.status_code == 200 and r.text.startswith('{"this is": not json')
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=plain, headers={"X-Sim-Fault": "drop-mid-stream"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=plain, headers={"X-Sim-Fault": "stall"}, timeout=1.0)
    r = httpx.post(url, json=plain, headers={"X-Sim-Fault": "nonsense"})
    assert r.status_code == 400 and "X-Sim-Fault" in r.json()["error"]["message"]
    # without --allow-faults the header is ignored
    r = httpx.post(
        small_kv_sim.url + "/v1/completions",
        json=_stream_body(small_kv_sim),
        headers={"X-Sim-Fault": "http500"},
    )
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")


def test_timing_log_rows(tmp_path: Path) -> None:
    log = tmp_path / "t.arrow"
    usages: list[CompletionUsage] = []
    with running_sim("--preset", "fast", "--timing-log", str(log)) as sim:
        client = openai.OpenAI(
            base_url=sim.url + "/v1",
            api_key="unused",
            max_retries=0,
            default_headers={"X-Session-ID": "sess-1"},
        )
        for i, stream in enumerate([False, True, False]):
            prompt, eos = list(range(40 + i)), {"ignore_eos": True}
            usage: CompletionUsage | None
            if stream:
                chunks = client.completions.create(
                    model=sim.model,
                    prompt=prompt,
                    max_tokens=5,
                    extra_body=eos,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                usage = next(c.usage for c in chunks if c.usage)
            else:
                one = client.completions.create(
                    model=sim.model, prompt=prompt, max_tokens=5, extra_body=eos
                )
                usage = one.usage
            assert usage is not None
            usages.append(usage)
        httpx.post(sim.url + "/v1/completions", json={"model": "bad", "prompt": "x"})
    table = ipc.open_file(str(log)).read_all()
    assert table.schema.equals(tl.SCHEMA)
    rows = table.to_pylist()
    assert len(rows) == 4
    for row, usage in zip(rows[:3], usages, strict=True):
        assert row[tl.SESSION_ID] == "sess-1" and row[tl.STATUS] == 200
        assert row[tl.ARRIVAL_NS] <= row[tl.FIRST_TOKEN_NS] <= row[tl.END_NS]
        assert row[tl.ARRIVAL_WALL_NS] <= row[tl.FIRST_TOKEN_WALL_NS] <= row[tl.END_WALL_NS]
        assert row[tl.PROMPT_TOKENS] == usage.prompt_tokens
        assert row[tl.COMPLETION_TOKENS] == usage.completion_tokens == 5
        assert row[tl.ENDPOINT] == "/v1/completions"
    assert [r[tl.STREAM] for r in rows[:3]] == [False, True, False]
    assert rows[1][tl.CACHED_TOKENS] == 32  # 41-token prompt shares 2 blocks with the first
    assert rows[3][tl.STATUS] == 404 and rows[3][tl.FIRST_TOKEN_NS] is None


def _metric(sim: Sim, name: str) -> float:
    for line in httpx.get(sim.url + "/metrics").text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(name)


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_aborts_the_request(stream: bool) -> None:
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        body = {"model": sim.model, "prompt": "long", "max_tokens": 2000, "ignore_eos": True}
        url = sim.url + "/v1/completions"
        if stream:
            with httpx.stream("POST", url, json={**body, "stream": True}) as s:
                for line in s.iter_lines():
                    if line.startswith("data: {"):
                        break  # leaving the block closes the connection mid-stream
        else:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url, json=body, timeout=httpx.Timeout(5.0, read=0.3))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _metric(sim, "vllm:num_requests_running") > 0:
            time.sleep(0.05)
        assert _metric(sim, "vllm:num_requests_running") == 0
        assert _metric(sim, "agentload_sim:aborted_requests_total") == 1
        assert _metric(sim, "vllm:kv_cache_usage_perc") == 0
