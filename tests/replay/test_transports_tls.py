"""https targets on every transport, through a local TLS gateway in front of the sim that
compresses responses whenever the client accepts it (as a gateway with gzip on does):
each transport must verify the certificate (trusted through SSL_CERT_FILE), never ask for
compression on the requests it times, and read every stream to the end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim
from tests.tlsfront import Front, running_tls_handler
from tests.tlsutil import TestCA, make_ca

CLI = [sys.executable, "-c", "from agentload.cli import main; main()", "replay"]
_HOP = frozenset({"host", "connection", "transfer-encoding", "content-length", "accept-encoding"})


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast") as sim:
        yield sim


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tlsprofile") / "p.arrow"
    write_profile(path, Shape(sessions=2, calls=2, think_s=(0.01, 0.01), child=False))
    return path


class Gateway:
    """Forwards to the sim; compresses a response when the request accepts gzip/deflate.
    `seen` holds (path, Accept-Encoding, session id or None) of every request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        encoding = request.headers.get("Accept-Encoding", "")
        self.seen.append((request.path, encoding, request.headers.get("X-Session-ID")))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = self.upstream + request.rel_url.raw_path_qs
        body = await request.read()
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(request.method, url, headers=headers, data=body) as up,
        ):
            reply = web.StreamResponse(status=up.status)
            reply.content_type = up.content_type
            reply.enable_compression()  # by the request's Accept-Encoding
            await reply.prepare(request)
            async for chunk in up.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply


@pytest.fixture
def gateway(sim: Sim, ca: TestCA) -> Iterator[tuple[Gateway, Front]]:
    handler = Gateway(sim.url)
    with running_tls_handler(ca, handler) as front:
        yield handler, front


def _replay(
    front: Front, profile: Path, out: Path, transport: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    args = [str(profile), "--target", front.url, "--model", "agentload-sim", "--out", str(out)]
    args += ["--api", "chat", "--transport", transport]
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=180, env=os.environ | env
    )


@pytest.mark.parametrize("transport", ["raw", "aiohttp", "httpx"])
def test_https_on_every_transport_without_compression(
    gateway: tuple[Gateway, Front], ca: TestCA, profile: Path, tmp_path: Path, transport: str
) -> None:
    handler, front = gateway
    out = tmp_path / "run.arrow"
    proc = _replay(front, profile, out, transport, {"SSL_CERT_FILE": str(ca.ca_pem)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "aiohttp" not in proc.stderr  # no silent switch of client
    rows = io.read(out).frame
    assert rows.height == 4 and (rows[S.STATUS] == "ok").all(), rows[S.ERROR].to_list()
    # every stream read whole: the usage chunk at its end gives the tokens asked for
    assert rows[S.COMPLETION_TOKENS].to_list() == rows[S.EXPECTED_OUTPUT_TOKENS].to_list()
    timed = [enc for path, enc, session in handler.seen if session is not None]
    assert len(timed) >= 4  # the run's requests and the preflight's probe
    assert all(enc in ("", "identity") for enc in timed), timed
    # positive control: the gateway compresses for a client that asks (calibration's httpx
    # client for /tokenize does, and decodes it)
    assert any("gzip" in enc for path, enc, _ in handler.seen if path == "/tokenize")


def test_untrusted_certificate_is_refused(
    gateway: tuple[Gateway, Front], profile: Path, tmp_path: Path
) -> None:
    _, front = gateway
    proc = _replay(front, profile, tmp_path / "run.arrow", "raw", {"SSL_CERT_FILE": os.devnull})
    assert proc.returncode != 0
    assert "certificate" in proc.stderr.lower(), proc.stderr[-2000:]
