"""The addon as a mitmdump script, and `agentload capture --mode regular` (HTTP proxy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import running_capture, running_mitmdump
from tests.capture.tracehelper import decoded_bytes, wait_rows
from tests.simhelper import Sim, running_sim

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--token-interval-ms", "2") as s:
        yield s


def _chat(sim: Sim, text: str) -> dict[str, object]:
    return {
        "model": sim.model,
        "stream": True,
        "max_tokens": 5,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }


def test_mitmdump_script(sim: Sim, tmp_path: Path) -> None:
    script = str(ROOT / "capture" / "addon_entry.py")
    opts = ["-s", script, "--set", f"agentload_out={tmp_path}", "--set", "agentload_workload=w1"]
    with running_mitmdump(sim.url, *opts) as proxy:
        r = httpx.post(proxy.url + "/v1/chat/completions", json=_chat(sim, "via script"))
        assert r.status_code == 200
        ignored = httpx.get(proxy.url + "/v1/models")  # other traffic: passed, not recorded
        assert ignored.status_code == httpx.get(sim.url + "/v1/models").status_code
        frame = wait_rows(tmp_path, 1)
    assert frame.height == 1
    decoded = b"".join(decoded_bytes(p) for p in tmp_path.glob("*.arrow"))
    assert b'"role":"assistant"' in decoded  # the decoded search does see content
    # stream_large_bodies=1 streams the request body too: the addon still records it
    assert b"via script" in decoded and frame[S.ERROR].to_list() == [None]
    usage = [json.loads(line[6:]) for line in r.text.splitlines() if '"usage":{' in line]
    assert frame[S.WORKLOAD].to_list() == ["w1"]
    assert frame[S.COMPLETION_TOKENS].to_list() == [usage[-1]["usage"]["completion_tokens"]]


def test_regular_proxy_mode_with_redacted_content(sim: Sim, tmp_path: Path) -> None:
    regular = ("--mode", "regular", "--record-host", "127.0.0.1")
    with running_capture(sim.url, tmp_path, *regular, "--redact-content") as proxy:
        with httpx.Client(proxy=proxy.url) as client:
            r = client.post(sim.url + "/v1/chat/completions", json=_chat(sim, "via proxy"))
        assert r.status_code == 200 and b"data:" in r.content
        frame = wait_rows(tmp_path, 1)
    assert frame[S.ENDPOINT].to_list() == ["/v1/chat/completions"]
    assert frame[S.PARTIAL].to_list() == [False]
    parts = frame[S.NEW_CONTENT][0].to_list()
    assert len(parts) == 3  # envelope, one message, response: ids and sizes only
    assert all(p[S.CONTENT_DATA] is None and p[S.CONTENT_SIZE] > 0 for p in parts)
    decoded = b"".join(decoded_bytes(p) for p in tmp_path.glob("*.arrow"))
    assert b"via proxy" not in decoded and b"chat.completion" not in decoded
    assert b"/v1/chat/completions" in decoded  # the search does see what is stored
