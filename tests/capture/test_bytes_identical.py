"""Acceptance: what a client receives through the proxy is byte-identical to a direct call,
for every API, streaming and not. Two identical fresh sims serve the two paths, so response
ids and cache state agree; only the `created` second may differ (wall clock), so it is
masked."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.tracehelper import wait_rows
from tests.simhelper import Sim, running_sim

pytestmark = pytest.mark.slow

_CREATED = re.compile(rb'"created(_at)?": ?\d+')

# The sim serves no Responses API; its parsing is covered by tests/capture/test_responses.py.
REQUESTS = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "byte test"}]}),
    ("/v1/completions", {"prompt": "byte test"}),
    ("/v1/messages", {"messages": [{"role": "user", "content": "byte test"}]}),
]


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[Sim, Sim]]:
    args = ("--preset", "fast", "--token-interval-ms", "2")
    with running_sim(*args) as direct, running_sim(*args) as behind:
        yield direct, behind


@pytest.fixture(scope="module")
def proxy(sims: tuple[Sim, Sim], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_capture(sims[1].url, tmp_path_factory.mktemp("trace")) as p:
        yield p


def _fetch(url: str, payload: dict[str, object]) -> tuple[int, str | None, bytes]:
    with httpx.Client() as client, client.stream("POST", url, json=payload) as r:
        return r.status_code, r.headers.get("content-type"), b"".join(r.iter_raw())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("path", "body"), REQUESTS)
def test_bodies_are_byte_identical(
    sims: tuple[Sim, Sim], proxy: Proxy, path: str, body: dict[str, object], stream: bool
) -> None:
    payload = body | {"model": sims[0].model, "stream": stream, "max_tokens": 12}
    direct = _fetch(sims[0].url + path, payload)
    proxied = _fetch(proxy.url + path, payload)
    assert direct[0] == 200 and len(direct[2]) > 50
    assert proxied[:2] == direct[:2]
    assert _CREATED.sub(b"", proxied[2]) == _CREATED.sub(b"", direct[2])


def test_every_call_was_recorded_once(proxy: Proxy) -> None:
    assert proxy.out_dir is not None
    frame = wait_rows(proxy.out_dir, 6)
    counts = frame.group_by(S.API, S.STREAM).len()
    assert counts.height == 6 and counts["len"].to_list() == [1] * 6
    assert frame[S.ERROR].null_count() == 6
