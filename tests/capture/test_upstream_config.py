"""Capture's upstream and forward-proxy settings: upstream URLs with a path prefix, CA files,
`--record-host` rules, `agentload ca`, and the one-line errors at start."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from mitmproxy import exceptions, http
from mitmproxy.test import taddons
from mitmproxy.test.tflow import tflow

from agentload.base.errors import ConfigError
from agentload.capture.addon import CaptureAddon
from agentload.capture.config import CaptureConfig, Upstream, check_ca_file, parse_upstream
from agentload.capture.hosts import LLM_API_HOSTS, allow_pattern, parse_host_rule
from agentload.capture.sink import Sink
from tests.capture.tracehelper import row_builder
from tests.test_cli_errors import agentload, run_fails
from tests.tlsutil import make_ca

CANARY = "canary-pw-5d1e"


@pytest.mark.parametrize(
    ("url", "origin", "prefix"),
    [
        ("https://openrouter.ai/api", "https://openrouter.ai", "/api"),
        ("https://openrouter.ai/api/", "https://openrouter.ai", "/api"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", ""),
        ("https://gw.example/llm/openai/", "https://gw.example", "/llm/openai"),
        ("http://[::1]:9000/x", "http://[::1]:9000", "/x"),
    ],
)
def test_an_upstream_splits_into_origin_and_prefix(url: str, origin: str, prefix: str) -> None:
    assert parse_upstream(url) == Upstream(origin, prefix)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"https://user:{CANARY}@gw.example/api", "credentials in the URL are refused"),
        (f"https://{CANARY}@gw.example", "credentials in the URL are refused"),
        ("ftp://gw.example", "expected http(s)://HOST[:PORT][/PATH]"),
        ("gw.example:443", "expected http(s)://HOST[:PORT][/PATH]"),
        ("https://gw.example/api?key=1", "without ?query or #fragment"),
        ("https://gw.example:99999", "the port must be 1 to 65535"),
    ],
)
def test_bad_upstreams_are_one_line_without_the_credential(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_upstream(url)
    assert message in str(err.value) and CANARY not in str(err.value)
    assert "\n" not in str(err.value)


def test_credentials_refusal_says_to_use_a_header() -> None:
    with pytest.raises(ConfigError, match="send its key in a header"):
        parse_upstream(f"https://k:{CANARY}@openrouter.ai/api")


def test_ca_files(tmp_path: Path) -> None:
    check_ca_file(make_ca(tmp_path).ca_pem)  # a PEM CA: accepted
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"junk\.pem: not readable as PEM CA certificates"):
        check_ca_file(tmp_path / "junk.pem")
    with pytest.raises(ConfigError, match=r"missing\.pem: no such file"):
        check_ca_file(tmp_path / "missing.pem")


def test_upstream_tls_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca(tmp_path).ca_pem

    def opts(**kw: Any) -> dict[str, object]:
        config = CaptureConfig(
            upstream="https://gw.example/api",
            listen_host="127.0.0.1",
            listen_port=0,
            out_dir=tmp_path,
        )
        return dataclasses.replace(config, **kw).mitm_options()

    got = opts(upstream_ca=ca)
    assert got["mode"] == ["reverse:https://gw.example"]
    assert got["agentload_path_prefix"] == "/api"
    assert got["ssl_verify_upstream_trusted_ca"] == str(ca)
    assert "ssl_insecure" not in got
    # the system store as Python's ssl sees it, so SSL_CERT_FILE counts (mitmproxy alone
    # would use certifi's bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    assert opts()["ssl_verify_upstream_trusted_ca"] == str(ca)
    insecure = opts(upstream_insecure=True)
    assert insecure["ssl_insecure"] is True and "ssl_verify_upstream_trusted_ca" not in insecure
    with pytest.raises(ConfigError, match="give one of them"):
        opts(upstream_ca=ca, upstream_insecure=True)


def test_regular_mode_intercepts_only_the_record_hosts(tmp_path: Path) -> None:
    config = CaptureConfig(
        upstream=None, listen_host="127.0.0.1", listen_port=0, out_dir=tmp_path, mode="regular"
    )
    got = config.mitm_options()
    assert got["mode"] == ["regular"] and got["agentload_record_hosts"] == list(LLM_API_HOSTS)
    patterns = got["allow_hosts"]
    assert isinstance(patterns, list)

    # mitmproxy's allow_hosts searches "host:port" strings (address, SNI, Host header)
    def allowed(hostport: str) -> bool:
        return any(re.search(p, hostport, re.IGNORECASE) for p in patterns)

    assert allowed("api.openai.com:443") and allowed("API.Anthropic.com:443")
    assert allowed("myres.openai.azure.com:443")
    assert not allowed("openai.azure.com:443")  # the wildcard needs a subdomain
    assert not allowed("api.openai.com.evil.example:443")
    assert not allowed("registry.npmjs.org:443") and not allowed("github.com:443")


@pytest.mark.parametrize(
    ("rule", "host", "port", "hit"),
    [
        ("127.0.0.1:8443", "127.0.0.1", 8443, True),
        ("127.0.0.1:8443", "127.0.0.1", 8444, False),
        ("api.openai.com", "api.openai.com", 8080, True),
        ("*.openai.azure.com", "a.b.openai.azure.com", 443, True),
        ("[::1]:9", "::1", 9, True),
    ],
)
def test_host_rules(rule: str, host: str, port: int, hit: bool) -> None:
    parsed = parse_host_rule(rule)
    assert parsed.matches(host, port) is hit
    assert bool(re.search(allow_pattern(parsed), f"{host}:{port}")) is hit


@pytest.mark.parametrize("bad", ["", "a b", "host:0", "host:x", "*.", "-bad.example", "[::1]x"])
def test_bad_host_rules(bad: str) -> None:
    with pytest.raises(ValueError, match=r"expected|port"):
        parse_host_rule(bad)


def test_the_addon_prefixes_paths_and_records_what_the_agent_sent(tmp_path: Path) -> None:
    addon = CaptureAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, mode=["reverse:https://gw.example"], agentload_path_prefix="/api")
        addon.sink = Sink(row_builder(), tmp_path, {}, rotate_bytes=1 << 20, rotate_seconds=60)
        addon.sink.start()
        flow = tflow(req=http.Request.make("POST", "https://gw.example/v1/messages?beta=1", b"{}"))
        addon.requestheaders(flow)
        assert flow.request.path == "/api/v1/messages?beta=1"  # what goes upstream
        assert flow.metadata["agentload"].path == "/v1/messages"  # what the trace keeps
        models = tflow(req=http.Request.make("GET", "https://gw.example/v1/models"))
        addon.requestheaders(models)  # not an LLM call: still routed under the prefix
        assert models.request.path == "/api/v1/models"
        addon.sink.close()


def test_the_addon_refuses_a_prefix_outside_reverse_mode() -> None:
    addon = CaptureAddon()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="only for reverse mode"):
            tctx.configure(addon, mode=["regular"], agentload_path_prefix="/api")
        with pytest.raises(exceptions.OptionsError, match="expected /PATH"):
            tctx.configure(addon, mode=["reverse:https://x.example"], agentload_path_prefix="api")


def test_the_addon_records_only_the_record_hosts(tmp_path: Path) -> None:
    addon = CaptureAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, agentload_record_hosts=["api.anthropic.com", "127.0.0.1:8443"])
        addon.sink = Sink(row_builder(), tmp_path, {}, rotate_bytes=1 << 20, rotate_seconds=60)
        addon.sink.start()
        for url, recorded in [
            ("https://api.anthropic.com/v1/messages", True),
            ("https://127.0.0.1:8443/v1/chat/completions", True),
            ("https://127.0.0.1:9443/v1/chat/completions", False),
            ("https://example.org/v1/messages", False),
        ]:
            flow = tflow(req=http.Request.make("POST", url, b"{}"))
            addon.requestheaders(flow)
            assert ("agentload" in flow.metadata) is recorded, url
        addon.sink.close()


def test_agentload_ca_makes_the_ca_once_and_says_how_to_trust_it(tmp_path: Path) -> None:
    confdir = tmp_path / "conf"
    out = subprocess.run(
        [agentload(), "ca", "--confdir", str(confdir)], capture_output=True, text=True, check=True
    ).stdout
    cert = confdir / "mitmproxy-ca-cert.pem"
    assert f"The proxy's CA certificate: {cert}" in out
    for advice in (
        "NODE_EXTRA_CA_CERTS=",
        "CODEX_CA_CERTIFICATE=",
        "SSL_CERT_FILE=",
        "REQUESTS_CA_BUNDLE=",
        "HTTPS_PROXY=",
    ):
        assert advice in out
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert loaded.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    again = subprocess.run(
        [agentload(), "ca", "--confdir", str(confdir), "--path"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert again == f"{cert}\n"  # the same CA: not made again
    assert x509.load_pem_x509_certificate(cert.read_bytes()) == loaded


def test_start_errors_are_one_line(tmp_path: Path) -> None:
    out = str(tmp_path / "t")
    line = run_fails("capture", "--upstream", f"https://u:{CANARY}@x.example", "--out", out)
    assert "credentials in the URL are refused" in line and CANARY not in line
    line = run_fails("capture", "--upstream", "https://x.example:70000", "--out", out, status=2)
    assert "--upstream: the port must be 1 to 65535" in line
    missing = tmp_path / "nope.pem"
    args = ["capture", "--upstream", "https://x.example", "--out", out]
    line = run_fails(*args, "--upstream-ca", str(missing), status=2)
    assert line == f"error: --upstream-ca: {missing}: no such file"
    line = run_fails("capture", "--mode", "regular", "--record-host", "a b", "--out", out)
    assert line.startswith("error: --record-host: expected HOST")


def test_the_documented_default_hosts_are_the_ones_used() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "capture.md").read_text()
    listed = doc.split("<!-- llm-api-hosts -->")[1].split("<!-- /llm-api-hosts -->")[0]
    assert tuple(re.findall(r"`([^`]+)`", listed)) == LLM_API_HOSTS
