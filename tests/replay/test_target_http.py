"""The preflight's probe request as a strict server sees it (httpx.MockTransport records it)."""

from __future__ import annotations

import contextlib
import socket
import threading

import httpx

from agentload.providers.api import Api
from agentload.replay import target_http as th

SSE = (
    b'data: {"choices":[{"index":0,"text":"Yes"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)


def test_probe_posts_json_with_its_content_type() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # vLLM's check: a POST whose Content-Type is not application/json is refused
        if request.headers.get("content-type") != "application/json":
            return httpx.Response(400, json={"error": {"message": "Unsupported Media Type"}})
        return httpx.Response(200, content=SSE, headers={"content-type": "text/event-stream"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        reply = th.probe(
            http, "http://engine/v1/completions", Api.OPENAI_COMPLETIONS, b"{}",
            {"X-Extra": "1"}, lambda s: s, th.Deadline(300.0),
        )  # fmt: skip
    assert reply.status == 200 and reply.error is None, reply
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["x-extra"] == "1"  # the caller's headers still go along


def test_preflight_requests_never_reuse_a_connection_the_server_may_close() -> None:
    """A server that drops a kept-alive connection when the next request arrives on it (the
    race with a server's idle timeout, made certain): every preflight request still gets
    its answer, because each goes out on a new connection."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
    served: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)  # the first request on this connection
            served.append(1)  # before the answer: the client may assert as soon as it has it
            conn.sendall(answer)
            conn.recv(65536)  # a second request on it: closed unanswered

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept_loop() -> None:
            with contextlib.suppress(OSError):
                while True:
                    threading.Thread(target=serve, args=(listener.accept()[0],)).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        with th.client(5.0, {}) as http:
            for _ in range(3):
                fetched = th.get(http, f"http://127.0.0.1:{port}/v1/models", th.Deadline(30.0))
                assert fetched.status == 200, fetched
    assert len(served) == 3
