"""A clean stop (adversarial catalogue H9): SIGTERM lets calls in flight finish within the
grace period, records the rest as partial rows, prints no traceback, and the final count
line is true."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import running_capture
from tests.capture.tracehelper import load
from tests.simhelper import running_sim

pytestmark = pytest.mark.slow


def _stream(url: str, tokens: int, got: list[int]) -> None:
    body = {
        "model": "agentload-sim",
        "stream": True,
        "max_tokens": tokens,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    try:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as r:
            for chunk in r.iter_bytes():
                got.append(len(chunk))
    except httpx.HTTPError:
        pass  # the long call is cut when the proxy stops


def test_H9_sigterm_finishes_short_calls_and_records_long_ones_as_partial(tmp_path: Path) -> None:
    with (
        running_sim("--preset", "fast", "--token-interval-ms", "20") as sim,
        running_capture(sim.url, tmp_path, "--stop-grace", "2.5") as proxy,
    ):
        got: dict[int, list[int]] = {40: [], 1000: []}  # ~0.8 s and ~20 s of tokens
        threads = [threading.Thread(target=_stream, args=(proxy.url, n, got[n])) for n in got]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while not (got[40] and got[1000]) and time.monotonic() < deadline:
            time.sleep(0.02)  # both calls in flight before the signal
        assert got[40] and got[1000], "streams started"
        proxy.proc.send_signal(signal.SIGTERM)
        proxy.proc.wait(20)
        for t in threads:
            t.join(30)
    output = "".join(proxy.output)
    frame = load(tmp_path).sort(S.COMPLETION_TOKENS, nulls_last=True)
    assert frame.height == 2, output
    short, long = frame.sort(S.T_RESPONSE_END_NS).rows(named=True)
    assert short[S.PARTIAL] is False and short[S.ERROR] is None and short[S.FINISH_REASON]
    assert long[S.PARTIAL] is True and "grace period" in long[S.ERROR]
    assert "2 calls recorded, 0 dropped; 1 unfinished at stop, recorded as partial" in output
    assert "Traceback" not in output and "CancelledError" not in output, output
