"""Acceptance: `agentload capture --mode regular` as the HTTPS proxy of clients that trust its
CA (the one `agentload ca` names), recording only the `--record-host` host.

The "LLM host" is the sim behind an HTTPS gateway on 127.0.0.1 (tests/tlsfront.py); the
"other host" a second HTTPS server on 127.0.0.1, which the client reaches through the proxy
while trusting only the other server's own CA: that works only if the proxy tunnels the
connection untouched (an intercepted one would carry the proxy's certificate)."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import running_capture
from tests.capture.sdkcalls import ENDPOINTS, all_apis, check_no_secret, check_rows, clients
from tests.capture.test_https_upstream import LOADED_S, PREFIX
from tests.capture.tracehelper import SECRET, load, wait_rows
from tests.simhelper import Sim, running_sim
from tests.test_cli_errors import agentload
from tests.tlsfront import running_tls_front, running_tls_static
from tests.tlsutil import make_ca

pytestmark = pytest.mark.slow

OTHER_BODY = bytes(range(256)) * 64  # every byte value: any change would show


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--token-interval-ms", "2") as s:
        yield s


def test_regular_mode_records_the_llm_host_and_tunnels_the_rest(sim: Sim, tmp_path: Path) -> None:
    llm_ca, other_ca = make_ca(tmp_path / "llm"), make_ca(tmp_path / "other", name="other")
    confdir = tmp_path / "conf"
    ca_path = subprocess.run(
        [agentload(), "ca", "--confdir", str(confdir), "--path"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with (
        running_tls_front(sim.url, llm_ca, PREFIX) as front,
        running_tls_static(other_ca, OTHER_BODY) as other,
    ):
        opts = ["--mode", "regular", "--record-host", f"127.0.0.1:{front.port}"]
        opts += ["--upstream-ca", str(llm_ca.ca_pem), "--confdir", str(confdir)]
        with running_capture(sim.url, tmp_path / "t", *opts) as proxy:
            # first the traffic that must leave no row: rows are written in order, so any
            # row of it would be on disk before the LLM calls' rows are
            tunnelled = httpx.post(
                other.url + "/upload",
                content=b"payload",
                headers={"Authorization": f"Bearer {SECRET}"},
                proxy=proxy.url,
                verify=other_ca.client_context(),  # not the proxy's CA: no interception
                timeout=LOADED_S,
            )
            plain_llm_call = httpx.post(  # plain HTTP to an LLM API on a host not recorded
                sim.url + "/v1/chat/completions",
                json={
                    "model": sim.model,
                    "max_tokens": 2,
                    "messages": [{"role": "user", "content": "x"}],
                },
                proxy=proxy.url,
                timeout=LOADED_S,
            )
            gateway = front.url + PREFIX  # the agent keeps its base URL
            oa, an = clients(
                gateway + "/v1",
                gateway,
                ssl.create_default_context(cafile=ca_path),
                proxy=proxy.url,
            )
            seen = all_apis(oa, an, sim.model, "hello")
            frame = wait_rows(tmp_path / "t", len(seen), timeout=LOADED_S)
        output = "".join(proxy.output)
    assert tunnelled.status_code == 200 and tunnelled.content == OTHER_BODY
    assert other.paths == ["/upload"]
    assert plain_llm_call.status_code == 200 and b"chat.completion" in plain_llm_call.content
    assert load(tmp_path / "t").height == len(seen)
    assert front.paths == [f"{PREFIX}/v1/{e}" for e in ENDPOINTS for _ in (1, 2)]
    check_rows(frame.sort(S.T_REQUEST_START_NS), seen, PREFIX + "/v1/")
    check_no_secret(tmp_path / "t", output)
    assert f"clients must trust the proxy's CA {ca_path}" in output
