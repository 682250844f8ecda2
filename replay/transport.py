"""HTTP transports behind one small protocol: POST a body, stream the response's bytes.

Three implementations: `replay.rawhttp` (the default, http and https: a minimal HTTP/1.1
client with the lowest CPU per request), aiohttp and httpx (on request; httpx costs about
ten times the CPU per request, see docs/replay.md "Client throughput"). All keep a
keep-alive pool sized to the run's concurrency, never retry, and turn their own exceptions
into a `TransportError` carrying an `ErrorKind`.

None asks for compression: chunks are timed as their bytes arrive and parsed as sent, so a
compressed body would be unreadable (raw sends no Accept-Encoding; aiohttp and httpx, which
advertise gzip and br by default, send `Accept-Encoding: identity`). All verify TLS against
one context (`tls_context`: the system's trust store, or SSL_CERT_FILE / SSL_CERT_DIR).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import aiohttp
import httpx

from agentload.replay.config import TransportChoice
from agentload.traceformat.schema import ErrorKind

NO_COMPRESSION = {"Accept-Encoding": "identity"}  # for clients advertising gzip/br by default


def tls_context() -> ssl.SSLContext:
    """The one TLS client context: verifies against the system's trust store, which
    OpenSSL extends with SSL_CERT_FILE and SSL_CERT_DIR (a private CA)."""
    return ssl.create_default_context()


class TransportError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Response(Protocol):
    status: int
    retry_after: str | None  # the Retry-After header as sent (read by the client on 429)

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def text(self) -> str: ...


class Transport(Protocol):
    async def open(self) -> None: ...

    async def prewarm(self, connections: int) -> None:
        """Open up to `connections` idle keep-alive connections before the schedule starts,
        so early requests do not pay (and report) a TCP handshake."""

    async def close(self) -> None: ...

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[Response]: ...


class _AioResponse:
    __slots__ = ("_resp", "retry_after", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.retry_after = resp.headers.get("Retry-After")

    def chunks(self) -> AsyncIterator[bytes]:
        return self._resp.content.iter_any()

    async def text(self) -> str:
        return (await self._resp.read()).decode("utf-8", "replace")


class AiohttpTransport:
    def __init__(self, base: str, pool: int, timeout: float, headers: Mapping[str, str]) -> None:
        self._base = base.rstrip("/")
        self._pool = pool
        self._timeout = timeout
        self._headers = dict(headers)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool, limit_per_host=0, ttl_dns_cache=None, ssl=tls_context()
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._timeout, sock_read=self._timeout
            ),
            headers={"Content-Type": "application/json", **NO_COMPRESSION, **self._headers},
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def prewarm(self, connections: int) -> None:
        return None  # aiohttp opens connections on demand only

    @asynccontextmanager
    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[Response]:
        assert self._session is not None, "transport not opened"
        try:
            async with self._session.post(self._base + path, data=body, headers=headers) as r:
                yield _AioResponse(r)
        except TransportError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TransportError(ErrorKind.TIMEOUT, f"timeout: {exc!r}") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(ErrorKind.CONNECT, f"connect: {exc}") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransportError(ErrorKind.STREAM_ERROR, f"{type(exc).__name__}: {exc}") from None


class _HttpxResponse:
    __slots__ = ("_resp", "retry_after", "status")

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.retry_after = resp.headers.get("Retry-After")

    def chunks(self) -> AsyncIterator[bytes]:
        return self._resp.aiter_raw()

    async def text(self) -> str:
        return (await self._resp.aread()).decode("utf-8", "replace")


class HttpxTransport:
    def __init__(self, base: str, pool: int, timeout: float, headers: Mapping[str, str]) -> None:
        self._client = httpx.AsyncClient(
            base_url=base.rstrip("/"),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            timeout=httpx.Timeout(timeout, pool=None),
            headers={"Content-Type": "application/json", **NO_COMPRESSION, **headers},
            verify=tls_context(),
        )

    async def open(self) -> None:
        return None

    async def prewarm(self, connections: int) -> None:
        return None  # httpx opens connections on demand only

    async def close(self) -> None:
        await self._client.aclose()

    @asynccontextmanager
    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[Response]:
        request = self._client.build_request("POST", path, content=body, headers=headers)
        try:
            resp = await self._client.send(request, stream=True)
            try:
                yield _HttpxResponse(resp)
            finally:
                await resp.aclose()
        except TransportError:
            raise
        except httpx.TimeoutException as exc:
            raise TransportError(ErrorKind.TIMEOUT, f"timeout: {exc!r}") from None
        except httpx.ConnectError as exc:
            raise TransportError(ErrorKind.CONNECT, f"connect: {exc}") from None
        except (httpx.HTTPError, ConnectionError) as exc:
            raise TransportError(ErrorKind.STREAM_ERROR, f"{type(exc).__name__}: {exc}") from None
        except asyncio.CancelledError:
            raise


def make_transport(
    choice: TransportChoice, base: str, pool: int, timeout: float, headers: Mapping[str, str]
) -> Transport:
    if choice is TransportChoice.HTTPX:
        return HttpxTransport(base, pool, timeout, headers)
    if choice is TransportChoice.RAW:
        from agentload.replay.rawhttp import RawTransport  # imports this module: import it lazily

        return RawTransport(base, pool, timeout, headers)
    return AiohttpTransport(base, pool, timeout, headers)
