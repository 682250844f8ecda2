"""Acceptance: `agentload capture` in reverse mode in front of an HTTPS gateway with a path
prefix (the sim behind tests/tlsfront.py, a certificate from a CA made at test time).

The official SDKs call all four APIs, streamed and not, through the proxy: they get what a
direct call to the gateway gives, the gateway sees every path under its prefix, and the
trace holds one row per call with the endpoint the agent saw, the usage the client saw and
ordered timings. An upstream certificate the proxy does not trust is an error row and a 502
saying why; no credential reaches the trace or the terminal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.capture.proxyhelper import running_capture
from tests.capture.sdkcalls import ENDPOINTS, all_apis, check_no_secret, check_rows, clients
from tests.capture.tracehelper import SECRET, wait_rows
from tests.simhelper import Sim, running_sim
from tests.tlsfront import Front, running_tls_front
from tests.tlsutil import TestCA, make_ca
from tests.values import dig

pytestmark = pytest.mark.slow

PREFIX = "/api"
LOADED_S = 30.0  # waits and client timeouts: generous, for a busy 2-core machine


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--token-interval-ms", "2") as s:
        yield s


@pytest.fixture(scope="module")
def front(sim: Sim, ca: TestCA) -> Iterator[Front]:
    with running_tls_front(sim.url, ca, PREFIX) as f:
        yield f


def _env_without_trust() -> dict[str, str]:
    """This environment minus any CA settings: only the system store is trusted."""
    return {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}


def test_sdk_calls_of_all_apis_through_a_prefixed_https_upstream(
    sim: Sim, front: Front, ca: TestCA, tmp_path: Path
) -> None:
    gateway = front.url + PREFIX
    direct = all_apis(*clients(gateway + "/v1", gateway, ca.client_context()), sim.model, "hi")
    upstream = front.url + PREFIX
    extra = ("--upstream-ca", str(ca.ca_pem), "--confdir", str(tmp_path / "conf"))
    with running_capture(upstream, tmp_path / "t", *extra, env=_env_without_trust()) as proxy:
        before = len(front.paths)
        seen = all_apis(*clients(proxy.url + "/v1", proxy.url), sim.model, "hi")
        frame = wait_rows(tmp_path / "t", len(seen), timeout=LOADED_S).sort(S.T_REQUEST_START_NS)
    # unchanged: the same text and token counts as a direct call to the gateway
    assert [(s.text, s.completion_tokens) for s in seen] == [
        (d.text, d.completion_tokens) for d in direct
    ]
    assert all(s.text and s.completion_tokens > 0 for s in seen)
    # the gateway got every call under its prefix
    assert front.paths[before:] == [f"{PREFIX}/v1/{e}" for e in ENDPOINTS for _ in (1, 2)]
    check_rows(frame, seen, "/v1/")
    (info,) = {dig(io.read(p).info, "upstream", 0) for p in (tmp_path / "t").glob("*.arrow")}
    assert info == upstream  # the upstream as configured, prefix included
    check_no_secret(tmp_path / "t", "".join(proxy.output))


def test_ssl_cert_file_is_honoured_for_the_upstream(
    sim: Sim, front: Front, ca: TestCA, tmp_path: Path
) -> None:
    """Without --upstream-ca, the system store as Python sees it: SSL_CERT_FILE counts."""
    env = _env_without_trust() | {"SSL_CERT_FILE": str(ca.ca_pem)}
    with running_capture(
        front.url + PREFIX, tmp_path / "t", "--confdir", str(tmp_path / "c"), env=env
    ) as proxy:
        r = httpx.post(proxy.url + "/v1/chat/completions", json=_chat(sim), timeout=LOADED_S)
        assert r.status_code == 200, r.text
        frame = wait_rows(tmp_path / "t", 1, timeout=LOADED_S)
    assert frame[S.HTTP_STATUS].to_list() == [200] and frame[S.ERROR].to_list() == [None]


def test_an_untrusted_upstream_certificate_is_an_error_row_and_a_502(
    sim: Sim, front: Front, tmp_path: Path
) -> None:
    conf = ("--confdir", str(tmp_path / "c"))
    with running_capture(
        front.url + PREFIX, tmp_path / "t", *conf, env=_env_without_trust()
    ) as proxy:
        r = httpx.post(
            proxy.url + "/v1/chat/completions",
            json=_chat(sim),
            headers={"Authorization": f"Bearer {SECRET}"},
            timeout=LOADED_S,
        )
        frame = wait_rows(tmp_path / "t", 1, timeout=LOADED_S)
    assert r.status_code == 502 and "Certificate verify failed" in r.text  # says why
    (error,) = frame[S.ERROR].to_list()
    assert error.startswith("upstream TLS handshake failed: Certificate verify failed"), error
    assert frame[S.HTTP_STATUS].to_list() == [None] and frame[S.PARTIAL].to_list() == [True]
    output = "".join(proxy.output)
    assert "Traceback" not in output and SECRET not in output


def test_upstream_insecure_skips_verification_with_a_warning(
    sim: Sim, front: Front, tmp_path: Path
) -> None:
    conf = ("--confdir", str(tmp_path / "c"), "--upstream-insecure")
    with running_capture(
        front.url + PREFIX, tmp_path / "t", *conf, env=_env_without_trust()
    ) as proxy:
        r = httpx.post(proxy.url + "/v1/chat/completions", json=_chat(sim), timeout=LOADED_S)
        assert r.status_code == 200, r.text
        wait_rows(tmp_path / "t", 1, timeout=LOADED_S)
    assert "warning: --upstream-insecure: upstream certificates are not verified" in "".join(
        proxy.output
    )


def _chat(sim: Sim) -> dict[str, object]:
    return {"model": sim.model, "max_tokens": 3, "messages": [{"role": "user", "content": "x"}]}
