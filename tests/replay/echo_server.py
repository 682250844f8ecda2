"""An HTTP server on 127.0.0.1 that refuses every request with a 401 quoting the key it
was given (as OpenAI's "Incorrect API key provided: sk-...") and lists one model, to test
that replay masks a key a server echoes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})


async def _refuse(request: web.Request) -> web.Response:
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
    body = {"error": {"message": f"Incorrect API key provided: {presented}"}}
    return web.json_response(body, status=401)


@contextmanager
def running_echo_401() -> Iterator[str]:
    """The server's base URL while the block runs."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/v1/models", _models)
    app.router.add_route("*", "/{tail:.*}", _refuse)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
