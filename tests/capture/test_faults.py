"""Acceptance: faults. The client sees through the proxy what it sees directly; the trace
records them (partial calls, errors); a SIGKILLed proxy leaves every complete batch
readable; no secret appears in any output file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from agentload.traceformat.io import read
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.tracehelper import SECRET, decoded_bytes, load, rows_for, session_of
from tests.simhelper import Sim, running_sim

pytestmark = pytest.mark.slow

HEADERS = {"Authorization": f"Bearer {SECRET}", "x-api-key": SECRET, "Cookie": f"s={SECRET}"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--token-interval-ms", "5", "--allow-faults") as s:
        yield s


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace")


@pytest.fixture(scope="module")
def proxy(sim: Sim, out_dir: Path) -> Iterator[Proxy]:
    with running_capture(sim.url, out_dir) as p:
        yield p


# Response ids count up per sim request and `created` is the wall-clock second: masked, so
# that the direct and the proxied call (two requests to one sim) compare byte for byte.
_VOLATILE = re.compile(rb'"(id|created)": ?("[a-z]+-\d+"|\d+)')


def _outcome(
    base: str, body: dict[str, object], headers: dict[str, str], read_s: float = 3.0
) -> tuple[object, ...]:
    """What a client observes: status, the bytes it got, and how the read ended."""
    got = bytearray()
    status = None
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0, read=read_s)) as client,
            client.stream("POST", base + "/v1/chat/completions", json=body, headers=headers) as r,
        ):
            status = r.status_code
            for piece in r.iter_raw():
                got += piece
        end = "ok"
    except httpx.HTTPError as exc:
        end = type(exc).__name__
    return status, _VOLATILE.sub(b"", bytes(got)), end


def _body(sim: Sim, text: str, stream: bool = True) -> dict[str, object]:
    return {
        "model": sim.model,
        "stream": stream,
        "max_tokens": 40,
        "messages": [{"role": "user", "content": text}],
    }


@pytest.mark.parametrize(
    ("fault", "partial", "error_has"),
    [
        ("drop-mid-stream", True, ""),
        ("garbage-sse", False, "malformed SSE"),
        ("http500", False, ""),
        ("stall", True, ""),  # the client gives up waiting: a partial call
    ],
)
def test_upstream_faults_pass_through_and_are_recorded(
    sim: Sim, proxy: Proxy, fault: str, partial: bool, error_has: str
) -> None:
    headers = HEADERS | {"X-Sim-Fault": fault, "X-Session-ID": f"fault-{fault}"}
    body = _body(sim, f"fault {fault}")
    direct = _outcome(sim.url, body, headers, read_s=1.0)
    proxied = _outcome(proxy.url, body, headers, read_s=1.0)
    assert proxied == direct
    row = rows_for(proxy.traces, session_of(f"fault-{fault}"), 1).row(0, named=True)
    assert row[S.PARTIAL] is partial
    assert row[S.ERROR] is not None and error_has in row[S.ERROR]
    assert row[S.HTTP_STATUS] == direct[0]


def test_client_disconnect_mid_stream_is_a_partial_call(sim: Sim, proxy: Proxy) -> None:
    body = _body(sim, "long one") | {"max_tokens": 200}
    with (
        httpx.Client() as client,
        client.stream(
            "POST",
            proxy.url + "/v1/chat/completions",
            json=body,
            headers=HEADERS | {"X-Session-ID": "abort"},
        ) as r,
    ):
        for _ in zip(range(3), r.iter_raw(), strict=False):
            pass
    row = rows_for(proxy.traces, session_of("abort"), 1).row(0, named=True)
    assert row[S.PARTIAL] is True and row[S.ERROR]
    assert 1 <= len(row[S.CHUNK_OFFSETS_NS]) < 200


def test_ten_megabyte_request(sim: Sim, proxy: Proxy) -> None:
    big = "word " * (2 * 1024 * 1024)  # 10 MiB
    body = _body(sim, big, stream=False) | {"max_tokens": 4}
    headers = HEADERS | {"X-Session-ID": "big"}
    direct = _outcome(sim.url, body, headers, read_s=60)
    proxied = _outcome(proxy.url, body, headers, read_s=60)
    assert proxied == direct
    row = rows_for(proxy.traces, session_of("big"), 1).row(0, named=True)
    assert row[S.HTTP_STATUS] == direct[0]
    sizes = {c["id"]: c["size"] for c in row[S.NEW_CONTENT]}
    assert sizes[row[S.REQUEST_CONTENT_IDS][1]] > 10 * 1024 * 1024


def test_sigkill_leaves_complete_batches(sim: Sim, tmp_path: Path) -> None:
    with running_capture(sim.url, tmp_path) as proxy:
        with httpx.Client() as client:
            for i in range(5):
                r = client.post(proxy.url + "/v1/chat/completions", json=_body(sim, f"k{i}", False))
                assert r.status_code == 200
            time.sleep(1.6)  # flushed by the 1 s timer
            for i in range(3):
                client.post(proxy.url + "/v1/chat/completions", json=_body(sim, f"x{i}", False))
        proxy.kill()
    files = list(tmp_path.glob("*.arrow"))
    assert len(files) == 1
    loaded = read(files[0])
    assert loaded.frame.height >= 5
    assert loaded.truncated


def test_no_secret_in_any_output_file(sim: Sim, proxy: Proxy, out_dir: Path) -> None:
    # the secret also travels inside the body: a credential field and pasted into a prompt
    body = _body(sim, f"my key is {SECRET} ok", stream=False) | {"api_key": SECRET}
    httpx.post(
        proxy.url + "/v1/chat/completions", json=body, headers=HEADERS | {"X-Session-ID": "sec"}
    )
    rows_for(out_dir, session_of("sec"), 1)
    files = list(out_dir.glob("*.arrow"))
    assert files
    decoded = b"".join(decoded_bytes(path) for path in files)
    assert b"my key is [redacted] ok" in decoded  # the search sees the stored prompt
    assert SECRET.encode() not in decoded and b"sk-agentload" not in decoded
    frame = load(out_dir)
    text = frame.write_json()
    assert frame.height >= 5
    assert SECRET not in text and "sk-agentload" not in text
