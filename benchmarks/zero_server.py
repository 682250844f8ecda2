"""A zero-latency streaming server for client benchmarks: canned SSE, no model, no parsing.

`python -m benchmarks.zero_server PORT TOKENS [LOG]` answers every POST with TOKENS
completion events, a usage event and [DONE], in one chunked write, over keep-alive HTTP/1.1.
It exists so client overhead (TTFT at concurrency 1) can be measured without any server-side
cost. With LOG, it keeps each request's arrival (`time.monotonic_ns()` when its head was
complete) and X-Session-ID, and writes them as "NS SESSION" lines to LOG on SIGTERM: a
referee for a client's schedule lag that costs the server nothing per byte of prompt.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

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
    return int(_header(head, b"content-length") or 0)


def _header(head: bytes, wanted: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


class Handler(asyncio.Protocol):
    def __init__(self, response: bytes, log: list[tuple[int, bytes]] | None = None) -> None:
        self.response = response
        self.log = log
        self.logged = False
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
            head = self.buf[:end]
            length = content_length(head)
            if self.log is not None and not self.logged:
                self.logged = True  # once per request, as soon as its head is complete
                self.log.append((time.monotonic_ns(), _header(head, b"x-session-id") or b"-"))
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.logged = False
            assert self.transport is not None
            self.transport.write(self.response)


async def main(port: int, tokens: int, log_path: str | None = None) -> None:
    response = canned(tokens)
    log: list[tuple[int, bytes]] | None = None if log_path is None else []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Handler(response, log), "127.0.0.1", port, backlog=65535
    )
    print(
        f"zero server listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
        flush=True,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    if log_path is not None and log is not None:
        with open(log_path, "wb") as fh:
            fh.writelines(b"%d %b\n" % (ns, sid) for ns, sid in log)


if __name__ == "__main__":
    argv = sys.argv[1:]
    uvloop.run(main(int(argv[0]), int(argv[1]) if len(argv) > 1 else 16, *argv[2:3]))
