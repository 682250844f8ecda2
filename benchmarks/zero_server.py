"""A zero-latency streaming server for client benchmarks: canned SSE, no model, no parsing.

`python -m benchmarks.zero_server PORT TOKENS` answers every POST with TOKENS completion
events, a usage event and [DONE], in one chunked write, over keep-alive HTTP/1.1. It exists
so client overhead (TTFT at concurrency 1) can be measured without any server-side cost.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop


def canned(tokens: int) -> bytes:
    events = b"".join(
        b'data: {"choices":[{"index":0,"text":"x","finish_reason":null}]}\n\n'
        for _ in range(tokens)
    )
    events += (
        b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":%d,'
        b'"prompt_tokens_details":{"cached_tokens":0}}}\n\ndata: [DONE]\n\n' % tokens
    )
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + b"%x\r\n" % len(events) + events + b"\r\n0\r\n\r\n"


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Handler(asyncio.Protocol):
    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = content_length(self.buf[:end])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self.response)


async def main(port: int, tokens: int) -> None:
    response = canned(tokens)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(response), "127.0.0.1", port)
    print(
        f"zero server listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
        flush=True,
    )
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 16))
