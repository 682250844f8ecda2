"""Hardening through a real `agentload capture` (adversarial catalogue H6, H8, H10): keys in
the path, model and workload header; mitmproxy's messages quoting upstream bytes under
--redact-content; an upstream reset or a failed connect before any response."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import free_port, running_capture
from tests.capture.rawupstream import serving
from tests.capture.tracehelper import decoded_bytes, wait_rows
from tests.simhelper import running_sim

pytestmark = pytest.mark.slow

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _everything(out_dir: Path, output: list[str]) -> bytes:
    """Every output: the decoded trace files and the proxy's terminal output."""
    files = b"".join(decoded_bytes(p) for p in sorted(out_dir.glob("*.arrow")))
    return files + "".join(output).encode()


def test_H6_keys_in_path_model_and_workload_header_never_stored(tmp_path: Path) -> None:
    path_key = "sk-proj-CANARYPATHKEY0123456789abcdef"
    model_key = "sk-proj-CANARYMODELKEY0123456789abcdef"
    wl = "Bearer CANARYWLBEARER0123456789abcdef"
    with (
        running_sim("--preset", "fast") as sim,
        running_capture(sim.url, tmp_path, "--redact-content") as proxy,
    ):
        body = BODY | {"model": model_key, "max_tokens": 4}
        headers = {"X-Agentload-Workload": wl}
        httpx.post(f"{proxy.url}/{path_key}/v1/chat/completions", json=body, headers=headers)
        frame = wait_rows(tmp_path, 1)
    assert frame[S.ENDPOINT][0] == "/[redacted]/v1/chat/completions"
    assert frame[S.MODEL][0] == "[redacted]" and frame[S.WORKLOAD][0] == "[redacted]"
    everything = _everything(tmp_path, proxy.output)
    assert b"reverse:" in everything  # positive control: the metadata was searched
    for canary in (b"CANARYPATHKEY", b"CANARYMODELKEY", b"CANARYWLBEARER"):
        assert canary not in everything


@pytest.mark.parametrize("mode", ["badchunk", "badheader", "badstatus"])
def test_H8_redact_content_keeps_no_upstream_bytes_in_errors(tmp_path: Path, mode: str) -> None:
    with serving(mode) as upstream:
        with pytest.raises(httpx.TransportError):  # direct: h11 refuses the reply too
            httpx.post(upstream + "/v1/chat/completions", json=BODY, timeout=10)
        with running_capture(upstream, tmp_path, "--redact-content") as proxy:
            with pytest.raises(httpx.TransportError):
                httpx.post(proxy.url + "/v1/chat/completions", json=BODY, timeout=10)
            frame = wait_rows(tmp_path, 1)
    error = frame[S.ERROR][0]
    assert isinstance(error, str) and "[redacted, " in error, error
    assert b"CANARY" not in _everything(tmp_path, proxy.output)


def test_H10_upstream_reset_before_the_response_stays_a_closed_connection(tmp_path: Path) -> None:
    """Direct, the client's connection is reset; through capture it is closed without a
    response (mitmproxy cannot send an RST, docs/capture.md), not answered with a 502; the
    call is recorded."""
    with serving("reset") as upstream:
        with pytest.raises(httpx.TransportError):  # positive control: direct
            httpx.post(upstream + "/v1/chat/completions", json=BODY, timeout=10)
        with running_capture(upstream, tmp_path) as proxy:
            with pytest.raises(httpx.TransportError):
                httpx.post(proxy.url + "/v1/chat/completions", json=BODY, timeout=10)
            frame = wait_rows(tmp_path, 1)
    assert frame[S.PARTIAL][0] is True and frame[S.HTTP_STATUS][0] is None
    assert frame[S.ERROR][0], frame


def test_H10_failed_connect_is_recorded_and_not_a_502(tmp_path: Path) -> None:
    upstream = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(httpx.ConnectError):  # positive control: direct
        httpx.post(upstream + "/v1/chat/completions", json=BODY, timeout=10)
    with running_capture(upstream, tmp_path) as proxy:
        with pytest.raises(httpx.TransportError):
            httpx.post(proxy.url + "/v1/chat/completions", json=BODY, timeout=10)
        frame = wait_rows(tmp_path, 1)
    assert frame[S.PARTIAL][0] is True and frame[S.HTTP_STATUS][0] is None
    assert (
        "refused" in str(frame[S.ERROR][0]).lower() or "connect" in str(frame[S.ERROR][0]).lower()
    )
