"""The error column: provider messages and non-JSON bodies are scrubbed of credentials, and
under --redact-content only a content-free description (error type/code, length) remains."""

from __future__ import annotations

import json

import pytest

from agentload.capture.flowdata import ChunkRecorder, RawCall
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Api
from tests.capture.tracehelper import SECRET, row_builder

CANARY = "canary-words-from-the-prompt"  # content, not credential-shaped
REQUEST = {"model": "m", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
JSON_ERROR = {
    "error": {
        "type": "invalid_request_error",
        "message": f"Incorrect API key provided: {SECRET}. You said: {CANARY}",
    }
}


def _call(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    request: bytes | None = None,
) -> RawCall:
    raw = RawCall(
        api=Api.OPENAI_CHAT,
        path="/v1/chat/completions",
        t_request_start_ns=0,
        headers={},
        request_body=json.dumps(REQUEST).encode() if request is None else request,
        t_response_end_ns=10,
        status=status,
        response_type=content_type,
    )
    if "event-stream" in content_type:
        raw.recorder = ChunkRecorder(1 << 20)
        raw.recorder(body)
    else:
        raw.buffered_body = body
    return raw


def _sse(*events: tuple[str | None, object]) -> bytes:
    out = ""
    for name, data in events:
        out += (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
    return out.encode()


CASES = {
    "json-401": _call(401, json.dumps(JSON_ERROR).encode()),
    "not-json-502": _call(502, f"<html>upstream said {SECRET} about {CANARY}</html>".encode()),
    "openai-stream-error": _call(
        200,
        _sse((None, {"choices": [{"index": 0, "delta": {"content": "a"}}]}), (None, JSON_ERROR)),
        "text/event-stream",
    ),
    "anthropic-error-event": _call(
        200,
        _sse(
            (
                "error",
                {
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": (f"{CANARY} {SECRET}")},
                },
            )
        ),
        "text/event-stream",
    ),
    "string-error": _call(400, json.dumps({"error": f"{CANARY}: {SECRET}"}).encode()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_text_is_scrubbed(case: str) -> None:
    error = row_builder().build(CASES[case])[S.ERROR]
    assert isinstance(error, str)
    assert CANARY in error  # the message is kept: it is the useful part
    assert SECRET not in error and "sk-agentload" not in error
    assert "[redacted]" in error


@pytest.mark.parametrize("case", sorted(CASES))
def test_redacted_error_has_no_content(case: str) -> None:
    error = row_builder(redact=True).build(CASES[case])[S.ERROR]
    assert isinstance(error, str)
    assert CANARY not in error and "canary" not in error
    assert SECRET not in error and "sk-agentload" not in error
    assert "[redacted, " in error


def test_redacted_error_keeps_type_and_length() -> None:
    error = row_builder(redact=True).build(CASES["json-401"])[S.ERROR]
    message = JSON_ERROR["error"]["message"]
    assert error == f"invalid_request_error: [redacted, {len(message)} chars]"
    body = f"<html>upstream said {SECRET} about {CANARY}</html>".encode()
    error = row_builder(redact=True).build(CASES["not-json-502"])[S.ERROR]
    assert error == f"response is not JSON: [redacted, {len(body)} bytes]"


def test_free_text_error_type_is_not_kept_under_redact() -> None:
    body = {"error": {"type": f"bad {CANARY}", "message": "m"}}
    error = row_builder(redact=True).build(_call(400, json.dumps(body).encode()))[S.ERROR]
    assert error == "error: [redacted, 1 chars]"


def test_key_straddling_the_300_char_cut_is_masked_whole() -> None:
    body = ("x" * 290 + " " + SECRET + " tail").encode()  # not JSON; the key crosses char 300
    row = row_builder().build(_call(500, body))
    error = row[S.ERROR]
    assert isinstance(error, str)
    assert "response is not JSON" in error
    assert SECRET[:9] not in error  # not even the key's first characters
    new = {c[S.CONTENT_ID]: c[S.CONTENT_DATA] for c in row[S.NEW_CONTENT]}
    assert SECRET[:9] not in new[row[S.RESPONSE_CONTENT_ID]]


def test_unreadable_request_body_error_is_content_free_under_redact() -> None:
    raw = _call(200, b"{}", request=f"not json {CANARY} {SECRET}".encode())
    plain = row_builder().build(raw)[S.ERROR]
    assert isinstance(plain, str) and plain.startswith("request body unreadable: ")
    redacted = row_builder(redact=True).build(_call(200, b"{}", request=b"\xff{"))[S.ERROR]
    assert redacted in (
        "request body unreadable: JSONDecodeError",
        "request body unreadable: UnicodeDecodeError",
    )
