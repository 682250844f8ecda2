"""Send one call and turn whatever happens into exactly one result row.

The hot path of the replayer: a monotonic timestamp is taken for every network read the
moment the coroutine resumes with it, the SSE parser counts the content events in it, and
nothing else happens per chunk. Failures are never retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import monotonic_ns
from typing import Any

from agentload.providers.api import Api
from agentload.providers.counter import StreamError, StreamParser
from agentload.providers.errors import error_text
from agentload.replay.transport import Transport, TransportError
from agentload.traceformat import schema as S
from agentload.traceformat.schema import ErrorKind

Row = dict[str, Any]
MAX_ERROR_TEXT = 500


@dataclass(slots=True)
class Request:
    """A call ready to send: its body, and the row its outcome fills.

    `issue` takes the body out, so no one else holds it while the call is in flight (a
    long agentic prompt is tens of KB; 1,000 sessions waiting on responses held 1,000)."""

    path: str
    body: bytes | None
    headers: dict[str, str]
    api: Api
    row: Row

    def take_body(self) -> bytes:
        """The body, no longer held here: the transport's reference is the last one."""
        body, self.body = self.body, None
        assert body is not None, "a request is sent once"
        return body


async def issue(transport: Transport, request: Request, emit: Callable[[Row], None]) -> Row:
    """Send the request's body, fill its row with times, usage and status, `emit` it,
    return it. The body is dropped once the transport has written it.

    A cancellation (no-drain stop, SIGINT) still emits a `cancelled` row before it
    propagates."""
    row = request.row
    parser = StreamParser(request.api)
    offsets: list[int] = []
    counts: list[int] = []
    first = 0
    t_sent = monotonic_ns()
    row[S.T_SENT_NS] = t_sent
    try:
        # No local holds the body: the raw transport drops it once written, before the
        # response (aiohttp and httpx keep it until the response ends).
        async with transport.post(request.path, request.take_body(), request.headers) as resp:
            row[S.HTTP_STATUS] = resp.status
            if resp.status >= 400:
                text = await resp.text()
                _fail(row, *http_error(resp.status, text, resp.retry_after))
            else:
                async for data in resp.chunks():
                    now = monotonic_ns()
                    n = parser.feed(data)
                    if n:
                        if not first:
                            first = now
                        offsets.append(now - t_sent)
                        counts.append(n)
                row[S.T_END_NS] = monotonic_ns()
                if not parser.done:
                    _fail(row, ErrorKind.STREAM_ERROR, "stream ended before its end marker")
    except TransportError as exc:
        _fail(row, exc.kind, str(exc))
    except StreamError as exc:
        _fail(row, ErrorKind.STREAM_ERROR, str(exc))
    except asyncio.CancelledError:
        _fail(row, ErrorKind.CANCELLED, "cancelled before the response ended")
        _finish(row, parser, offsets, counts, first)
        emit(row)
        raise
    _finish(row, parser, offsets, counts, first)
    emit(row)
    return row


def http_error(status: int, body: str, retry_after: str | None) -> tuple[ErrorKind, str]:
    """The kind and message of an error response: `HTTP <status>: <the server's message>`
    (the error object's type and message when the body is a JSON error, else the body);
    a 429 is `rate_limited` and names the Retry-After seconds the server asked for."""
    try:
        message = error_text(json.loads(body)) or body.strip()
    except ValueError:
        message = body.strip()
    if status == 429:
        wait = retry_after_s(retry_after)
        after = "" if wait is None else f" (Retry-After {wait:g} s)"
        return ErrorKind.RATE_LIMITED, f"HTTP 429{after}: {message}"
    kind = ErrorKind.HTTP_5XX if status >= 500 else ErrorKind.HTTP_4XX
    return kind, f"HTTP {status}: {message}"


def retry_after_s(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait: delay-seconds or an HTTP-date (RFC 9110
    10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, round(when - time.time()))


def _fail(row: Row, kind: ErrorKind, message: str) -> None:
    row[S.STATUS] = "error"
    row[S.ERROR_KIND] = kind.value
    row[S.ERROR] = message[:MAX_ERROR_TEXT]


def _finish(
    row: Row, parser: StreamParser, offsets: list[int], counts: list[int], first: int
) -> None:
    if S.STATUS not in row:
        row[S.STATUS] = "ok"
    if S.T_END_NS not in row:
        row[S.T_END_NS] = monotonic_ns()
    if first:
        row[S.T_FIRST_TOKEN_NS] = first
    row[S.CHUNK_OFFSETS_NS] = offsets
    row[S.CHUNK_TOKENS] = counts
    row[S.PROMPT_TOKENS] = parser.prompt
    row[S.COMPLETION_TOKENS] = parser.completion
    row[S.CACHED_TOKENS] = parser.cached
