"""The sim's hosted-API mode over HTTP: `--strict` refuses fields hosted APIs reject, and
`--api-key` requires the key as each API expects, both in the provider's error shape."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentload.base.secret import Secret
from tests.simhelper import Sim, running_sim

KEY = "sk-test-canary-0123456789abcdef"
MODEL = "agentload-sim"
EXTENSIONS = {"min_tokens": 3, "ignore_eos": True}
VERSION = {"anthropic-version": "2023-06-01"}
SIM = [sys.executable, "-c", "from agentload.cli import main; main()", "sim", "--port", "0"]

# (path, a minimal valid body, the header presenting KEY as the API expects)
REQUESTS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "completions": (
        "/v1/completions",
        {"model": MODEL, "prompt": [1, 2, 3], "max_tokens": 3},
        {"Authorization": f"Bearer {KEY}"},
    ),
    "chat": (
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        {"Authorization": f"Bearer {KEY}"},
    ),
    "responses": (
        "/v1/responses",
        {"model": MODEL, "input": "hi", "max_output_tokens": 3},
        {"Authorization": f"Bearer {KEY}"},
    ),
    "messages": (
        "/v1/messages",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        {"x-api-key": KEY, **VERSION},
    ),
}


@pytest.fixture(scope="module")
def strict_sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--strict") as sim:
        yield sim


@pytest.fixture(scope="module")
def keyed_sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--api-key", KEY) as sim:
        yield sim


@pytest.mark.parametrize("api", sorted(REQUESTS))
def test_strict_refuses_extension_fields_in_the_api_shape(strict_sim: Sim, api: str) -> None:
    path, body, _ = REQUESTS[api]
    headers = VERSION if api == "messages" else {}
    ok = httpx.post(strict_sim.url + path, json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    refused = httpx.post(strict_sim.url + path, json={**body, **EXTENSIONS}, headers=headers)
    assert refused.status_code == 400
    if api == "messages":
        assert refused.json() == {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "ignore_eos: Extra inputs are not permitted",
            },
        }
    else:
        assert refused.json() == {
            "error": {
                "message": "Unrecognized request arguments supplied: ignore_eos, min_tokens",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }


def test_strict_messages_need_the_anthropic_version_header(strict_sim: Sim) -> None:
    path, body, _ = REQUESTS["messages"]
    resp = httpx.post(strict_sim.url + path, json=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "anthropic-version: header is required"


def test_default_sim_takes_extension_fields() -> None:
    with running_sim("--preset", "fast") as sim:
        path, body, _ = REQUESTS["chat"]
        resp = httpx.post(sim.url + path, json={**body, **EXTENSIONS})
    assert resp.status_code == 200
    assert resp.json()["usage"]["completion_tokens"] == 3  # min_tokens honoured


@pytest.mark.parametrize("api", sorted(REQUESTS))
def test_key_required_as_each_api_expects(keyed_sim: Sim, api: str) -> None:
    path, body, good = REQUESTS[api]
    url = keyed_sim.url + path
    missing = httpx.post(url, json=body, headers=VERSION)
    wrong = httpx.post(
        url, json=body, headers={k: v.replace(KEY, "sk-wrong") for k, v in good.items()}
    )
    # the right key in the other API's header does not count
    other = (
        {"Authorization": f"Bearer {KEY}", **VERSION} if api == "messages" else {"x-api-key": KEY}
    )
    misplaced = httpx.post(url, json=body, headers=other)
    assert [r.status_code for r in (missing, wrong, misplaced)] == [401, 401, 401]
    for resp in (missing, wrong, misplaced):
        assert KEY not in resp.text and "sk-wrong" not in resp.text
    if api == "messages":
        assert missing.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "x-api-key header is required"},
        }
        assert wrong.json()["error"] == {
            "type": "authentication_error",
            "message": "invalid x-api-key",
        }
    else:
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert "You didn't provide an API key" in missing.json()["error"]["message"]
        assert wrong.json()["error"]["code"] == "invalid_api_key"
    ok = httpx.post(url, json=body, headers=good)
    assert ok.status_code == 200, ok.text


def test_key_required_on_every_route_but_health(keyed_sim: Sim) -> None:
    url = keyed_sim.url
    assert httpx.get(url + "/health").status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("GET", "/metrics", None),
        ("POST", "/tokenize", {"model": MODEL, "prompt": "hello world"}),
    ):
        assert httpx.request(method, url + path, json=body).status_code == 401, path
        assert httpx.request(method, url + path, json=body, headers=bearer).status_code == 200
    assert httpx.get(url + "/v1/models", headers={"x-api-key": KEY}).status_code == 200


def test_secret_never_shows_its_value() -> None:
    secret = Secret(KEY)
    shown = [str(secret), repr(secret), f"{secret}", f"{secret!r}", "{}".format(secret)]  # noqa: UP032
    assert all(KEY not in text for text in shown)
    assert secret.reveal() == KEY
    assert pickle.loads(pickle.dumps(secret)).reveal() == KEY  # worker processes get it
    assert secret.matches(KEY) and not secret.matches(KEY[:-1]) and not secret.matches(None)
    assert secret == Secret(KEY) and secret != Secret(KEY + "x")


def test_key_from_the_environment_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """AGENTLOAD_SIM_API_KEY works like --api-key; the sim's output never holds the key."""
    monkeypatch.setenv("AGENTLOAD_SIM_API_KEY", KEY)
    proc = subprocess.Popen(
        [*SIM, "--preset", "fast", "--strict"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.endswith("(strict, key required)\n"), line
        url = line.split(" on ", 1)[1].split()[0]
        assert httpx.get(url + "/v1/models").status_code == 401
        assert httpx.get(url + "/v1/models", headers={"x-api-key": KEY}).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert KEY.encode() not in line.encode() + out + err
