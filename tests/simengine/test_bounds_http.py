"""H5 regression: lengths are checked against --max-model-len before the sim allocates an
output (or tokenizes a prompt), on every API; the sim answers 400 in the API's error shape,
stays up and stays small."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.simhelper import Sim, running_sim

HUGE = 1_000_000_000_000  # a 10^12 token count (the catalogue's H5 repro)
RSS_LIMIT_KB = 600 * 1024  # the sim idles near 100 MB; one 10^12 output list is ~8 TB

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def sim() -> Any:
    with running_sim("--preset", "fast", "--max-model-len", "4096") as s:
        yield s


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _openai_400(r: httpx.Response, param: str) -> str:
    assert r.status_code == 400, r.text[:300]
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error" and err["param"] == param
    return str(err["code"])


def _post(sim: Sim, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(sim.url + path, json={"model": sim.model, **body}, timeout=30)


def test_h5_huge_max_tokens_is_400_on_every_api_and_the_sim_stays_small(sim: Sim) -> None:
    """H5: max_tokens 10^12 (ignore_eos) once OOM-killed the sim; now 400 before allocating."""
    r = _post(sim, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": HUGE, "ignore_eos": True})
    assert _openai_400(r, "max_tokens") == "context_length_exceeded"
    r = _post(sim, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": HUGE})
    assert _openai_400(r, "max_tokens") == "context_length_exceeded"
    chat = {"messages": MESSAGES, "max_completion_tokens": HUGE, "ignore_eos": True}
    assert _openai_400(_post(sim, "/v1/chat/completions", chat), "max_tokens")
    r = _post(sim, "/v1/responses", {"input": "hello", "max_output_tokens": HUGE})
    assert _openai_400(r, "max_tokens") == "context_length_exceeded"
    r = _post(sim, "/v1/messages", {"messages": MESSAGES, "max_tokens": HUGE})
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "maximum context length is 4096" in body["error"]["message"]
    _assert_alive_and_small(sim)


def test_h5_huge_min_tokens_and_prompts_are_400(sim: Sim) -> None:
    """H5: min_tokens and prompt sizes are bounded the same way (before any work)."""
    r = _post(sim, "/v1/completions", {"prompt": [1, 2], "max_tokens": 4, "min_tokens": HUGE})
    _openai_400(r, "min_tokens")
    too_long_text = "x" * (4096 * 6 + 1)  # more characters than 4096 tokens can hold
    r = _post(sim, "/v1/completions", {"prompt": too_long_text, "max_tokens": 4})
    assert _openai_400(r, "prompt") == "context_length_exceeded"
    chat = {"messages": [{"role": "user", "content": too_long_text}], "max_tokens": 4}
    assert _openai_400(_post(sim, "/v1/chat/completions", chat), "prompt")
    r = _post(sim, "/v1/completions", {"prompt": [1] * 5000, "max_tokens": 4})
    assert _openai_400(r, "prompt") == "context_length_exceeded"
    # Within the limits the same shapes are served: the checks are not too strict.
    r = _post(sim, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 4093, "ignore_eos": True})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4093
    r = _post(sim, "/v1/completions", {"prompt": "x" * 4000, "max_tokens": 4, "min_tokens": 4})
    assert r.status_code == 200, r.text[:300]
    _assert_alive_and_small(sim)


def _assert_alive_and_small(sim: Sim) -> None:
    r = _post(sim, "/v1/completions", {"prompt": [5, 6, 7], "max_tokens": 3, "ignore_eos": True})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
    assert _rss_kb(sim.pid) < RSS_LIMIT_KB


def test_request_body_bounded_before_it_is_read_whole(sim: Sim) -> None:
    """The sim read and parsed bodies of up to 256 MB before any length check; now a body
    over 16 bytes per token of --max-model-len plus 1 MiB is refused while being read (413,
    in the API's error shape), and a body just under it is parsed (and judged by length)."""
    limit = (1 << 20) + 16 * 4096
    filler = {"prompt": "x", "max_tokens": 1, "pad": "p" * limit}
    r = _post(sim, "/v1/completions", filler)
    assert r.status_code == 413, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == "request_too_large" and f"over {limit:,} bytes" in err["message"]
    r = _post(sim, "/v1/messages", {**filler, "messages": MESSAGES})
    assert r.status_code == 413 and r.json()["type"] == "error", r.text[:300]
    under = {"prompt": [1, 2, 3], "max_tokens": 2, "pad": "p" * (limit - 200)}
    assert _post(sim, "/v1/completions", under).status_code == 200
    _assert_alive_and_small(sim)


@pytest.mark.parametrize("length", ["10000001", "1099511627776"])
def test_max_model_len_bounded_by_the_limits_table(length: str) -> None:
    """--max-model-len was unbounded: a value beyond limits.MAX_TOKENS is a one-line error."""
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from agentload.cli import main; main()", "sim", "--port", "0"]
    r = subprocess.run(
        [*cmd, "--max-model-len", length], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2, r.stderr
    expected = "error: sim option max_model_len: expected an integer in [1, 10,000,000], got "
    assert r.stderr.strip() == expected + f"{int(length):,}"
