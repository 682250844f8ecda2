"""Streaming a request's tokens as SSE.

The first write goes through aiohttp (it carries the buffered headers). After that, tokens
are *pushed*: the engine calls `Pusher.push` at the end of every step, which formats the new
tokens and writes one HTTP chunk straight to the socket. This skips a task wake-up and
aiohttp's write coroutine per token, which is what lets one process pace hundreds of
streams at 2 ms. A slow client (over `_MAX_BUFFER` bytes unsent) is simply not written to
until its buffer drains; the tokens go out with a later step or at the end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from aiohttp import web

from agentload.simengine import faults
from agentload.simengine.engine import Engine, SimRequest
from agentload.simengine.jobs import Codec, Job, Usage

SSE_HEADERS: Final = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_MAX_BUFFER: Final = 1 << 20


class Pusher:
    """Writes a request's new tokens as a chunked-encoding frame at the end of each step."""

    __slots__ = ("codec", "job", "sent", "transport", "usage")

    def __init__(self, codec: Codec, job: Job, usage: Usage, sent: int, request: web.Request):
        self.codec = codec
        self.job = job
        self.usage = usage
        self.sent = sent
        self.transport = request.transport

    def push(self, req: SimRequest) -> None:
        t = self.transport
        if t is None or t.is_closing() or t.get_write_buffer_size() > _MAX_BUFFER:
            return
        n = req.generated
        data = self.codec.stream_tokens(self.job, self.sent, n)
        if req.finished:
            self.usage.completion = n
            data += self.codec.stream_tail(self.job, self.usage)
        self.sent = n
        if data:
            raw = data.encode()
            t.write(b"%x\r\n%b\r\n" % (len(raw), raw))


async def stream(
    request: web.Request,
    engine: Engine,
    codec: Codec,
    job: Job,
    req: SimRequest,
    fault: str | None,
) -> tuple[web.StreamResponse, tuple[int, int] | None]:
    """Serve `req` as an SSE stream; returns the response and the first-token times."""
    resp = web.StreamResponse(headers=SSE_HEADERS)
    first: tuple[int, int] | None = None
    try:
        # a client gone before the headers (a run stopped with requests still queued in
        # the sim) is the same quiet abort as one gone later
        await resp.prepare(request)
        await req.wait(0)
        first = (time.monotonic_ns(), time.time_ns())
        usage = Usage(req.prompt_len, req.num_cached, 0)
        data = codec.stream_head(job, usage)
        if fault is not None:
            await _faulty(request, resp, codec, job, req, usage, data, fault)
            return resp, first
        n = req.generated
        data += codec.stream_tokens(job, 0, n)
        if req.finished:
            usage.completion = n
            await resp.write_eof((data + codec.stream_tail(job, usage)).encode())
            return resp, first
        await resp.write(data.encode())  # sends the headers too
        pusher = Pusher(codec, job, usage, n, request)
        req.sink = pusher.push
        try:
            await req.wait_done()
        finally:
            req.sink = None
        if pusher.sent < req.generated or pusher.usage.completion == 0:
            rest = codec.stream_tokens(job, pusher.sent, req.generated)
            usage.completion = req.generated
            await resp.write((rest + codec.stream_tail(job, usage)).encode())
        await resp.write_eof()
        return resp, first
    except ConnectionResetError:
        engine.abort(req)  # the client left: not an error of ours, nothing to log
        return resp, first
    except asyncio.CancelledError:
        engine.abort(req)
        raise


async def _faulty(
    request: web.Request,
    resp: web.StreamResponse,
    codec: Codec,
    job: Job,
    req: SimRequest,
    usage: Usage,
    head: str,
    fault: str,
) -> None:
    """The first token alone, then the fault (garbage-sse then streams on normally)."""
    await resp.write((head + codec.stream_tokens(job, 0, 1) + faults.garbage(fault)).encode())
    if await faults.after_first_write(fault, request):
        return
    sent = 1
    while True:
        n = req.generated
        data = codec.stream_tokens(job, sent, n)
        sent = n
        if req.finished:
            usage.completion = n
            await resp.write_eof((data + codec.stream_tail(job, usage)).encode())
            return
        await resp.write(data.encode())
        await req.wait(sent)
