"""Engine behaviour seen by clients: prefix cache, eviction, lengths, cost-model timing."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import statistics
import time

import aiohttp
import httpx
import openai
import pytest

from agentload.simengine import costmodel
from agentload.simengine.config import PRESETS, CostModel
from tests.simhelper import Sim, running_sim
from tests.timing import Measured, Noise, within_noise


def complete(sim: Sim, prompt: list[int], max_tokens: int = 4) -> dict[str, int]:
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0)
    r = client.completions.create(model=sim.model, prompt=prompt, max_tokens=max_tokens)
    assert r.usage is not None and r.usage.prompt_tokens_details is not None
    return {
        "prompt": r.usage.prompt_tokens,
        "cached": r.usage.prompt_tokens_details.cached_tokens or 0,
    }


def metric(sim: Sim, name: str) -> float:
    text = httpx.get(sim.url + "/metrics").text
    m = re.search(rf"^{re.escape(name)}\{{[^}}]*\}} (\S+)$", text, re.M)
    assert m, name
    return float(m.group(1))


def test_shared_prefix_hits_full_blocks(fast_sim: Sim) -> None:
    prefix = [7000 + i for i in range(1000)]
    first = complete(fast_sim, [*prefix, *range(1, 51)])
    second = complete(fast_sim, [*prefix, *range(2, 52)])
    assert first["cached"] == 0
    assert second["cached"] == 1000 // 16 * 16  # the full blocks of the shared prefix
    again = complete(fast_sim, [*prefix, *range(2, 52)])
    assert again["cached"] == (1050 - 1) // 16 * 16  # identical prompt: all but the last token


def test_eviction_lowers_hits(small_kv_sim: Sim) -> None:
    a = [100 + i for i in range(512)]
    assert complete(small_kv_sim, a)["cached"] == 0
    hits0 = metric(small_kv_sim, "vllm:prefix_cache_hits_total")
    assert complete(small_kv_sim, a)["cached"] == 511 // 16 * 16
    hits1 = metric(small_kv_sim, "vllm:prefix_cache_hits_total")
    assert hits1 - hits0 == 496
    for base in (2000, 3000, 4000):  # three other 512-token prompts overflow 1,024 KV tokens
        assert complete(small_kv_sim, [base + i for i in range(512)])["cached"] == 0
    assert metric(small_kv_sim, "agentload_sim:kv_evictions_total") > 0
    assert complete(small_kv_sim, a)["cached"] < 496
    hits2 = metric(small_kv_sim, "vllm:prefix_cache_hits_total")
    assert hits2 - hits1 < hits1 - hits0  # the hit count falls
    queries = metric(small_kv_sim, "vllm:prefix_cache_queries_total")
    assert queries >= 6 * 512


def test_ignore_eos_gives_max_tokens(fast_sim: Sim) -> None:
    client = openai.OpenAI(base_url=fast_sim.url + "/v1", api_key="unused", max_retries=0)
    for n in (1, 17, 300):
        r = client.completions.create(
            model=fast_sim.model, prompt="count", max_tokens=n, extra_body={"ignore_eos": True}
        )
        assert r.usage is not None and r.usage.completion_tokens == n


def _stream_times(url: str, body: dict[str, object]) -> tuple[float, list[float]]:
    """(send time, arrival time of each content event) over a raw socket: minimal client cost."""
    host, port = url.removeprefix("http://").split(":")
    raw = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as s:
        head = (
            f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        )
        request = (head + f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw
        times: list[float] = []
        buf = b""
        t0 = time.perf_counter()
        s.sendall(request)
        while b"[DONE]" not in buf:
            data = s.recv(1 << 16)
            assert data, "connection closed"
            now = time.perf_counter()
            times += [now] * data.count(b'"finish_reason":null')
            buf += data
    return t0, times


COST = CostModel(
    step_overhead_us=1500,
    prefill_us_per_token=100,
    prefill_attn_ns_per_pair=2,
    decode_base_us=5000,
    decode_us_per_seq=25,
    decode_ns_per_ctx_token=45,
)


def _cold_stream() -> tuple[float, list[float]]:
    """(send time, token arrival times) of 50 tokens after a cold 2000-token prompt."""
    args = [f"--{k.replace('_', '-')}={getattr(COST, k)}" for k in CostModel.__slots__]
    with running_sim("--preset", "default", "--max-num-batched-tokens", "512", *args) as sim:
        prompt = [20000 + i for i in range(2000)]
        body = {
            "model": sim.model,
            "prompt": prompt,
            "max_tokens": 50,
            "ignore_eos": True,
            "stream": True,
        }
        return _stream_times(sim.url, body)


@pytest.mark.slow
def test_cold_ttft_and_itl_follow_cost_model() -> None:
    expected_ttft = costmodel.cold_ttft_seconds(COST, 2000, 512)
    assert expected_ttft == pytest.approx(0.2100, abs=0.002)  # 4 chunks: 4*1.5 + 200 + 4 ms
    mean_ctx = 2000 + 25
    expected_itl = costmodel.step_seconds(COST, 0, 0, 1, mean_ctx)
    measured = Measured(_cold_stream)
    t0, times = measured.first
    # Never faster than the model (10 %); a loaded machine can only make steps later, so
    # the upper bounds are judged beyond the run-queue wait (perf_counter is the monotonic
    # clock the probe reads; tests/timing.py).
    assert times[0] - t0 >= expected_ttft * 0.9
    assert (times[-1] - times[0]) / (len(times) - 1) >= expected_itl * 0.9

    def ttft_late_ms(run: tuple[float, list[float]], noise: Noise) -> float:
        return noise.late_ms(int((run[0] + expected_ttft) * 1e9), int(run[1][0] * 1e9))

    def itl_late_ms(run: tuple[float, list[float]], noise: Noise) -> float:
        first, last, gaps = run[1][0], run[1][-1], len(run[1]) - 1
        return noise.late_ms(int((first + gaps * expected_itl) * 1e9), int(last * 1e9)) / gaps

    within_noise(measured, ttft_late_ms, expected_ttft * 0.1 * 1e3, "TTFT beyond the model")
    within_noise(measured, itl_late_ms, expected_itl * 0.1 * 1e3, "ITL beyond the model")


def _stream_in_a_batch_of_32() -> tuple[float, list[float]]:
    """(requests running in the sim during the stream, arrival times of its 200 tokens)."""
    with running_sim("--preset", "fast", "--token-interval-ms", "2") as sim:
        host, port = sim.url.removeprefix("http://").split(":")
        background = []
        for i in range(32):  # a batch of 32 others, never read by this client
            s = socket.create_connection((host, int(port)))
            raw = json.dumps(
                {"model": sim.model, "prompt": [i + 1], "max_tokens": 500, "ignore_eos": True}
            ).encode()
            s.sendall(
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/json\r\nContent-Length: %d\r\n\r\n" % len(raw) + raw
            )
            background.append(s)
        time.sleep(0.1)
        body = {
            "model": sim.model,
            "prompt": [9, 9, 9],
            "max_tokens": 200,
            "ignore_eos": True,
            "stream": True,
        }
        _, times = _stream_times(sim.url, body)
        running = metric(sim, "vllm:num_requests_running")
        for s in background:
            s.close()
    return running, times


def _late_per_token_ms(run: tuple[float, list[float]], noise: Noise) -> float:
    """How much later than 2 ms apart the 200 tokens came, per gap, beyond the run-queue
    wait of the stream's window (perf_counter is the monotonic clock the probe reads)."""
    times = run[1]
    due = int(times[0] * 1e9) + 199 * 2_000_000
    return noise.late_ms(due, int(times[-1] * 1e9)) / 199


