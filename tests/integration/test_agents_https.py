"""Real agents recorded in front of an HTTPS gateway with a path prefix: the scripted sim
behind tests/tlsfront.py on 127.0.0.1, with a certificate from a CA made at test time.

Reverse mode: the agent's base URL is the proxy (plain HTTP); the proxy calls the gateway
over HTTPS (`--upstream https://127.0.0.1:PORT/api --upstream-ca`). Regular mode: the agent
keeps the gateway as its base URL and goes through the proxy with HTTPS_PROXY, trusting the
proxy's CA (`agentload ca --path`) as `agentload ca` says: NODE_EXTRA_CA_CERTS for Claude
Code, CODEX_CA_CERTIFICATE for Codex. Either way the trace holds exactly the calls the sim
served, with its usage, under the endpoint the agent sent, and the key is in no output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import Proxy, running_capture
from tests.integration import realagents as R
from tests.integration.agentload_cli import agentload
from tests.simhelper import running_sim
from tests.tlsfront import Front, running_tls_front
from tests.tlsutil import make_ca

pytestmark = [pytest.mark.agents, pytest.mark.slow]

PREFIX = "/api"
SCRIPT: dict[str, Any] = {
    "turns": [{"text": "Let me look.", "calls": [{"tool": "@list"}]}],
    "final": {"text": "Done: the directory is listed."},
}
CLAUDE_MODEL = "claude-opus-4-8"  # Claude Code's default model; the sim serves it by name
CODEX_MODEL = "agentload-sim"


@contextmanager
def _gateway_and_capture(
    tmp: Path, model: str, *capture_args: str
) -> Iterator[tuple[Front, Proxy]]:
    """The scripted sim (timing log at tmp/timing.arrow) behind an HTTPS gateway at PREFIX,
    and `agentload capture` (traces in tmp/traces) whose upstream is the gateway."""
    ca = make_ca(tmp / "ca")
    (tmp / "script.json").write_text(json.dumps(SCRIPT))
    sim_args = ["--preset", "fast", "--agent-script", str(tmp / "script.json")]
    sim_args += ["--model", model, "--timing-log", str(tmp / "timing.arrow")]
    capture = ["--upstream-ca", str(ca.ca_pem), "--confdir", str(tmp / "conf"), *capture_args]
    with (
        running_sim(*sim_args) as sim,
        running_tls_front(sim.url, ca, PREFIX) as front,
        running_capture(front.url + PREFIX, tmp / "traces", *capture) as proxy,
    ):
        yield front, proxy


def _regular(tmp: Path) -> tuple[str, tuple[str, ...]]:
    """The proxy's CA (made now, as a user would with `agentload ca`) and the capture
    options of regular mode recording the gateway's host."""
    ca_path = agentload("ca", "--confdir", str(tmp / "conf"), "--path").stdout.strip()
    return ca_path, ("--mode", "regular", "--record-host", "127.0.0.1")


def _check(tmp: Path, front: Front, endpoint: str, run: R.AgentRun, output: str) -> None:
    assert run.returncode == 0, (run.stdout, run.stderr, output)
    trace = R.served_exactly(tmp)  # exactly the calls the sim served, its usage
    assert trace.height == len(SCRIPT["turns"]) + 1
    assert set(trace[S.ENDPOINT]) == {endpoint}
    assert (trace[S.HTTP_STATUS] == 200).all() and trace[S.ERROR].is_null().all()
    assert trace[S.T_FIRST_TOKEN_NS].is_not_null().all()
    # the gateway got everything under its prefix (Claude Code also probes `/` first)
    api_path = PREFIX + endpoint.removeprefix(PREFIX)
    assert all(p.startswith(PREFIX + "/") for p in front.paths), front.paths
    assert front.paths.count(api_path) == trace.height, front.paths
    R.assert_no_canary(tmp / "traces", tmp / "home")
    assert R.CANARY_KEY not in output + run.stdout + run.stderr


@pytest.mark.parametrize("mode", ["reverse", "regular"])
def test_claude_code_in_front_of_an_https_gateway(mode: str, tmp_path: Path) -> None:
    prompt = "List the files."
    if mode == "reverse":
        with _gateway_and_capture(tmp_path, CLAUDE_MODEL) as (front, proxy):
            run = R.claude(proxy.url, CLAUDE_MODEL, prompt, tmp_path)
            output = "".join(proxy.output)
        endpoint = "/v1/messages"
    else:
        ca_path, opts = _regular(tmp_path)
        with _gateway_and_capture(tmp_path, CLAUDE_MODEL, *opts) as (front, proxy):
            env = {"HTTPS_PROXY": proxy.url, "NODE_EXTRA_CA_CERTS": ca_path}
            run = R.claude(front.url + PREFIX, CLAUDE_MODEL, prompt, tmp_path, extra_env=env)
            output = "".join(proxy.output)
        endpoint = PREFIX + "/v1/messages"  # the agent's own base URL, as it sent it
    _check(tmp_path, front, endpoint, run, output)
    result = json.loads(run.stdout)
    assert result["is_error"] is False and result["result"] == SCRIPT["final"]["text"]


def test_codex_through_the_forward_proxy_to_an_https_gateway(tmp_path: Path) -> None:
    ca_path, opts = _regular(tmp_path)
    with _gateway_and_capture(tmp_path, CODEX_MODEL, *opts) as (front, proxy):
        env = {"HTTPS_PROXY": proxy.url, "CODEX_CA_CERTIFICATE": ca_path}
        run = R.codex(front.url + PREFIX, CODEX_MODEL, "Look here.", tmp_path, extra_env=env)
        output = "".join(proxy.output)
    _check(tmp_path, front, PREFIX + "/v1/responses", run, output)
    assert run.stdout.strip() == SCRIPT["final"]["text"]
