"""RawCall -> one trace row (runs on the writer thread, never on the proxy loop)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentload.capture.apis import ParsedRequest, PartCache, dumps, parse_request
from agentload.capture.decode import make_decoder
from agentload.capture.flowdata import RawCall
from agentload.capture.secrets import scrub_text, scrub_value
from agentload.capture.session_keys import WORKLOAD_HEADER, echo_text, group_key, spawn_args
from agentload.capture.stitch import Assignment, CallKeys, Stitcher
from agentload.capture.workload import WorkloadRule, label_for
from agentload.providers.response_summary import ResponseSummary, StreamSummary, summarize_json
from agentload.providers.sse import parse_recorded
from agentload.traceformat import schema as S
from agentload.traceformat.content import ContentStore

__all__ = ["RowBuilder", "Timing", "proxy_error_redacted", "read_response"]


@dataclass(frozen=True)
class Timing:
    first_token_ns: int | None
    offsets_ns: list[int]  # content-bearing events, ns after request start
    cut: bool  # the stream ended mid-event


def _sse(raw: RawCall, summary: StreamSummary) -> Timing:
    rec = raw.recorder
    assert rec is not None
    chunks = rec.chunks
    if raw.response_encoding:
        decoder = make_decoder(raw.response_encoding)
        chunks = [decoder(c) for c in chunks]
    end = raw.t_response_end_ns or (rec.times[-1] if rec.times else raw.t_request_start_ns)
    events, cut, malformed = parse_recorded(chunks, rec.times, end)
    add = summary.add
    times = [e.t_ns for e in events if add(e.event, e.data)]
    if malformed and summary.error is None:
        summary.error = f"malformed SSE: {malformed} unparseable block(s)"
        summary.error_redacted = summary.error
    elif summary.bad_events and summary.error is None:
        summary.error = f"malformed SSE: {summary.bad_events} event(s) with invalid JSON"
        summary.error_redacted = summary.error
    start = raw.t_request_start_ns
    # A body cut at agentload_max_record_mb reached the client whole: not a partial call.
    return Timing(
        times[0] if times else None, [t - start for t in times], cut and not rec.truncated
    )


def _body(raw: RawCall) -> bytes:
    if raw.buffered_body is not None:
        data = raw.buffered_body
    elif raw.recorder is not None:
        data = b"".join(raw.recorder.chunks)
    else:
        return b""
    return make_decoder(raw.response_encoding)(data)


def read_response(raw: RawCall) -> tuple[ResponseSummary, Timing]:
    """Parse the recorded response; never raises for malformed bodies (errors are noted)."""
    try:
        return _read_response(raw)
    except Exception as exc:  # a corrupt Content-Encoding stream, say
        end = raw.t_response_end_ns
        summary = ResponseSummary(
            error=f"response unreadable: {exc}"[:300],
            error_redacted=f"response unreadable: {type(exc).__name__}",
        )
        return summary, Timing(end, [], False)


def _read_response(raw: RawCall) -> tuple[ResponseSummary, Timing]:
    is_sse = "event-stream" in raw.response_type
    if is_sse and raw.recorder is not None:
        stream = StreamSummary(raw.api)
        timing = _sse(raw, stream)
        return stream.result(), timing
    times = raw.recorder.times if raw.recorder is not None else []
    first = times[0] if times else raw.t_response_end_ns
    timing = Timing(first, [first - raw.t_request_start_ns] if first else [], False)
    body = _body(raw)
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        # Scrubbed before it is cut, so a key straddling the cut is masked whole.
        text = scrub_text(body[:600].decode("utf-8", "replace"))[:300]
        summary = ResponseSummary(
            error=f"response is not JSON: {text!r}",
            error_redacted=f"response is not JSON: [redacted, {len(body)} bytes]",
            content=text,
        )
        return summary, timing
    return summarize_json(raw.api, decoded), timing


# mitmproxy quotes unparseable bytes as b'...', bytearray(b'...') or '...' (repr).
_QUOTED = re.compile(r"""bytearray\(|b'|b"|'|\"""")


def proxy_error_redacted(message: str) -> str:
    """mitmproxy's message up to the first quoted text, which is replaced by its length:
    `illegal chunk header: bytearray(b'<content>')` keeps no byte of the content."""
    m = _QUOTED.search(message)
    if m is None:
        return message[:300]
    head = message[: m.start()].rstrip(" :")
    return f"{head}: [redacted, {len(message) - m.start()} chars]"


def _error(
    raw: RawCall, summary: ResponseSummary, request_error: tuple[str, str] | None, redact: bool
) -> str | None:
    """The error column: every error of the call, credential-shaped strings masked. Under
    redact, text quoted from a body (provider messages, a non-JSON body) is left out: only
    error types/codes, statuses, counts and lengths remain."""
    parts = []
    if request_error is not None:
        parts.append(request_error[1] if redact else request_error[0])
    if raw.proxy_error and not summary.complete:
        # mitmproxy's own message (disconnects, timeouts); some quote the bytes it could not
        # parse (a bad chunk header or status line), which may be content
        parts.append(proxy_error_redacted(raw.proxy_error) if redact else raw.proxy_error[:300])
    error = summary.error_redacted if redact else summary.error
    if summary.error is not None and error is None:  # a summary built without the safe form
        error = "error: [redacted]"
    if raw.status is not None and raw.status >= 400:
        parts.append(error or f"HTTP {raw.status}")
    elif error:
        parts.append(error)
    return scrub_text("; ".join(parts)) if parts else None


class RowBuilder:
    """Turns RawCalls into TRACE rows, storing each distinct content part once per file."""

    def __init__(
        self,
        store: ContentStore,
        stitcher: Stitcher,
        *,
        session_headers: Sequence[str],
        rules: Sequence[WorkloadRule],
        default_workload: str,
        redact: bool,
    ) -> None:
        self.store = store
        self.stitcher = stitcher
        self.session_headers = tuple(h.lower() for h in session_headers)
        self.rules = tuple(rules)
        self.default_workload = default_workload
        self.redact = redact
        self.parts = PartCache()  # request parts by raw text: histories repeat every turn
        # Content ids of request parts, by text. The texts are PartCache's own str objects,
        # whose hash Python keeps, so a resent part costs a dict lookup, not a BLAKE2b pass.
        self._ids: dict[str, str] = {}
        self._ids_chars = 0

    def _part_id(self, text: str) -> str:
        """store.add(text) without hashing a part the store already holds."""
        cid = self._ids.get(text)
        if cid is None:
            cid = self.store.add(text, redact=self.redact)
            if self._ids_chars > 32 << 20:
                self._ids.clear()
                self._ids_chars = 0
            self._ids[text] = cid
            self._ids_chars += len(text)
        elif cid not in self.store:  # a new file: store it again
            self.store.add(text, redact=self.redact)
        return cid

    def _request(self, raw: RawCall) -> tuple[ParsedRequest | None, tuple[str, str] | None]:
        try:
            body = make_decoder(raw.request_encoding)(raw.request_body)
            return parse_request(raw.api, body, self.parts), None
        except Exception as exc:  # undecodable bytes of any kind (zlib, zstd, brotli, JSON)
            full = f"request body unreadable: {exc}"[:300]
            return None, (full, f"request body unreadable: {type(exc).__name__}")

    def build(self, raw: RawCall) -> dict[str, Any]:
        req, req_error = self._request(raw)
        summary, timing = read_response(raw)
        part_ids: list[str] = []
        if req is not None:
            part_id = self._part_id
            part_ids = [part_id(req.envelope)]
            part_ids += [part_id(m) for m in req.messages]
        response_id = None
        content = None
        if summary.content is not None:
            # scrub_value: the assembled tool calls' arguments are JSON held in strings
            content = scrub_value(summary.content)
            response_id = self.store.add(dumps(content), redact=self.redact)
        end = raw.t_response_end_ns or raw.t_request_start_ns
        keys = CallKeys(
            t_start_ns=raw.t_request_start_ns,
            t_end_ns=end,
            group_key=group_key(raw.headers, req.body if req else {}, self.session_headers),
            message_ids=tuple(part_ids[1:]),
            tool_result_ids=req.tool_result_ids if req else frozenset(),
            previous_response_id=req.previous_response_id if req else None,
            emitted_tool_ids=summary.tool_call_ids,
            response_id=summary.response_id,
            envelope=req.envelope if req else None,
            message_texts=req.messages if req else (),
            spawn_args=spawn_args(raw.api, content) if summary.tool_call_ids else (),
            echo=echo_text(raw.api, content),
        )
        where = self.stitcher.assign(keys)
        error = _error(raw, summary, req_error, self.redact)
        return self._row(raw, req, summary, timing, where, error) | {
            S.REQUEST_CONTENT_IDS: part_ids,
            S.RESPONSE_CONTENT_ID: response_id,
            S.NEW_CONTENT: self.store.take_new(),
        }

    def _row(
        self,
        raw: RawCall,
        req: ParsedRequest | None,
        summary: ResponseSummary,
        timing: Timing,
        where: Assignment,
        error: str | None,
    ) -> dict[str, Any]:
        model = req.model if req else None
        return {
            S.SESSION_ID: where.session_id,
            S.CALL_INDEX: where.call_index,
            S.PARENT_SESSION_ID: where.parent_session_id,
            S.PARENT_CALL_INDEX: where.parent_call_index,
            # A key in the path (some gateways), the model field or the workload header must
            # not reach the disk either: these columns are kept under --redact-content.
            S.WORKLOAD: scrub_text(
                label_for(
                    raw.headers.get(WORKLOAD_HEADER),
                    raw.path,
                    model,
                    self.rules,
                    self.default_workload,
                )
            ),
            S.API: raw.api.value,
            S.ENDPOINT: scrub_text(raw.path),
            S.MODEL: scrub_text(model) if model is not None else None,
            S.STREAM: req.stream if req else "event-stream" in raw.response_type,
            S.T_REQUEST_START_NS: raw.t_request_start_ns,
            S.T_RESPONSE_HEADERS_NS: raw.t_response_headers_ns,
            S.T_FIRST_TOKEN_NS: timing.first_token_ns,
            S.T_RESPONSE_END_NS: raw.t_response_end_ns,
            S.CHUNK_OFFSETS_NS: timing.offsets_ns,
            S.PROMPT_TOKENS: summary.usage.prompt,
            S.COMPLETION_TOKENS: summary.usage.completion,
            S.CACHED_TOKENS: summary.usage.cached,
            S.REASONING_TOKENS: summary.usage.reasoning,
            S.HTTP_STATUS: raw.status,
            S.ERROR: error,
            S.FINISH_REASON: summary.finish_reason,
            S.PARTIAL: (raw.partial and not summary.complete) or timing.cut,
            S.STITCH: where.stitch,
        }
