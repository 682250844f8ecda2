"""The servers the catalogue's attempts talk to, started once per run: misbehaving raw TCP
servers (the note's 18010..18019) and a fake OpenAI upstream that answers each capture
scenario with known bytes and remembers the digest of every request body it saw."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli  # type: ignore[import-untyped]
import zstandard

from tests.capture.rawupstream import raw_server, read_request

HTML = b"<html><body><h1>Welcome to nginx</h1></body></html>"


def _http(status: str, ctype: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def _trickle(conn: socket.socket) -> None:
    """The note's trickle: a chunked 200 whose body is ': keepalive' lines every 0.5 s
    (not chunk sizes: a client reading it finds a bad chunk size)."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(120):
        conn.sendall(b": keepalive\n\n")
        time.sleep(0.5)


BEHAVIOURS: dict[str, Callable[[socket.socket], None]] = {
    "blackhole": lambda c: time.sleep(60),
    "html": lambda c: c.sendall(_http("200 OK", "text/html", HTML)),
    "html502": lambda c: c.sendall(_http("502 Bad Gateway", "text/html", HTML)),
    "halfheader": lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty"),
    "garbagestatus": lambda c: c.sendall(b"GARBAGE STATUS LINE\r\n\r\n"),
    "trickle": _trickle,
    "badchunk": lambda c: c.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-hex\r\nabc\r\n"
    ),
    "clmismatch": lambda c: c.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{}"
    ),
    "rst": lambda c: c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
    "hugeheader": lambda c: c.sendall(
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    ),
}


def _serve_one(conn: socket.socket, mode: str) -> None:
    with conn:
        conn.settimeout(70)
        try:
            read_request(conn)
            BEHAVIOURS[mode](conn)
        except OSError:
            pass


@contextmanager
def bad_server(mode: str) -> Iterator[str]:
    with raw_server(lambda conn: _serve_one(conn, mode), backlog=64) as url:
        yield url


@contextmanager
def bad_servers() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {f"bad-{m}": stack.enter_context(bad_server(m)) for m in BEHAVIOURS}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- fake OpenAI upstream ---------------------------------------------------------------
def _sse(*events: object) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def _chunk(text: str) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
SSE = _sse(_chunk("hello"), _chunk(" world"), {**_chunk(""), "usage": USAGE})
JSON = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "usage": USAGE,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hello world"},
            }
        ],
    }
).encode()
ANTHROPIC_SSE = b"".join(
    f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "m1",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [],
                    "usage": {"input_tokens": 12, "output_tokens": 0},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 1},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: gzip.compress(b, mtime=0),  # no timestamp: the same bytes each time
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    "deflate": zlib.compress,
}


def reply_for(scenario: str) -> tuple[int, str, bytes, str | None]:
    """(status, content type, body, content-encoding) the fake upstream sends."""
    kind, _, enc = scenario.partition("-")
    if scenario == "anthropic-sse":
        return 200, "text/event-stream", ANTHROPIC_SSE, None
    if scenario == "response-10MB":
        return 200, "application/json", b'{"pad": "' + b"x" * (10 << 20) + b'"}', None
    if scenario == "err401-json":
        body = {
            "error": {
                "message": "Incorrect API key provided: sk-proj-CANARY401KEY",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
        return 401, "application/json", json.dumps(body).encode(), None
    if scenario == "err401-html":
        return 401, "text/html", b"<html>401 key sk-proj-CANARY401HTML</html>", None
    if scenario == "sse-error-event":
        return (
            200,
            "text/event-stream",
            _sse(_chunk("a"), {"error": {"message": "overloaded"}}),
            None,
        )
    if scenario == "nonjson-200":
        return 200, "text/plain", b"plain text, not JSON", None
    if scenario == "errtype-echo":
        body = {"error": {"type": "CANARYERRTYPE_secretword", "message": "x"}}
        return 400, "application/json", json.dumps(body).encode(), None
    if kind in ("sse", "json") and enc in ENCODERS:
        plain = SSE if kind == "sse" else JSON
        ctype = "text/event-stream" if kind == "sse" else "application/json"
        return 200, ctype, ENCODERS[enc](plain), enc
    if scenario in ("sse-plain",):
        return 200, "text/event-stream", SSE, None
    return 200, "application/json", JSON, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: dict[str, str]  # X-Attempt -> sha256 of the request body the upstream saw

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self) -> None:
        body = self._body()
        tag = self.headers.get("X-Attempt", "")
        self.seen[tag] = hashlib.sha256(body).hexdigest()[:16]
        scenario = self.headers.get("X-Scenario", "json-plain")
        if self.path.startswith("/v1/models"):
            status, ctype, payload, enc = 200, "application/json", b'{"data":[{"id":"m"}]}', None
        else:
            status, ctype, payload, enc = reply_for(scenario)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if enc:
            self.send_header("Content-Encoding", enc)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = _answer


@contextmanager
def fake_upstream() -> Iterator[tuple[str, dict[str, str]]]:
    seen: dict[str, str] = {}
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
