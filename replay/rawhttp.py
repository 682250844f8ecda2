"""A minimal HTTP/1.1 client transport on asyncio protocols, for the replay hot path.

Only what replay needs: POST with a JSON body over keep-alive connections to one origin
(http, or https through asyncio's TLS and `transport.tls_context`), responses with chunked,
Content-Length or until-close bodies, a per-request silence timeout, no redirects, no
retries, no compression (no Accept-Encoding is sent). Bodies are de-chunked inside
`data_received`, so the consumer gets each read's payload with no per-chunk machinery in
between. About half the client CPU per request of aiohttp (docs/replay.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from time import monotonic
from urllib.parse import urlsplit

from agentload.replay.transport import Response, TransportError, tls_context
from agentload.traceformat.schema import ErrorKind

MAX_HEAD = 64 * 1024
PREWARM_TIMEOUT_S = 5.0
# New connections opened at once. A request finding no idle connection opens one only below
# this; otherwise it waits for the next connection released or for a free connect. Without
# the bound a short stall near one core's limit (8,500 requests/s) snowballed: the requests
# due meanwhile opened hundreds of connections at once, whose cost (~0.1 ms of CPU each)
# stalled the loop further (572 connections in 150 ms, lag up to 160 ms; issue 19).
MAX_CONNECTING = 16


class _Conn(asyncio.Protocol):
    """One connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.retry_after: str | None = None
        self.keep_alive = True
        self._head = b""
        self.in_body = False
        self._mode = ""  # "chunked" | "length" | "close"
        self._remaining = 0  # length mode: bytes left; chunked: bytes left in this chunk
        self._chunk_state = 0  # 0: size line, 1: data, 2: CRLF after data, 3: trailers
        self._raw = b""
        self.pieces: list[bytes] = []
        self.complete = False
        self.error: TransportError | None = None
        self.last_data = monotonic()
        self._waiter: asyncio.Future[None] | None = None

    # -- protocol callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._mode == "close" and self.in_body and exc is None:
            self.complete = True
        elif not self.complete and self.error is None:
            self.error = TransportError(
                ErrorKind.STREAM_ERROR, f"connection closed by the server: {exc or 'EOF'}"
            )
        self._wake()

    def data_received(self, data: bytes) -> None:
        self.last_data = monotonic()
        try:
            if not self.in_body:
                data = self._parse_head(data)
            if self.in_body and data:
                self._body(data)
        except TransportError as exc:
            self.error = exc
            if self.transport is not None:
                self.transport.close()
        self._wake()

    # -- parsing --------------------------------------------------------------------------
    def _parse_head(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD:
                raise TransportError(ErrorKind.STREAM_ERROR, "response head too long")
            return b""
        head, rest = self._head[:end], self._head[end + 4 :]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise TransportError(ErrorKind.STREAM_ERROR, f"bad status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        self._mode, length = "close", -1
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                self._mode = "chunked"
            elif name == b"content-length" and self._mode != "chunked":
                length = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
            elif name == b"retry-after":
                self.retry_after = value.strip().decode("latin-1")
        if self._mode != "chunked" and length >= 0:
            self._mode, self._remaining = "length", length
            if length == 0:
                self.complete = True
        if self._mode == "close":
            self.keep_alive = False
        self.in_body = True
        return rest

    def _body(self, data: bytes) -> None:
        if self._mode == "length":
            take = data[: self._remaining]
            self._remaining -= len(take)
            self.pieces.append(take)
            self.complete = self._remaining == 0
        elif self._mode == "close":
            self.pieces.append(data)
        else:
            self._dechunk(self._raw + data if self._raw else data)

    def _dechunk(self, buf: bytes) -> None:
        pos, n = 0, len(buf)
        while pos < n:
            if self._chunk_state == 1:  # inside chunk data
                take = buf[pos : pos + self._remaining]
                self.pieces.append(take)
                pos += len(take)
                self._remaining -= len(take)
                if self._remaining == 0:
                    self._chunk_state = 2
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            line = buf[pos:eol]
            pos = eol + 2
            if self._chunk_state == 0:
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise TransportError(
                        ErrorKind.STREAM_ERROR, f"bad chunk size {line[:40]!r}"
                    ) from None
                self._remaining = size
                self._chunk_state = 1 if size else 3
            elif self._chunk_state == 2:
                self._chunk_state = 0
            elif not line:  # end of trailers
                self.complete = True
                self._raw = b""
                return
        self._raw = buf[pos:]

    # -- consumer side --------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until new data, completion, an error, or `timeout` seconds without any byte."""
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_at(loop.time() + timeout, self._check_silence, timeout)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _check_silence(self, timeout: float) -> None:
        if monotonic() - self.last_data >= timeout * 0.999:
            self.error = TransportError(ErrorKind.TIMEOUT, f"no data for {timeout:g} s")
            self._wake()
        elif self._waiter is not None and not self._waiter.done():
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time() + timeout, self._check_silence, timeout)

    def send(self, head: bytes, body: bytes) -> None:
        self._reset()
        assert self.transport is not None
        # Two buffers, not head + body: no copy of the prompt (uvloop writes them with one
        # writev; what the socket does not take now stays referenced until it does).
        self.transport.writelines((head, body))


class _RawResponse:
    __slots__ = ("_conn", "_timeout", "retry_after", "status")

    def __init__(self, conn: _Conn, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout
        self.status = conn.status
        self.retry_after = conn.retry_after

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            if conn.pieces:
                pieces, conn.pieces = conn.pieces, []
                yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                continue
            if conn.error is not None:
                raise conn.error
            if conn.complete:
                return
            await conn.wait(self._timeout)

    async def text(self) -> str:
        data = b"".join([piece async for piece in self.chunks()])
        return data.decode("utf-8", "replace")


class RawTransport:
    def __init__(self, base: str, pool: int, timeout: float, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise TransportError(ErrorKind.CONNECT, f"raw transport needs http(s)://, got {base}")
        tls = parts.scheme == "https"
        self._ssl = tls_context() if tls else None
        self._host, self._port = parts.hostname, parts.port or (443 if tls else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        fixed = {"Host": parts.netloc, "Content-Type": "application/json", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(pool)
        self._all: set[_Conn] = set()
        self._connecting = 0
        # requests waiting for a connection: a released one, or None (open one yourself)
        self._waiters: deque[asyncio.Future[_Conn | None]] = deque()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        for conn in self._all:
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()

    async def prewarm(self, connections: int) -> None:
        # Bounded wait: an unreachable target must not hold the start for --timeout.
        timeout = min(self._timeout, PREWARM_TIMEOUT_S)
        opened = await asyncio.gather(
            *(self._new(timeout) for _ in range(connections)), return_exceptions=True
        )
        self._idle.extend(c for c in opened if isinstance(c, _Conn))  # failures show later

    async def _connect(self) -> _Conn:
        """An idle connection, else a new one (at most MAX_CONNECTING opening at once),
        else the next one released or the next free connect, whichever comes first."""
        woken = False  # handed a free connect: pass it on if this request does not use it
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    if woken:
                        self._wake_waiter(None)
                    return conn
            if self._connecting < MAX_CONNECTING:
                self._connecting += 1
                try:
                    return await self._new(self._timeout)
                finally:
                    self._connecting -= 1
                    self._wake_waiter(None)  # a connect is free: one waiter may open one
            handed = await self._wait_for_connection()
            if handed is None:
                woken = True
            elif not handed.closed:  # the server may close it before this request resumes
                return handed
            else:
                self._release(handed, reusable=False)

    async def _wait_for_connection(self) -> _Conn | None:
        waiter: asyncio.Future[_Conn | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after being handed something: give it to the next in line.
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is None:
                    self._wake_waiter(None)
                else:
                    self._release(handed, reusable=True)
            raise

    def _wake_waiter(self, conn: _Conn | None) -> bool:
        """Hand `conn` (or a free connect, None) to the first waiting request."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def _new(self, timeout: float) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Conn, self._host, self._port, ssl=self._ssl), timeout
            )
        except TimeoutError:
            raise TransportError(ErrorKind.TIMEOUT, "connect timed out") from None
        except OSError as exc:
            raise TransportError(ErrorKind.CONNECT, f"connect: {exc}") from None
        self._all.add(conn)
        return conn

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> _Exchange:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = f"POST {self._prefix}{path} HTTP/1.1\r\n{self._fixed}{extra}"
        return _Exchange(self, f"{head}Content-Length: {len(body)}\r\n\r\n".encode(), body)

    def _release(self, conn: _Conn, reusable: bool) -> None:
        if reusable and not conn.closed:
            if not self._wake_waiter(conn):
                self._idle.append(conn)
        else:
            self._all.discard(conn)
            if conn.transport is not None:
                conn.transport.close()


class _Exchange:
    """One request's hold on a pool slot and a connection (`async with transport.post()`).

    A class, not an `asynccontextmanager`: that keeps its arguments (the body) until the
    block exits, and a body must go once written: a call in flight waits seconds for its
    response, and 1,000 of them held 1,000 prompts."""

    __slots__ = ("_body", "_conn", "_head", "_pool")

    def __init__(self, pool: RawTransport, head: bytes, body: bytes) -> None:
        self._pool = pool
        self._head = head
        self._body: bytes | None = body
        self._conn: _Conn | None = None

    async def __aenter__(self) -> Response:
        pool = self._pool
        await pool._slots.acquire()
        try:
            conn = self._conn = await pool._connect()
            body, self._body = self._body, None
            assert body is not None, "an exchange is entered once"
            conn.send(self._head, body)
            del body
            while not conn.in_body:
                if conn.error is not None:
                    raise conn.error
                await conn.wait(pool._timeout)
        except BaseException:
            self._finish(reusable=False)
            raise
        return _RawResponse(conn, pool._timeout)

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        conn = self._conn
        assert conn is not None
        self._finish(exc_type is None and conn.complete and conn.keep_alive and conn.error is None)

    def _finish(self, reusable: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(conn, reusable)
        self._pool._slots.release()