@pytest.mark.slow
def test_token_spacing_2ms_at_any_batch_size() -> None:
    measured = Measured(_stream_in_a_batch_of_32)
    running, times = measured.first
    assert running == 32  # the stream ran inside a batch
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 199
    assert (times[-1] - times[0]) / len(gaps) >= 0.002 * 0.95  # never faster than asked
    within_noise(measured, _late_per_token_ms, 0.1, "mean token gap − 2 ms (5 %)", k=0)

    def median_off_ms(run: tuple[float, list[float]], _n: Noise) -> float:
        return abs(statistics.median(b - a for a, b in itertools.pairwise(run[1])) - 0.002) * 1e3

    # a median is robust to stalls: a busy machine earns a retry, not a wider bound
    within_noise(measured, median_off_ms, 0.5, "|median token gap − 2 ms|", k=0)


async def _one_stream(session: aiohttp.ClientSession, url: str, model: str) -> int:
    body = {"model": model, "prompt": "go", "max_tokens": 16, "ignore_eos": True, "stream": True}
    async with session.post(url + "/v1/completions", json=body) as r:
        assert r.status == 200
        data = await r.read()
    assert data.endswith(b"data: [DONE]\n\n")
    return data.count(b'"finish_reason":null')


@pytest.mark.slow
async def test_1000_concurrent_streams(fast_sim: Sim) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        counts = await asyncio.gather(
            *(_one_stream(session, fast_sim.url, fast_sim.model) for _ in range(1000))
        )
    assert counts == [16] * 1000


def test_default_preset_is_consistent() -> None:
    cfg = PRESETS["default"]
    cfg.validate()
    # an 8B model on one H100: ~7 ms per decode step at batch 1 with a short context
    assert 0.005 < costmodel.step_seconds(cfg.cost, 0, 0, 1, 1000) < 0.010
