"""Acceptance for the Responses API (HTTP and SSE, gzip) with the openai SDK through the
proxy, against a small real Responses server (tests/capture/responses_upstream.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.responses import FunctionToolParam, Response, ResponseInputParam

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.responses_upstream import serving
from tests.capture.tracehelper import SECRET, contents, load, rows_for, session_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def proxy(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_capture(upstream, tmp_path_factory.mktemp("trace")) as p:
        yield p


TOOLS: list[FunctionToolParam] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]


@pytest.mark.parametrize(("stream", "gzip"), [(False, False), (True, False), (True, True)])
def test_responses_tool_loop(upstream: str, proxy: Proxy, stream: bool, gzip: bool) -> None:
    session = f"resp-{stream}-{gzip}"
    client = openai.OpenAI(
        base_url=proxy.url + "/v1",
        api_key=SECRET,
        max_retries=0,
        default_headers={"x-test-gzip": "1" if gzip else "0"},
    )
    first_input: ResponseInputParam = [
        {"role": "user", "content": f"weather in Paris? ({session})"}
    ]

    def call(items: ResponseInputParam) -> Response:
        if not stream:
            return client.responses.create(model="fake", input=items, tools=TOOLS)
        with client.responses.stream(model="fake", input=items, tools=TOOLS) as s:
            for _ in s:
                pass
            return s.get_final_response()

    first = call(first_input)
    fc = first.output[0]
    assert fc.type == "function_call"
    second = call(
        [
            *first_input,
            {
                "type": "function_call",
                "call_id": fc.call_id,
                "name": fc.name,
                "arguments": fc.arguments,
            },
            {"type": "function_call_output", "call_id": fc.call_id, "output": "sunny"},
        ]
    )
    assert second.output_text == "It is sunny."
    # no explicit session header: found by the tool call id
    root = rows_for(proxy.traces, _session_with(proxy, session), 2)
    assert root[S.STITCH].to_list() == ["new", "tool-call-id"]
    assert root[S.API].to_list() == [S.Api.OPENAI_RESPONSES.value] * 2
    assert root[S.PROMPT_TOKENS].to_list() == [120, 120]
    assert root[S.CACHED_TOKENS].to_list() == [64, 64]
    assert root[S.REASONING_TOKENS].to_list() == [5, 5]
    assert root[S.FINISH_REASON].to_list() == ["tool_calls", "completed"]
    assert root[S.ERROR].null_count() == 2
    if stream:
        assert len(root[S.CHUNK_OFFSETS_NS][1]) == 2  # the two text deltas


def _session_with(proxy: Proxy, marker: str) -> str:
    """The session whose first request mentions `marker` (no header to derive it from)."""
    assert proxy.out_dir is not None
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        frame = load(proxy.out_dir)
        table = contents(proxy.out_dir) if frame.height else {}
        for row in frame.iter_rows(named=True):
            parts = row[S.REQUEST_CONTENT_IDS] or []
            if len(parts) > 1 and marker in json.dumps(table.get(parts[1])):
                return str(row[S.SESSION_ID])
        time.sleep(0.1)
    raise AssertionError(f"no session mentions {marker}")


def test_header_session_is_used(proxy: Proxy) -> None:
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key=SECRET, max_retries=0)
    client.responses.create(
        model="fake",
        input="hi",
        tools=TOOLS,
        extra_headers={"X-Session-ID": "resp-h"},
    )
    row = rows_for(proxy.traces, session_of("resp-h"), 1).row(0, named=True)
    assert row[S.STITCH] == "header" and row[S.STREAM] is False


@pytest.mark.parametrize(("stream", "gzip"), [(False, False), (True, False), (True, True)])
def test_responses_bytes_identical(upstream: str, proxy: Proxy, stream: bool, gzip: bool) -> None:
    """Raw (still gzip-encoded) bodies through the proxy equal the direct ones."""
    body = {"model": "fake", "input": "bytes", "stream": stream}
    got = []
    for base in (upstream, proxy.url):
        headers = {"x-test-gzip": "1" if gzip else "0", "Accept-Encoding": "gzip"}
        with httpx.stream("POST", base + "/v1/responses", json=body, headers=headers) as r:
            got.append((r.status_code, r.headers.get("content-encoding"), b"".join(r.iter_raw())))
    assert got[0] == got[1]
    assert got[0][1] == ("gzip" if gzip else None)
