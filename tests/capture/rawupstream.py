"""A raw TCP upstream that misbehaves on purpose (bad chunk header, header line or status
line quoting 'content'; a reset before any response byte), for the hardening tests."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

REPLIES = {
    "badchunk": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nCANARYCHUNKSECRET user prompt text here\r\n",
    "badheader": b"HTTP/1.1 200 OK\r\nCANARYHDRSECRET prompt words without colon\r\n\r\n",
    "badstatus": b"HTTP/1.1 2x0 CANARYSTATUSSECRET reason\r\n\r\n",
}


def read_request(conn: socket.socket) -> bytes:
    """Read one request (its body by Content-Length); returns its head, b"" when the peer
    closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head


def _serve_one(conn: socket.socket, mode: str) -> None:
    with conn:
        conn.settimeout(10)
        try:
            read_request(conn)
            if mode == "reset":  # RST, not FIN: SO_LINGER 0 then close
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            conn.sendall(REPLIES[mode])
        except OSError:
            pass


@contextmanager
def raw_server(serve: Callable[[socket.socket], None], backlog: int = 16) -> Iterator[str]:
    """A TCP server on 127.0.0.1 handing each connection to `serve` on a thread of its own;
    yields its URL (http://...). One accept loop for every raw test server."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(backlog)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=loop, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()
        acceptor.join(5)


@contextmanager
def serving(mode: str) -> Iterator[str]:
    """A server answering every request with `mode` (reset or a REPLIES key); yields its URL."""
    with raw_server(lambda conn: _serve_one(conn, mode)) as url:
        yield url
