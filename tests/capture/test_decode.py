"""Compressed bodies: a gzip request body and a zstd-encoded SSE stream, chunked arbitrarily,
parse to the same row as the plain ones; chunk times survive decompression."""

from __future__ import annotations

import gzip
import json

import zstandard

from agentload.capture.flowdata import ChunkRecorder, RawCall
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Api
from tests.capture.tracehelper import row_builder

REQUEST = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
EVENTS = [{"choices": [{"index": 0, "delta": {"content": f"t{i}"}}]} for i in range(4)] + [
    {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
]
SSE = "".join(f"data: {json.dumps(e)}\n\n" for e in EVENTS).encode() + b"data: [DONE]\n\n"


def _row(
    body: bytes, req_enc: str | None, stream: bytes, resp_enc: str | None
) -> dict[str, object]:
    rec = ChunkRecorder(1 << 20)
    step = max(1, len(stream) // 7)
    for i in range(0, len(stream), step):
        rec(stream[i : i + step])
    rec.times = [1_000 + 10 * k for k in range(len(rec.times))]  # deterministic clock
    raw = RawCall(
        api=Api.OPENAI_CHAT,
        path="/v1/chat/completions",
        t_request_start_ns=0,
        headers={},
        request_body=body,
        request_encoding=req_enc,
        t_response_end_ns=10_000,
        status=200,
        response_type="text/event-stream",
        response_encoding=resp_enc,
        recorder=rec,
    )
    return row_builder().build(raw)


def _sse_call(rec: ChunkRecorder, partial: bool = False, proxy_error: str | None = None) -> RawCall:
    """A plain chat call of REQUEST whose streamed response is what `rec` recorded."""
    return RawCall(
        api=Api.OPENAI_CHAT,
        path="/v1/chat/completions",
        t_request_start_ns=0,
        headers={},
        request_body=json.dumps(REQUEST).encode(),
        t_response_end_ns=5,
        status=200,
        response_type="text/event-stream",
        recorder=rec,
        partial=partial,
        proxy_error=proxy_error,
    )


def test_gzip_request_and_zstd_stream_match_plain() -> None:
    plain = _row(json.dumps(REQUEST).encode(), None, SSE, None)
    packed = _row(
        gzip.compress(json.dumps(REQUEST).encode()),
        "gzip",
        zstandard.ZstdCompressor().compress(SSE),
        "zstd",
    )
    assert plain[S.COMPLETION_TOKENS] == packed[S.COMPLETION_TOKENS] == 4
    assert plain[S.REQUEST_CONTENT_IDS] == packed[S.REQUEST_CONTENT_IDS]
    assert plain[S.RESPONSE_CONTENT_ID] == packed[S.RESPONSE_CONTENT_ID]
    assert plain[S.ERROR] is None and packed[S.ERROR] is None
    offsets = plain[S.CHUNK_OFFSETS_NS]
    assert isinstance(offsets, list) and len(offsets) == 4
    assert packed[S.T_FIRST_TOKEN_NS] is not None


def test_redacted_content_keeps_ids_and_sizes_only() -> None:
    rec = ChunkRecorder(1 << 20)
    rec(SSE)
    raw = _sse_call(rec)
    row = row_builder(redact=True).build(raw)
    new = row[S.NEW_CONTENT]
    assert isinstance(new, list) and len(new) == 3
    assert all(c[S.CONTENT_DATA] is None and c[S.CONTENT_SIZE] > 0 for c in new)


def test_corrupt_encodings_become_errors_not_crashes() -> None:
    row = _row(b"\x1f\x8b not gzip", "gzip", b"(\xb5/\xfd garbage", "zstd")
    error = row[S.ERROR]
    assert isinstance(error, str)
    assert "request body unreadable" in error and "response unreadable" in error


def test_client_closing_after_the_terminal_event_is_not_an_abort() -> None:
    def aborted(stream: bytes) -> dict[str, object]:
        rec = ChunkRecorder(1 << 20)
        rec(stream)
        raw = _sse_call(rec, partial=True, proxy_error="Client disconnected.")
        return row_builder().build(raw)

    done = aborted(SSE)  # the SDK stops reading at [DONE] and closes the connection
    assert done[S.PARTIAL] is False and done[S.ERROR] is None
    cut = aborted(SSE[: SSE.index(b"data: [DONE]")])
    assert cut[S.PARTIAL] is True and cut[S.ERROR] == "Client disconnected."
