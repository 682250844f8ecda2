"""The raw transport's pool under a burst: at most MAX_CONNECTING connects at once, the
rest served by connections as they are released; nothing lost when waiters are cancelled.

The referee is the server: it counts the connections it accepted and the requests it
answered, each answer held back a little so that requests queue for connections."""

from __future__ import annotations

import asyncio

import pytest

from agentload.replay import rawhttp
from agentload.replay.rawhttp import RawTransport

BODY = b'data: {"choices":[{"text":"x"}]}\n\ndata: [DONE]\n\n'


async def _burst(n: int, cancel: int) -> tuple[int, int, int, int]:
    """`n` requests at once, the first `cancel` of them cancelled while they wait."""
    accepted, answered, peak_opening = 0, 0, 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted, answered
        accepted += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                await asyncio.sleep(0.01)
                answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = RawTransport(f"http://127.0.0.1:{port}", 1000, 10.0, {})
    real_new = transport._new

    async def counting_new(timeout: float) -> rawhttp._Conn:
        nonlocal peak_opening
        peak_opening = max(peak_opening, transport._connecting)
        await asyncio.sleep(0.005)  # a connect as slow as a remote one: requests queue
        return await real_new(timeout)

    transport._new = counting_new  # type: ignore[method-assign]

    async def one() -> bytes:
        async with transport.post("/v1/completions", b"{}", {}) as resp:
            return b"".join([c async for c in resp.chunks()])

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0)  # every request has asked for a connection
    for task in tasks[:cancel]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    ok = sum(r == BODY for r in results)
    idle, known = len(transport._idle), len(transport._all)
    waiting = sum(not w.done() for w in transport._waiters)
    await transport.close()
    server.close()
    return ok, accepted, peak_opening, idle - known - waiting


@pytest.mark.parametrize("cancel", [0, 20])
def test_a_burst_opens_few_connections_at_once_and_loses_none(
    monkeypatch: pytest.MonkeyPatch, cancel: int
) -> None:
    monkeypatch.setattr(rawhttp, "MAX_CONNECTING", 4)
    ok, accepted, peak, unaccounted = asyncio.run(_burst(200, cancel))
    assert ok == 200 - cancel  # every request not cancelled was answered
    assert peak <= 4  # never more than MAX_CONNECTING connects at once
    assert accepted <= 100  # released connections served most of the queue
    # every open connection is back in the pool and no request is left waiting
    assert unaccounted == 0
