"""The small endpoints: /tokenize with /detokenize, /health, /v1/models, and the waiting
gauge of /metrics while requests queue for admission."""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import openai

from agentload.simengine import tokenizer
from agentload.simengine.config import PRESETS
from tests.simhelper import Sim, running_sim


def tokenize(sim: Sim, text: str) -> list[int]:
    r = httpx.post(sim.url + "/tokenize", json={"model": sim.model, "prompt": text})
    r.raise_for_status()
    return list(r.json()["tokens"])


def detokenize(sim: Sim, tokens: list[int]) -> str:
    r = httpx.post(sim.url + "/detokenize", json={"model": sim.model, "tokens": tokens})
    r.raise_for_status()
    body = r.json()
    assert set(body) == {"prompt"}
    return str(body["prompt"])


def test_detokenize_round_trips_with_tokenize(fast_sim: Sim) -> None:
    # canonical pieces (space + 1-3 letters, space + 1-3 digits) give the text back exactly
    canonical = " the cat sat on a mat at 10 to 9 for Bob"
    ids = tokenize(fast_sim, canonical)
    assert len(ids) == 12
    assert detokenize(fast_sim, ids) == canonical
    # any text: decoding gives canonical pieces, which re-tokenize to the same ids
    text = 'Refactor `parse_config()` in src/app.py: {"retries": 3, "timeout_s": 12.5} — done!'
    ids = tokenize(fast_sim, text)
    decoded = detokenize(fast_sim, ids)
    assert decoded != text
    assert tokenize(fast_sim, decoded) == ids
    # ids past the vocabulary wrap modulo its size
    assert detokenize(fast_sim, [5, tokenizer.VOCAB_SIZE + 5]) == detokenize(fast_sim, [5, 5])
    assert detokenize(fast_sim, []) == ""


def test_detokenize_rejects_bad_tokens(fast_sim: Sim) -> None:
    for tokens in ([-1], ["a"], "1 2", None):
        r = httpx.post(
            fast_sim.url + "/detokenize", json={"model": fast_sim.model, "tokens": tokens}
        )
        assert r.status_code == 400, tokens
        assert r.json()["error"]["param"] == "tokens"


def test_health(fast_sim: Sim) -> None:
    r = httpx.get(fast_sim.url + "/health")
    assert r.status_code == 200


def test_models_list_through_the_openai_sdk(fast_sim: Sim) -> None:
    client = openai.OpenAI(base_url=fast_sim.url + "/v1", api_key="unused", max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == [fast_sim.model]
    model = models.data[0]
    assert model.object == "model" and model.owned_by == "agentload"
    raw = httpx.get(fast_sim.url + "/v1/models").json()
    assert raw["object"] == "list" and len(raw["data"]) == 1
    assert raw["data"][0]["max_model_len"] == PRESETS["fast"].max_model_len


def _gauges(sim: Sim) -> tuple[float, float]:
    """(vllm:num_requests_running, vllm:num_requests_waiting) scraped over HTTP."""
    text = httpx.get(sim.url + "/metrics").text
    values = []
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
        m = re.search(rf"^{re.escape(name)}\{{[^}}]*\}} (\S+)$", text, re.M)
        assert m, name
        values.append(float(m.group(1)))
    return values[0], values[1]


def _poll(sim: Sim, want: tuple[float, float], timeout_s: float = 20.0) -> tuple[float, float]:
    deadline = time.monotonic() + timeout_s
    got = _gauges(sim)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = _gauges(sim)
    return got


def test_metrics_count_waiting_requests() -> None:
    # one running sequence at a time, 10 ms per step: a 5,000-token request runs for 50 s,
    # so the others wait for admission until their clients leave
    with running_sim("--preset", "fast", "--max-num-seqs", "1", "--token-interval-ms", "10") as sim:
        host, port = sim.url.removeprefix("http://").split(":")
        body = json.dumps(
            {"model": sim.model, "prompt": "wait", "max_tokens": 5000, "ignore_eos": True}
        ).encode()
        request = (
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        clients = []
        try:
            for _ in range(3):
                s = socket.create_connection((host, int(port)))
                s.sendall(request)
                clients.append(s)
            assert _poll(sim, (1, 2)) == (1, 2)  # one runs, two wait
        finally:
            for s in clients:
                s.close()
        assert _poll(sim, (0, 0)) == (0, 0)  # leaving clients abort, waiting ones too
