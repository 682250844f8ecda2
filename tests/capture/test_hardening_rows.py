"""Row-level hardening (adversarial catalogue H1, H6, H8): keys in a streamed response's
tool-call arguments, in the endpoint, model and workload columns, and mitmproxy's error
messages quoting raw bytes under --redact-content."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from agentload.capture.flowdata import ChunkRecorder, RawCall
from agentload.capture.process import proxy_error_redacted
from agentload.capture.session_keys import WORKLOAD_HEADER
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Api
from tests.capture.tracehelper import row_builder

PATH_KEY = "sk-proj-CANARYPATHKEY0123456789abcdef"
MODEL_KEY = "sk-proj-CANARYMODELKEY0123456789abcdef"
WL_KEY = "Bearer CANARYWLBEARER0123456789abcdef"


def _raw(path: str, body: Mapping[str, object], stream: bytes | None = None) -> RawCall:
    raw = RawCall(
        api=Api.OPENAI_CHAT,
        path=path,
        t_request_start_ns=0,
        headers={},
        request_body=json.dumps(body).encode(),
        t_response_end_ns=10,
        status=200,
        response_type="text/event-stream" if stream else "application/json",
    )
    if stream is not None:
        raw.recorder = ChunkRecorder(1 << 20)
        raw.recorder(stream)
    else:
        raw.buffered_body = b'{"choices": []}'
    return raw


def _everything(row: dict[str, object]) -> str:
    return json.dumps(row, default=str)


@pytest.mark.parametrize("redact", [False, True])
def test_H6_keys_in_endpoint_model_and_workload_are_masked(redact: bool) -> None:
    body = {"model": MODEL_KEY, "messages": [{"role": "user", "content": "hi"}]}
    raw = _raw(f"/{PATH_KEY}/v1/chat/completions", body)
    raw.headers[WORKLOAD_HEADER] = WL_KEY
    assert "CANARYPATHKEY" in raw.path and "CANARYMODELKEY" in json.dumps(body)  # control
    row = row_builder(redact).build(raw)
    text = _everything(row)
    for canary in ("CANARYPATHKEY", "CANARYMODELKEY", "CANARYWLBEARER"):
        assert canary not in text, canary
    assert row[S.ENDPOINT] == "/[redacted]/v1/chat/completions"
    assert row[S.MODEL] == "[redacted]"
    assert row[S.WORKLOAD] == "[redacted]"


def test_H1_streamed_tool_call_arguments_are_scrubbed() -> None:
    """The assembled message of a stream keeps each tool call's arguments as a string:
    the key-based rules apply inside it too."""
    args = json.dumps({"password": "CANARYSTREAMPW", "host": "db"})
    delta = {
        "tool_calls": [{"index": 0, "id": "c1", "function": {"name": "db", "arguments": args}}]
    }
    events = [
        {"choices": [{"index": 0, "delta": delta}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    assert "CANARYSTREAMPW" in sse  # positive control
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    row = row_builder().build(_raw("/v1/chat/completions", body, sse.encode()))
    stored = json.dumps(row[S.NEW_CONTENT])
    assert "CANARYSTREAMPW" not in stored
    parts = {c["id"]: c["data"] for c in row[S.NEW_CONTENT]}
    message = json.loads(parts[row[S.RESPONSE_CONTENT_ID]])
    assert json.loads(message["tool_calls"][0]["args"]) == {"password": "[redacted]", "host": "db"}


MITM_ERRORS = [
    "HTTP/1 protocol error: illegal chunk header: bytearray(b'CANARYCHUNKSECRET user text\\r\\n')",
    "Cannot parse HTTP response: Invalid header line: b'CANARYHDRSECRET prompt words'",
    "Bad HTTP response line: b'HTTP/1.1 2x0 CANARYSTATUSSECRET reason'",
    "Cannot parse HTTP response: 'CANARYQUOTED'",
]


@pytest.mark.parametrize("message", MITM_ERRORS)
def test_H8_mitmproxy_messages_quoting_bytes_keep_none_under_redact(message: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    raw = _raw("/v1/chat/completions", body)
    raw.partial, raw.proxy_error, raw.buffered_body = True, message, b""
    assert "CANARY" in message  # positive control
    redacted = row_builder(redact=True).build(raw)[S.ERROR]
    assert isinstance(redacted, str) and "CANARY" not in redacted, redacted
    assert redacted.endswith(" chars]") and "[redacted, " in redacted
    plain = row_builder(redact=False).build(raw)[S.ERROR]
    assert isinstance(plain, str) and "CANARY" in plain  # kept when content may be stored


def test_H8_messages_without_quoted_bytes_are_kept() -> None:
    for message in ("Client disconnected.", "peer closed connection", "Connection killed."):
        assert proxy_error_redacted(message) == message
    assert proxy_error_redacted("illegal chunk header: bytearray(b'x')") == (
        "illegal chunk header: [redacted, 15 chars]"
    )
