"""TLS listeners on 127.0.0.1 for tests, each on its own event loop in a thread.

`running_tls_front(target, ca, prefix="/api")`: a gateway in front of a plain-HTTP server
(the sim): it serves HTTPS with the `tests.tlsutil` certificate, answers only paths under
`prefix` (404 otherwise, as a gateway would) and forwards them with the prefix removed,
bodies streamed chunk by chunk and not decompressed. `Front.paths` lists the paths it got.

`running_tls_static(ca, body)`: an HTTPS server answering every request with `body`, the
"other host" a forward proxy must pass through untouched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.tlsutil import TestCA

__all__ = ["Front", "running_tls_front", "running_tls_handler", "running_tls_static"]

_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)


@dataclass
class Front:
    url: str  # https://127.0.0.1:PORT (without the prefix)
    port: int
    paths: list[str] = field(default_factory=list)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _forwarder(target: str, prefix: str, front: Front, app: web.Application) -> Handler:
    session: list[aiohttp.ClientSession] = []

    async def close(_app: web.Application) -> None:
        for s in session:
            await s.close()

    app.on_cleanup.append(close)

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path_qs
        front.paths.append(request.rel_url.raw_path)
        if not path.startswith(prefix + "/"):
            return web.Response(status=404, text=f"not found: only {prefix}/... is served\n")
        if not session:
            session.append(aiohttp.ClientSession(auto_decompress=False))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with session[0].request(
            request.method, target + path[len(prefix) :], headers=headers, data=await request.read()
        ) as upstream:
            reply = web.StreamResponse(status=upstream.status)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP:
                    reply.headers.add(k, v)
            await reply.prepare(request)
            async for chunk in upstream.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply

    return handle


@contextmanager
def _serve(app: web.Application, handler: Handler, ca: TestCA) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    started = threading.Event()
    ports: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ca.server_context())
        await site.start()
        server = site._server  # aiohttp does not expose the bound port otherwise
        assert isinstance(server, asyncio.Server), server
        ports.append(server.sockets[0].getsockname()[1])
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("TLS listener did not start")
    try:
        yield ports[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def running_tls_front(target: str, ca: TestCA, prefix: str = "/api") -> Iterator[Front]:
    front = Front("", 0)
    app = web.Application()
    with _serve(app, _forwarder(target.rstrip("/"), prefix, front, app), ca) as port:
        front.url, front.port = f"https://127.0.0.1:{port}", port
        yield front


@contextmanager
def running_tls_static(ca: TestCA, body: bytes) -> Iterator[Front]:
    front = Front("", 0)

    async def handle(request: web.Request) -> web.StreamResponse:
        front.paths.append(request.rel_url.raw_path)
        await request.read()
        return web.Response(body=body, content_type="application/octet-stream")

    with _serve(web.Application(), handle, ca) as port:
        front.url, front.port = f"https://127.0.0.1:{port}", port
        yield front


@contextmanager
def running_tls_handler(ca: TestCA, handler: Handler) -> Iterator[Front]:
    """An HTTPS server answering every request with `handler` (a test's own server)."""
    front = Front("", 0)
    with _serve(web.Application(), handler, ca) as port:
        front.url, front.port = f"https://127.0.0.1:{port}", port
        yield front
