"""Injected faults for clients' error-handling tests (honoured only with --allow-faults).

Request header `X-Sim-Fault`:
  http500          answer 500 with an error body, before any work
  http429          answer 429 (rate limited) with `Retry-After: 2` and an error body, before
                   any work, as hosted APIs do when a key's quota is spent
  drop-mid-stream  close the connection right after the first streamed token
                   (non-streaming: once the first token exists, without a response)
  garbage-sse      send an SSE event whose data is not JSON after the first token, then go on
                   (non-streaming: a 200 whose body is not JSON)
  stall            send the first token, then nothing more until the client disconnects
                   (non-streaming: never answer)
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from agentload.simengine.engine import SimRequest
from agentload.simengine.errors import ApiError, bad_request

HEADER: Final = "X-Sim-Fault"
HTTP500: Final = "http500"
HTTP429: Final = "http429"
RETRY_AFTER_S: Final = 2  # the Retry-After the http429 fault sends
DROP: Final = "drop-mid-stream"
GARBAGE: Final = "garbage-sse"
STALL: Final = "stall"
ALL: Final = (HTTP500, HTTP429, DROP, GARBAGE, STALL)
# faults answered at once with an error status: (the error, extra response headers)
REFUSALS: Final[dict[str, tuple[ApiError, dict[str, str]]]] = {
    HTTP500: (ApiError(500, "injected fault: http500", type="server_error"), {}),
    HTTP429: (
        ApiError(429, "injected fault: http429 (rate limited)", type="rate_limit_error"),
        {"Retry-After": str(RETRY_AFTER_S)},
    ),
}


def requested(request: web.Request, allowed: bool) -> str | None:
    """The fault a request asks for (None without the header or without --allow-faults)."""
    value = request.headers.get(HEADER)
    if value is None or not allowed:
        return None
    value = value.strip().lower()
    if value not in ALL:
        raise bad_request(f"{HEADER}: unknown fault {value!r} (known: {', '.join(ALL)})")
    return value


def garbage(fault: str | None) -> str:
    return "data: {this is not json\n\n" if fault == GARBAGE else ""


async def after_first_write(fault: str, request: web.Request) -> bool:
    """Act after a streamed write; True when the handler must stop (connection is gone)."""
    if fault == DROP:
        if request.transport is not None:
            request.transport.abort()
        return True
    if fault == STALL:
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.1)
        return True
    return False


async def non_streaming(fault: str, request: web.Request, req: SimRequest) -> web.Response:
    """The fault for a non-streaming request, once its output is computed (or started)."""
    if fault == GARBAGE:
        await req.wait_done()
        return web.Response(text='{"this is": not json', content_type="application/json")
    await req.wait(0)
    if fault == DROP and request.transport is not None:
        request.transport.abort()
    while fault == STALL and request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.1)
    return web.Response(status=200)  # never delivered: the connection is gone
