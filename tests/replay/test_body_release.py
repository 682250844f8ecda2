"""A request body is dropped once written: a call waiting for its response holds none
(1,000 sessions waiting on a slow engine would otherwise hold 1,000 long prompts)."""

from __future__ import annotations

import asyncio
import sys

from agentload.providers.api import Api
from agentload.replay.client import Request, issue
from agentload.replay.rawhttp import RawTransport
from agentload.traceformat import schema as S

SSE = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n'


async def _exchange(body_size: int) -> tuple[int, int, bytes, str]:
    """Send one body to a server that answers only when told; the body's reference count
    before the call and while the response is awaited, what the server got, the status."""
    got_body = asyncio.Event()
    answer = asyncio.Event()
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        received.append(await reader.readexactly(length))
        got_body.set()
        await answer.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(SSE), SSE))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = RawTransport(f"http://127.0.0.1:{port}", 1, 10.0, {})
    body = b"x" * body_size
    before = sys.getrefcount(body)
    request = Request("/v1/chat/completions", body, {}, Api.OPENAI_CHAT, {})
    call = asyncio.create_task(issue(transport, request, lambda _row: None))
    await asyncio.wait_for(got_body.wait(), 10)
    await asyncio.sleep(0.05)  # the client is now waiting for the response head
    during = sys.getrefcount(body)
    answer.set()
    row = await asyncio.wait_for(call, 10)
    await transport.close()
    server.close()
    await server.wait_closed()
    return before, during, received[0], row[S.STATUS]


def test_a_body_is_not_held_while_its_response_is_awaited() -> None:
    before, during, received, status = asyncio.run(_exchange(200_000))
    assert received == b"x" * 200_000  # written whole, byte for byte
    assert during == before  # only this test's own reference is left
    assert status == "ok"
